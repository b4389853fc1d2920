/**
 * The files a storage writer has open: each written as `<name>.<owner>.<n>.tmp` and renamed to
 * `<name>` when complete, so a reader never sees a partial file under its final name.
 *
 * Contract:
 * - Opening a file writes its entry (`open/<entryPrefix><n>`: the .tmp and final paths) to the
 *   journal dir, synced, before any byte goes to the file: a crashed process's files are found
 *   and finished by the next one (write-journal.ts).
 * - At most `maxOpenFiles` are open. The map's order is the order of last write, so the least
 *   recently written is completed first to make room, except files the current batch writes.
 * - Bytes go in whole or not at all (core/sinks/append-file.ts): a failed write leaves no torn line.
 * - Opening a file that fails (a full disk) leaves nothing behind: no `.tmp`, no entry.
 * - Completing a file: fdatasync, close, rename to the first free name (`name`, `name.1`, ...,
 *   never over an existing file), then remove its entry. A file still empty is removed instead.
 * - Callers serialise calls (the sink's one queue): nothing here runs twice at once.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '../../core/logger';
import { AppendFile } from '../../core/sinks/append-file';

export interface OpenFile {
  finalPath: string;
  tmpPath: string;
  /** Its bytes; `file.size` is what was written whole. */
  file: AppendFile;
  /** Its entry in the journal of unfinished files. */
  entry: string;
  lastWrite: number;
  /** Synced and closed, not yet renamed (a completion that failed midway). */
  closed: boolean;
}

/** Numbers this process's temporary files and their entries. */
let tmpCounter = 0;

export class OpenFiles {
  /** By final path, least recently written first. */
  private readonly files = new Map<string, OpenFile>();

  constructor(
    private readonly journalDir: string,
    /** Names this writer's process in entries (write-journal.ts). */
    private readonly entryPrefix: string,
    /** Names the owning process in .tmp names. */
    private readonly owner: string,
    private readonly maxOpenFiles: number,
    private readonly logger: Logger,
  ) {}

  /** The final paths of the files open now. */
  get paths(): string[] {
    return [...this.files.keys()];
  }

  /** Syncs every open file (its bytes durable, still under its .tmp name). */
  async syncAll(): Promise<void> {
    await Promise.all([...this.files.values()].filter((f) => !f.closed).map((f) => f.file.sync()));
  }

  /** The open file for `finalPath`; `inUse` are files the current batch writes, never closed to make room. */
  async fileFor(finalPath: string, inUse: ReadonlySet<string>): Promise<OpenFile> {
    const open = this.files.get(finalPath);
    if (open?.closed) {
      // Its completion failed after closing it: finish that first, then start a new file.
      await this.complete(open);
      this.files.delete(finalPath);
    } else if (open) {
      // Most recently written last: Map order is the eviction order.
      this.files.delete(finalPath);
      this.files.set(finalPath, open);
      open.lastWrite = Date.now();
      return open;
    }
    while (this.files.size >= this.maxOpenFiles) {
      const oldest = [...this.files.keys()].find((p) => !inUse.has(p));
      if (oldest === undefined) break;
      await this.complete(this.files.get(oldest)!);
      this.files.delete(oldest);
    }
    await fs.mkdir(path.dirname(finalPath), { recursive: true });
    const n = ++tmpCounter;
    const tmpPath = `${finalPath}.${this.owner}.${n}.tmp`;
    const file = await AppendFile.open(tmpPath, true);
    const entry = path.join(this.journalDir, `${this.entryPrefix}${n}`);
    try {
      await writeDurably(entry, JSON.stringify({ tmpPath, finalPath }));
    } catch (err) {
      // A full disk: the batch is retried, and this file with it.
      await file.close().catch(() => undefined);
      await fs.rm(tmpPath, { force: true });
      await fs.rm(entry, { force: true });
      throw err;
    }
    const f = { finalPath, tmpPath, file, entry, lastWrite: Date.now(), closed: false };
    this.files.set(finalPath, f);
    this.logger.debug('file opened', { file: tmpPath });
    return f;
  }

  /** Completes the files not written to for `idleMs`: the least recently written come first in the map. */
  async completeIdle(idleMs: number): Promise<void> {
    const limit = Date.now() - idleMs;
    for (const [p, f] of this.files) {
      if (f.lastWrite > limit) break;
      await this.complete(f);
      this.files.delete(p);
    }
  }

  /**
   * Completes every open file, all at once; throws the first failure after all have settled. A
   * file that failed stays open, so calling again finishes it.
   */
  async completeAll(): Promise<void> {
    const files = [...this.files.values()];
    const results = await Promise.allSettled(files.map((f) => this.complete(f)));
    let failure: unknown = null;
    for (const [i, f] of files.entries()) {
      if (results[i].status === 'fulfilled') this.files.delete(f.finalPath);
      else failure ??= (results[i] as PromiseRejectedResult).reason;
    }
    if (failure) throw failure;
  }

  /** Makes a file durable and gives it its final name; a failure before the rename can be retried. */
  private async complete(f: OpenFile): Promise<void> {
    if (!f.closed) {
      if (f.file.size > 0) await f.file.sync();
      await f.file.close();
      f.closed = true;
    }
    if (f.file.size === 0) {
      await fs.rm(f.tmpPath, { force: true });
      await fs.rm(f.entry, { force: true });
      return;
    }
    const target = await freeName(f.finalPath);
    await fs.rename(f.tmpPath, target);
    await fs.rm(f.entry, { force: true });
    this.logger.info('file completed', { file: target });
  }
}

async function writeDurably(file: string, text: string): Promise<void> {
  const h = await fs.open(file, 'w');
  try {
    await h.writeFile(text);
    await h.datasync();
  } finally {
    await h.close();
  }
}

/** `p`, or `p.1`, `p.2`, ... : the first that does not exist. */
export async function freeName(p: string): Promise<string> {
  for (let i = 0; ; i++) {
    const candidate = i === 0 ? p : `${p}.${i}`;
    try {
      await fs.access(candidate);
    } catch {
      return candidate;
    }
  }
}
