/**
 * The batch ids a storage holds, so that a batch resent after a lost ack (E2E resend, a
 * failover, a collector restart) is dropped instead of written twice, and so that a collector
 * can tell an agent which of its unacked batches storage already holds.
 *
 * The index lives in the storage it describes, in `<share dir>` (see `EscapedFileSink`):
 * every writer of that storage (each collector, told apart by its writer id) appends to its own
 * `<writerId>.stored`, lines `origin<TAB>seq`, fdatasync'd by `record` only after the writer has
 * made those batches durable. It also reads the other writers' files ({@link PeerView}), so a
 * batch that one collector stored, or had written when it was killed, is not written again by
 * another collector the agent fails over to.
 *
 * Appends and compactions run one at a time, off the event loop (`record` resolves once durable).
 * Lines go in whole (core/sinks/append-file.ts); an append the disk has no room for is tried
 * again with backoff until it succeeds, so a full disk delays the record and never tears it.
 *
 * Opening reads the own file back; a torn last line (crash mid-append) is ignored. Memory keeps
 * the most recent `keepPerOrigin` ids of each origin per writer (resends are of recent
 * batches); the own file is rewritten with just those when it grows past `compactLines`.
 *
 * Instances are shared within a process by file path (a `roll` opens a new writer every period),
 * counted by `acquire`/`release`. The first `acquire` in a process locks `<writerId>.lock` in the
 * share dir until the process exits; a second process with the same writer id fails to open its
 * writer, naming the pid.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readLinkText, writeLinkText } from '../../core/link-text';
import { DirLock } from '../../core/lock';
import { type Logger, silentLogger } from '../../core/logger';
import { retry } from '../../core/retry';
import { AppendFile } from '../../core/sinks/append-file';
import { IdSet, PeerView } from './peer-view';

export interface StoredIndexOptions {
  keepPerOrigin: number;
  compactLines: number;
  /** How stale the view of the other writers may be when a batch is checked against it. */
  peerRefreshMs: number;
}

export const STORED_INDEX_DEFAULTS: StoredIndexOptions = { keepPerOrigin: 100_000, compactLines: 1_000_000, peerRefreshMs: 20 };

const shared = new Map<string, { index: StoredIndex; refs: number }>();
/** The writer ids of storages this process has opened, locked until it exits. */
const storageLocks = new Map<string, DirLock>();

/** Where a stored id was found. */
export type StoredBy = 'self' | 'peer' | null;

export class StoredIndex {
  private readonly ids: IdSet;
  private readonly peers: PeerView;
  private lines = 0;
  /** Opened by the first record. */
  private out: AppendFile | null = null;
  private queue: Promise<void> = Promise.resolve();
  readonly file: string;

  private constructor(
    readonly dir: string,
    readonly writerId: string,
    private readonly options: StoredIndexOptions,
    private readonly logger: Logger,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, `${writerId}.stored`);
    this.ids = new IdSet(options.keepPerOrigin);
    this.load();
    this.peers = new PeerView(dir, writerId, options.keepPerOrigin);
  }

  /** The index of `writerId` in `dir`, opened on first use and shared until every user released it. */
  static acquire(
    dir: string,
    writerId: string,
    options: StoredIndexOptions = STORED_INDEX_DEFAULTS,
    logger: Logger = silentLogger(),
  ): StoredIndex {
    const key = path.join(dir, writerId);
    let entry = shared.get(key);
    if (!entry) {
      // One process per writer of a storage (core/lock.ts): two processes with one writer id (a
      // copied node data dir) would finish, rename and truncate each other's .tmp files. Held
      // until the process exits: a `roll` releases and reacquires the index every period.
      if (!storageLocks.has(key)) storageLocks.set(key, DirLock.acquire(dir, logger, 'storage state', `${writerId}.lock`));
      shared.set(key, (entry = { index: new StoredIndex(dir, writerId, options, logger), refs: 0 }));
    }
    entry.refs++;
    return entry.index;
  }

  release(): void {
    const key = path.join(this.dir, this.writerId);
    const entry = shared.get(key);
    if (!entry || --entry.refs > 0) return;
    shared.delete(key);
    void this.queue.then(() => this.out?.close());
  }

  /** Whether this writer (durably) or another writer of the storage holds the batch. */
  storedBy(origin: string, seq: number): StoredBy {
    if (this.ids.has(origin, seq)) return 'self';
    this.peers.refresh(this.options.peerRefreshMs);
    return this.peers.has(origin, seq) ? 'peer' : null;
  }

  /** The subset of `seqs` stored for `origin`, by any writer of the storage. */
  lookup(origin: string, seqs: number[]): number[] {
    this.peers.refresh(0);
    return seqs.filter((s) => this.ids.has(origin, s) || this.peers.has(origin, s));
  }

  /**
   * Records ids whose batches are durable in storage: they count as stored at once, and the
   * promise resolves once the record itself is durable.
   */
  record(ids: ReadonlyArray<{ origin: string; seq: number }>): Promise<void> {
    if (ids.length === 0) return this.queue;
    let text = '';
    for (const { origin, seq } of ids) {
      text += `${origin}\t${seq}\n`;
      this.ids.add(origin, seq);
    }
    let written = false;
    const append = async (): Promise<void> => {
      this.out ??= await AppendFile.open(this.file);
      if (!written) await this.out.append(text);
      written = true;
      await this.out.sync();
    };
    const run = this.queue.then(async () => {
      await retry(append, {
        initialMs: 50,
        maxMs: 2_000,
        onRetry: (err, attempt) => {
          if (attempt === 2) this.logger.warn('could not record stored batch ids; trying again', { file: this.file, error: String(err) });
        },
      });
      this.lines += ids.length;
      if (this.lines > this.options.compactLines) await this.compact();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private load(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    this.lines = this.ids.addLines(text);
  }

  /**
   * Rewrites the file with only the ids kept in memory (temp file, fsync, rename). On a full disk
   * the file stays as it is and a later record tries again.
   */
  private async compact(): Promise<void> {
    const tmp = `${this.file}.compacting`;
    const text = this.ids.toLines();
    try {
      const h = await fs.promises.open(tmp, 'w');
      try {
        await h.writeFile(text);
        await h.sync();
      } finally {
        await h.close();
      }
      await fs.promises.rename(tmp, this.file);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      this.logger.warn('could not compact the stored-id index; keeping it as it is', { file: this.file, error: String(err) });
      return;
    }
    await this.out?.close();
    this.out = await AppendFile.open(this.file);
    this.lines = this.ids.size;
  }
}

const writerIds = new Map<string, string>();

/**
 * The id this data dir writes storage under: random, made once and kept in `<dataDir>/writer-id`
 * (a link: core/link-text.ts), so a restarted collector knows its own files, also on a full disk,
 * and a collector on another machine never shares it.
 */
export function writerIdOf(dataDir: string): string {
  let id = writerIds.get(dataDir);
  if (id) return id;
  const file = path.join(dataDir, 'writer-id');
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    id = readLinkText(file).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!id || !/^[0-9a-f]{16}$/.test(id)) {
    id = randomBytes(8).toString('hex');
    writeLinkText(file, id);
  }
  writerIds.set(dataDir, id);
  return id;
}
