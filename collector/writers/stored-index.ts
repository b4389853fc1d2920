/**
 * A storage writer's durable index of the batch ids it has stored, so that a batch resent after
 * a lost ack (E2E resend, a failover, a collector restart) is dropped instead of written twice,
 * and so that a collector can tell an agent which of its unacked batches storage already holds.
 *
 * On disk: `<dir>/stored-<key>.log`, lines `origin<TAB>seq`, appended and fdatasync'd by `record`
 * only after the writer has made those batches durable. Opening reads it back; a torn last line
 * (crash mid-append) is ignored. Memory keeps the most recent `keepPerOrigin` ids of each origin
 * (resends are of recent batches); the file is rewritten with just those when it grows past
 * `compactLines`.
 *
 * Instances are shared within a process by file path (a `roll` opens a new writer every period),
 * counted by `acquire`/`release`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface StoredIndexOptions {
  keepPerOrigin: number;
  compactLines: number;
}

export const STORED_INDEX_DEFAULTS: StoredIndexOptions = { keepPerOrigin: 100_000, compactLines: 1_000_000 };

const shared = new Map<string, { index: StoredIndex; refs: number }>();

export class StoredIndex {
  private readonly ids = new Map<string, Set<number>>();
  private lines = 0;
  private fd: number;

  private constructor(readonly file: string, private readonly options: StoredIndexOptions) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.load();
    this.fd = fs.openSync(file, 'a');
  }

  /** The index of `file`, opened on first use and shared until every user released it. */
  static acquire(file: string, options: StoredIndexOptions = STORED_INDEX_DEFAULTS): StoredIndex {
    let entry = shared.get(file);
    if (!entry) shared.set(file, (entry = { index: new StoredIndex(file, options), refs: 0 }));
    entry.refs++;
    return entry.index;
  }

  release(): void {
    const entry = shared.get(this.file);
    if (!entry || --entry.refs > 0) return;
    shared.delete(this.file);
    fs.closeSync(this.fd);
  }

  has(origin: string, seq: number): boolean {
    return this.ids.get(origin)?.has(seq) ?? false;
  }

  /** The subset of `seqs` stored for `origin`. */
  lookup(origin: string, seqs: number[]): number[] {
    const set = this.ids.get(origin);
    return set ? seqs.filter((s) => set.has(s)) : [];
  }

  /** Records ids whose batches are durable in storage; durable itself when it returns. */
  record(ids: ReadonlyArray<{ origin: string; seq: number }>): void {
    if (ids.length === 0) return;
    let text = '';
    for (const { origin, seq } of ids) {
      text += `${origin}\t${seq}\n`;
      this.remember(origin, seq);
    }
    fs.writeSync(this.fd, text);
    fs.fdatasyncSync(this.fd);
    this.lines += ids.length;
    if (this.lines > this.options.compactLines) this.compact();
  }

  private remember(origin: string, seq: number): void {
    let set = this.ids.get(origin);
    if (!set) this.ids.set(origin, (set = new Set()));
    set.add(seq);
    if (set.size > this.options.keepPerOrigin) {
      // Sets iterate in insertion order: the oldest id goes first.
      set.delete(set.values().next().value as number);
    }
  }

  private load(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const complete = text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
    for (const line of complete.split('\n')) {
      const tab = line.lastIndexOf('\t');
      if (tab <= 0) continue;
      const seq = Number(line.slice(tab + 1));
      if (Number.isSafeInteger(seq)) this.remember(line.slice(0, tab), seq);
      this.lines++;
    }
  }

  /** Rewrites the file with only the ids kept in memory (temp file, fsync, rename). */
  private compact(): void {
    const tmp = `${this.file}.tmp`;
    let text = '';
    let lines = 0;
    for (const [origin, set] of this.ids) {
      for (const seq of set) {
        text += `${origin}\t${seq}\n`;
        lines++;
      }
    }
    fs.writeFileSync(tmp, text);
    const tfd = fs.openSync(tmp, 'r');
    fs.fsyncSync(tfd);
    fs.closeSync(tfd);
    fs.closeSync(this.fd);
    fs.renameSync(tmp, this.file);
    this.fd = fs.openSync(this.file, 'a');
    this.lines = lines;
  }
}
