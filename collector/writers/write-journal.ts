/**
 * A storage writer's journal of the batch ids it has written, and the recovery that finishes
 * what a crashed process of the same writer left.
 *
 * Layout, in the share dir's `open/` (see escaped-file.ts for the share dir):
 * - `<writerId>.<proc>.<n>`: one entry per open `.tmp` file (open-files.ts writes them);
 * - `<writerId>.<proc>.w<k>.<gen>.ids`: this journal, one line per batch,
 *   `origin<TAB>seq<TAB>entry:start:end,...`, written *before* the batch's bytes, naming the
 *   byte range each file of the batch gets.
 *
 * Contract:
 * - The journal is only appended to, in whole lines (readers follow it by offset), except that the
 *   line of a batch whose bytes could not all be written is cut back (`cutBack`) before another
 *   line follows (readers that saw it take the id as held until the batch is written again, as
 *   for a writer killed mid-write). Operations run in call order; a replacement (`rotate`) never
 *   crosses an append.
 * - `rotate` is for when everything it lists is in the stored index: the caller checks that.
 * - `finishOrphans` runs before the writer opens a file: for every entry of another process of
 *   this writer it cuts off a batch whose bytes were not all written (it comes again from the
 *   channel), syncs and renames the files, and hands the ids journaled before that cut to
 *   `record` (the stored index) before it removes the journals naming them. Other writers'
 *   entries are theirs.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '../../core/logger';
import { AppendFile } from '../../core/sinks/append-file';
import { freeName } from './open-files';

/** A write journal is replaced by a fresh one past this size, once all it lists is in the index. */
const JOURNAL_ROTATE_BYTES = 1 << 20;

let writerCounter = 0;

export interface BatchId {
  origin: string;
  seq: number;
}

export class WriteJournal {
  private file: AppendFile | null = null;
  private readonly writerNo = ++writerCounter;
  private gen = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    /** `<writerId>.<proc>.`: this process's entries. */
    private readonly entryPrefix: string,
    private readonly writerId: string,
    private readonly logger: Logger,
  ) {}

  /** Starts a fresh journal file. */
  async open(): Promise<void> {
    this.file = await AppendFile.open(path.join(this.dir, `${this.entryPrefix}w${this.writerNo}.${++this.gen}.ids`));
  }

  /**
   * Appends one line (after the operations before it); resolves once it is written, with the
   * offset it starts at (for `cutBack`). A line that fails is not in the journal.
   */
  async append(line: string): Promise<number> {
    let at = 0;
    await this.run(async (f) => {
      at = f.size;
      await f.append(`${line}\n`);
    });
    return at;
  }

  /** Takes back the lines from `offset` on: their batches were not written after all. */
  cutBack(offset: number): Promise<void> {
    return this.run((f) => f.cutBack(offset));
  }

  /** The journal has grown past its size: replace it once all it lists is recorded. */
  get wantsRotate(): boolean {
    return (this.file?.size ?? 0) > JOURNAL_ROTATE_BYTES;
  }

  /** Replaces the journal by a fresh file and removes the old one. */
  rotate(): Promise<void> {
    return this.run(async (old) => {
      await this.open();
      await old.close();
      await fs.rm(old.path, { force: true });
    });
  }

  /** Waits for the operations queued, closes and removes the journal (what it listed is recorded). */
  async close(): Promise<void> {
    await this.queue;
    const f = this.file;
    this.file = null;
    if (!f) return;
    await f.close();
    await fs.rm(f.path, { force: true });
  }

  /** Runs an operation on the journal after the ones before it (appends and a replacement must not cross). */
  private run(op: (f: AppendFile) => Promise<unknown>): Promise<void> {
    const run = this.queue.then(() => (this.file ? op(this.file) : undefined)).then(() => undefined);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Finishes what an earlier (crashed) process of this writer left: cuts off a batch whose bytes
   * were not all written, fsyncs and renames its files, and records the ids it had written as
   * stored: their bytes are in those files, durable now. Other writers' entries are theirs.
   */
  async finishOrphans(record: (ids: BatchId[]) => Promise<void>): Promise<void> {
    const names = (await fs.readdir(this.dir)).filter((n) => n.startsWith(`${this.writerId}.`) && !n.startsWith(this.entryPrefix));
    const files = new Map<string, { tmpPath: string; finalPath: string }>();
    for (const name of names) {
      if (name.endsWith('.ids')) continue;
      try {
        files.set(name, JSON.parse(await fs.readFile(path.join(this.dir, name), 'utf8')) as { tmpPath: string; finalPath: string });
      } catch {
        // Torn while being written: its file was opened but never written to.
      }
    }
    const stored: BatchId[] = [];
    for (const name of names.filter((n) => n.endsWith('.ids'))) {
      const text = await fs.readFile(path.join(this.dir, name), 'utf8');
      // A torn last line (killed mid-write) is left out: its batch's bytes were never written.
      for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
        const [origin, seqText, where = ''] = line.split('\t');
        const seq = Number(seqText);
        if (!origin || !Number.isSafeInteger(seq)) continue;
        if (!(await this.bytesComplete(where, files))) break; // the batch being written when it died; nothing follows
        stored.push({ origin, seq });
      }
    }
    for (const name of names) {
      const paths = files.get(name);
      if (paths) {
        try {
          const h = await fs.open(paths.tmpPath, 'r+');
          const empty = (await h.stat()).size === 0;
          if (!empty) await h.datasync();
          await h.close();
          if (empty) {
            // Opened ahead of any batch, or killed before the first one: nothing to keep.
            await fs.rm(paths.tmpPath, { force: true });
          } else {
            const target = await freeName(paths.finalPath);
            await fs.rename(paths.tmpPath, target);
            this.logger.warn('finished a file a previous process left unfinished', { file: target });
          }
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      if (!name.endsWith('.ids')) await fs.rm(path.join(this.dir, name), { force: true });
    }
    await record(stored);
    for (const name of names.filter((n) => n.endsWith('.ids'))) await fs.rm(path.join(this.dir, name), { force: true });
  }

  /**
   * Whether every part (`entry:start:end`, comma-separated) of a journaled batch reached its
   * file; if not, the parts written are cut off so the batch can be written again whole.
   */
  private async bytesComplete(where: string, files: ReadonlyMap<string, { tmpPath: string }>): Promise<boolean> {
    // No entry or no .tmp: the file was completed (renamed) after this batch was written.
    const parts = (where ? where.split(',') : []).map((part) => {
      const [entry, start, end] = part.split(':');
      return { tmpPath: files.get(entry)?.tmpPath, start: Number(start), end: Number(end) };
    });
    const sizeOf = (p: string | undefined): Promise<number> =>
      p
        ? fs.stat(p).then(
            (st) => st.size,
            () => Infinity,
          )
        : Promise.resolve(Infinity);
    const sizes = await Promise.all(parts.map((part) => sizeOf(part.tmpPath)));
    if (parts.every((part, i) => sizes[i] >= part.end)) return true;
    for (let i = 0; i < parts.length; i++) {
      if (parts[i].tmpPath && Number.isFinite(sizes[i]) && sizes[i] > parts[i].start) await fs.truncate(parts[i].tmpPath!, parts[i].start);
    }
    this.logger.warn('cut off a batch a previous process was killed while writing; it is written again from the channel', { parts: where });
    return false;
  }
}
