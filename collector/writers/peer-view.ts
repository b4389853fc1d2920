/**
 * What the other writers of a storage hold: the ids in their `<writerId>.stored` indexes
 * (durable) and in their journals of written batches, `open/<writerId>.*.ids` (written to the
 * storage files; durable once that writer syncs, or once the next process of that writer
 * finishes its files after a crash).
 *
 * The files are followed incrementally: each refresh reads only what was appended since the
 * last one (writers only append; an emptied file could regrow past the offset unnoticed), and
 * starts a file over when it was replaced (index compaction). Ids of a journal that disappears
 * are kept: its writer recorded them in its index first, which is read in the same refresh.
 *
 * A journal line is written before the batch's bytes, so a writer killed mid-write leaves one
 * id here whose bytes are not all in storage. Its own next process cuts those bytes and writes
 * the batch again from its channel; until it does, the others take the id as held (see the
 * DESIGN note in e2e-acks.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Per-origin sets of batch seqs, each bounded to its most recent `keepPerOrigin` ids. */
export class IdSet {
  private readonly byOrigin = new Map<string, Set<number>>();
  size = 0;

  constructor(private readonly keepPerOrigin: number) {}

  has(origin: string, seq: number): boolean {
    return this.byOrigin.get(origin)?.has(seq) ?? false;
  }

  add(origin: string, seq: number): void {
    let set = this.byOrigin.get(origin);
    if (!set) this.byOrigin.set(origin, (set = new Set()));
    if (set.has(seq)) return;
    set.add(seq);
    this.size++;
    if (set.size > this.keepPerOrigin) {
      // Sets iterate in insertion order: the oldest id goes first.
      set.delete(set.values().next().value as number);
      this.size--;
    }
  }

  /**
   * Adds the ids of complete lines `origin<TAB>seq[<TAB>...]` of `text`; returns the number of
   * complete lines read. A last line without its newline is left out.
   */
  addLines(text: string): number {
    let lines = 0;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; start = nl + 1, nl = text.indexOf('\n', start)) {
      lines++;
      const tab = text.indexOf('\t', start);
      if (tab <= start || tab > nl) continue;
      let end = text.indexOf('\t', tab + 1);
      if (end < 0 || end > nl) end = nl;
      const seq = Number(text.slice(tab + 1, end));
      if (Number.isSafeInteger(seq)) this.add(text.slice(start, tab), seq);
    }
    return lines;
  }

  toLines(): string {
    let text = '';
    for (const [origin, set] of this.byOrigin) for (const seq of set) text += `${origin}\t${seq}\n`;
    return text;
  }
}

interface Followed {
  ino: number;
  offset: number;
  /** An incomplete last line, kept until its newline arrives. */
  rest: string;
}

export class PeerView {
  /** Ids per writer id. */
  private readonly writers = new Map<string, IdSet>();
  private readonly files = new Map<string, Followed>();
  private lastRefresh = 0;

  constructor(
    private readonly dir: string,
    private readonly ownWriterId: string,
    private readonly keepPerOrigin: number,
  ) {}

  has(origin: string, seq: number): boolean {
    for (const ids of this.writers.values()) if (ids.has(origin, seq)) return true;
    return false;
  }

  /** Reads what the other writers appended, unless the view is younger than `maxAgeMs`. */
  refresh(maxAgeMs: number): void {
    const now = Date.now();
    if (maxAgeMs > 0 && now - this.lastRefresh < maxAgeMs) return;
    this.lastRefresh = now;
    const seen = new Set<string>();
    // Journals before indexes: a journal replaced meanwhile had its ids recorded in the index first.
    for (const name of list(path.join(this.dir, 'open'))) {
      if (name.endsWith('.ids') && !name.startsWith(`${this.ownWriterId}.`)) seen.add(this.follow(path.join(this.dir, 'open', name), name));
    }
    for (const name of list(this.dir)) {
      if (name.endsWith('.stored') && !name.startsWith(`${this.ownWriterId}.`)) seen.add(this.follow(path.join(this.dir, name), name));
    }
    for (const file of this.files.keys()) if (!seen.has(file)) this.files.delete(file);
  }

  private follow(file: string, name: string): string {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return file; // gone between the listing and now: its ids are in its writer's index
    }
    try {
      const st = fs.fstatSync(fd);
      let f = this.files.get(file);
      if (!f || f.ino !== st.ino || st.size < f.offset) this.files.set(file, (f = { ino: st.ino, offset: 0, rest: '' }));
      if (st.size === f.offset) return file;
      const buf = Buffer.allocUnsafe(st.size - f.offset);
      const n = fs.readSync(fd, buf, 0, buf.length, f.offset);
      f.offset += n;
      const text = f.rest + buf.toString('utf8', 0, n);
      const cut = text.lastIndexOf('\n') + 1;
      f.rest = text.slice(cut);
      const writer = name.slice(0, name.indexOf('.'));
      let ids = this.writers.get(writer);
      if (!ids) this.writers.set(writer, (ids = new IdSet(this.keepPerOrigin)));
      ids.addLines(text.slice(0, cut));
    } finally {
      fs.closeSync(fd);
    }
    return file;
  }
}

function list(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
