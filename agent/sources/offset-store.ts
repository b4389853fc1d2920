/**
 * Where a file-reading source keeps its position across restarts: one small file per followed
 * path under the logical node's data dir, holding two fixed-size slots of padded JSON. Saves
 * overwrite the slots in place, alternately, each with a higher `gen`; loading takes the slot
 * that parses with the highest `gen`, so a save torn by a power cut leaves the one before it.
 * One write into an open file, where a replacement (create, write, close, rename) made ext4
 * journal a new inode per batch: 7-9 ms a save under load, the tail's slowest step per batch.
 *
 * A position is saved only after the batch holding the lines before it has been put, so a
 * restart resumes exactly after the last line the channel accepted. Before each put the batch's
 * byte range and id are saved as `pending`; a crash between the put and the next save repeats
 * that one batch under the same id, which the storage writer drops as a duplicate.
 * Saves are coalesced: while one write is in progress only the newest position waits.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Which file, whatever its name: rotation changes it, truncation does not. The creation time
 * tells a new file from a deleted one whose inode it reused (ext4 reuses inodes at once); it is
 * 0 where the file system keeps none, and then only device + inode count.
 */
export interface FileIdentity {
  dev: number;
  ino: number;
  birth: number;
}

/** A position in a file, and the identity of that file. */
export interface FilePosition extends FileIdentity {
  path: string;
  offset: number;
  /**
   * The batch being put when this was saved: the lines from `offset` to `end`, under batch
   * sequence number `seq`. A restart puts exactly those bytes again under the same id, so the
   * storage writer drops them if the first put had reached it: no loss and no duplicate.
   */
  pending?: { end: number; seq: number };
}

export function identityOf(st: fs.Stats): FileIdentity {
  return { dev: st.dev, ino: st.ino, birth: st.birthtimeMs > 0 ? st.birthtimeMs : 0 };
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && (a.birth === 0 || b.birth === 0 || a.birth === b.birth);
}

export function identityKey(id: FileIdentity): string {
  return `${id.dev}:${id.ino}:${id.birth}`;
}

/** Slot size of a new file; a position that does not fit doubles it (file rewritten and renamed). */
const MIN_SLOT_BYTES = 1024;

type Slot = FilePosition & { gen: number };

export class OffsetStore {
  readonly file: string;
  private latest: FilePosition | null = null;
  private writing: Promise<void> | null = null;
  private handle: fs.promises.FileHandle | null = null;
  private slotBytes = 0;
  /** `gen` of the newest slot on disk; the next save goes to slot `(gen + 1) % 2`. */
  private gen = 0;
  /** Closed: a save that still comes is written, and the file closed again after it. */
  private closed = false;

  /** `onError`: a save failed (disk full, permissions); the next save tries again. */
  constructor(
    dataDir: string,
    followedPath: string,
    private readonly onError: (err: unknown) => void,
    kind = 'tail',
  ) {
    const abs = path.resolve(followedPath);
    const hash = createHash('sha1').update(abs).digest('hex').slice(0, 12);
    const safe = path
      .basename(abs)
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .slice(0, 60);
    this.file = path.join(dataDir, `${kind}-offsets`, `${safe}-${hash}.json`);
  }

  /** The saved position, or null when there is none (or it is unreadable: reported by the caller). */
  load(): FilePosition | null {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    // One JSON document: a file written before slots (replaced whole).
    const whole = parseSlot(bytes.toString('utf8'));
    const half = bytes.length >> 1;
    const slots = whole
      ? [whole]
      : [parseSlot(bytes.toString('utf8', 0, half)), parseSlot(bytes.toString('utf8', half))].filter((v) => v !== null);
    if (slots.length === 0) throw new Error(`offset file ${this.file} holds no position: ${bytes.toString('utf8', 0, 200)}`);
    const best = slots.reduce((a, b) => (b.gen > a.gen ? b : a));
    this.gen = best.gen;
    const { gen: _gen, ...pos } = best;
    return pos;
  }

  /** Queues a save; positions must be given in the order they were reached. */
  save(pos: FilePosition): void {
    this.latest = { ...pos };
    if (this.writing === null) this.writing = this.writeLoop();
  }

  /** Resolves once every queued save is on disk (in the page cache; see the module comment). */
  async flush(): Promise<void> {
    while (this.writing !== null) await this.writing;
  }

  /** Closes the file once the saves queued are written. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    await this.closeHandle();
  }

  private async writeLoop(): Promise<void> {
    try {
      while (this.latest !== null) {
        const pos = this.latest;
        this.latest = null;
        const gen = this.gen + 1;
        const json = JSON.stringify({ ...pos, gen });
        if (this.handle === null || Buffer.byteLength(json) >= this.slotBytes) {
          await this.replace(json, gen);
        } else {
          await this.handle.write(slotOf(json, this.slotBytes), 0, this.slotBytes, (gen % 2) * this.slotBytes);
        }
        this.gen = gen;
      }
      if (this.closed) await this.closeHandle();
    } catch (err) {
      // The open file may be the reason (deleted dir, full disk): the next save starts afresh.
      await this.closeHandle().catch(() => undefined);
      this.onError(err);
    } finally {
      this.writing = null;
    }
  }

  private async closeHandle(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    await h?.close();
  }

  /** Writes a new file, both slots holding `json`, sized for it; renames it over the old one. */
  private async replace(json: string, gen: number): Promise<void> {
    await this.closeHandle();
    await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
    let size = MIN_SLOT_BYTES;
    while (size <= Buffer.byteLength(json)) size *= 2;
    const slot = slotOf(json, size);
    const tmp = `${this.file}.tmp`;
    await fs.promises.writeFile(tmp, Buffer.concat([slot, slot]));
    await fs.promises.rename(tmp, this.file);
    this.handle = await fs.promises.open(this.file, 'r+');
    this.slotBytes = size;
    this.gen = gen;
  }
}

/** `json` padded with spaces to `size` bytes, the last a newline (the file stays readable text). */
function slotOf(json: string, size: number): Buffer {
  const slot = Buffer.alloc(size, 0x20);
  slot.write(json, 0, 'utf8');
  slot[size - 1] = 0x0a;
  return slot;
}

function parseSlot(text: string): Slot | null {
  let v: Partial<Slot>;
  try {
    v = JSON.parse(text) as Partial<Slot>;
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  if (typeof v.path !== 'string' || typeof v.dev !== 'number' || typeof v.ino !== 'number' || typeof v.offset !== 'number') return null;
  const pending =
    v.pending && typeof v.pending.end === 'number' && typeof v.pending.seq === 'number'
      ? { end: v.pending.end, seq: v.pending.seq }
      : undefined;
  return {
    path: v.path,
    dev: v.dev,
    ino: v.ino,
    birth: typeof v.birth === 'number' ? v.birth : 0,
    offset: v.offset,
    ...(pending ? { pending } : {}),
    gen: typeof v.gen === 'number' ? v.gen : 0,
  };
}
