/**
 * Where a file-reading source keeps its position across restarts: one small JSON file per
 * followed path under the logical node's data dir, replaced atomically (write + rename).
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

export class OffsetStore {
  readonly file: string;
  private latest: FilePosition | null = null;
  private writing: Promise<void> | null = null;
  private dirMade = false;

  /** `onError`: a save failed (disk full, permissions); the next save tries again. */
  constructor(dataDir: string, followedPath: string, private readonly onError: (err: unknown) => void, kind = 'tail') {
    const abs = path.resolve(followedPath);
    const hash = createHash('sha1').update(abs).digest('hex').slice(0, 12);
    const safe = path.basename(abs).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60);
    this.file = path.join(dataDir, `${kind}-offsets`, `${safe}-${hash}.json`);
  }

  /** The saved position, or null when there is none (or it is unreadable: reported by the caller). */
  load(): FilePosition | null {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const v = JSON.parse(text) as Partial<FilePosition>;
    if (typeof v.path !== 'string' || typeof v.dev !== 'number' || typeof v.ino !== 'number' || typeof v.offset !== 'number') {
      throw new Error(`offset file ${this.file} is not a position: ${text.slice(0, 200)}`);
    }
    const pending = v.pending && typeof v.pending.end === 'number' && typeof v.pending.seq === 'number' ? { end: v.pending.end, seq: v.pending.seq } : undefined;
    return { path: v.path, dev: v.dev, ino: v.ino, birth: typeof v.birth === 'number' ? v.birth : 0, offset: v.offset, ...(pending ? { pending } : {}) };
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

  private async writeLoop(): Promise<void> {
    try {
      if (!this.dirMade) {
        await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
        this.dirMade = true;
      }
      while (this.latest !== null) {
        const pos = this.latest;
        this.latest = null;
        const tmp = `${this.file}.tmp`;
        await fs.promises.writeFile(tmp, JSON.stringify(pos));
        await fs.promises.rename(tmp, this.file);
      }
    } catch (err) {
      this.onError(err);
    } finally {
      this.writing = null;
    }
  }
}
