/**
 * The local file writer with path escapes: `escapedFile(dir, file[, format[, idleMs[, maxOpenFiles]]])`,
 * also under Flume OG's names `escapedCustomDfs(dir, file[, format])` and `customdfs(path[, format])`
 * (a `file://` URL or a plain path; other schemes are refused).
 *
 * Each event goes to the file its templates name (`/logs/%Y-%m-%d/`, `web-%{host}-%{rolltag}`).
 * A file is written as `<name>.<unique>.tmp` and renamed to `<name>` when complete: when the sink
 * closes (a `roll` closes it every period), when it has not been written to for `idleMs`, or when
 * the writer has to close files to stay under `maxOpenFiles`. A name taken already gets `.1`, `.2`, ... rather than overwriting. So a reader
 * never sees a partial file under its final name. Templates that read no event name one file,
 * which is made when the writer opens; a file still empty when it would complete is removed.
 *
 * Bookkeeping lives in the storage itself, in the share dir `<root>/.flume/stored-<key>/`
 * (`<root>`: the dir template up to its first escape; `<key>`: a hash of the two templates), so
 * that every collector writing the same storage sees it. Each writer (a node data dir, see
 * {@link writerIdOf}) keeps there:
 * - `<writerId>.stored`: the {@link StoredIndex} of batch ids made durable;
 * - `open/<writerId>.<proc>.<n>`: one entry per open `.tmp` file;
 * - `open/<writerId>.<proc>.w<n>.ids`: the journal of batches written since the last sync, one
 *   line `origin<TAB>seq<TAB>entry:start:end,...` written *before* the batch's bytes.
 * The next process of the same writer finishes what a crashed one left: a batch whose bytes are
 * not all there is cut off (and comes again from the channel), the files are fsync'd and
 * renamed, and the journaled ids are recorded as stored.
 *
 * This file is the sink: templates to paths (bucketing a batch's events by file), duplicates,
 * syncs and the stored ids, and its spec definitions. The open files' lifecycle is in
 * open-files.ts, the journal and crash recovery in write-journal.ts, the index in stored-index.ts.
 *
 * An append resolves once every event of the batch is written to its file (page cache); close and
 * flush make the files durable (fdatasync) before renaming. Within `syncMs` of being written, a
 * batch is made durable (syncs run back to back while batches wait) and its id goes to the
 * logical node's ledger (`ctx.ledger.stored`, the end-to-end ack point) and then to the index.
 * A batch whose id this writer or another writer of the storage holds is dropped and counted as
 * `batches_duplicate`.
 *
 * A full disk (issue 16): a batch is written whole or not at all. A write that fails or comes up
 * short is cut back to where the batch began in every file it reached, its journal line is taken
 * back, its id is no longer pending, and the append fails with the system's error (ENOSPC is
 * retriable: the node's driver puts the batch back in the channel and retries it with backoff;
 * it is never quarantined). A sync that fails leaves its batches pending, unacked, and is tried
 * again after a backoff; closing (a roll) waits, retrying, until its files are durable and
 * renamed and their ids recorded, so nothing written is left behind and no restart is needed.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Batch } from '../../core/channel';
import type { ComponentContext, Sink } from '../../core/component';
import { EventCursor } from '../../core/event';
import { joinedTemplate } from '../../core/host-access';
import { BYTES_SENT, EVENTS_ACCEPTED, EVENTS_REJECTED, SINK_BATCHES_ACKED } from '../../core/metrics';
import type { ArgValue, SinkDef } from '../../core/registry';
import { Backoff, retry } from '../../core/retry';
import { CursorEscapeSource } from '../../core/spec/escape-sources';
import { compileTemplate, type EscapeSource, type Template } from '../../core/spec/escapes';
import { FORMAT_NAMES, getFormat, type OutputFormat, OutputBuffer } from '../../core/sinks/output-formats';
import { type OpenFile, OpenFiles } from './open-files';
import { STORED_INDEX_DEFAULTS, StoredIndex, writerIdOf } from './stored-index';
import { type BatchId, WriteJournal } from './write-journal';

/** One file's share of the batch being written, and where it starts in that file. */
interface Part {
  f: OpenFile;
  view: Buffer;
  start: number;
}

/** Batches dropped because their id was stored already (a resend). */
const BATCHES_DUPLICATE = 'batches_duplicate';

export interface EscapedFileOptions {
  /** Files kept open at once; the least recently written is completed beyond this. */
  maxOpenFiles: number;
  /**
   * A file not written to for this long is completed (an hourly bucket is finished soon after
   * its hour); 0: files stay open until the sink closes or rolls.
   */
  idleMs: number;
  /**
   * How often to look for written batches to make durable (fdatasync) and report stored, so
   * end-to-end acks do not wait for a roll; 0: only at flush, roll and close.
   */
  syncMs: number;
}

export const ESCAPED_FILE_DEFAULTS: EscapedFileOptions = { maxOpenFiles: 128, idleMs: 0, syncMs: 5 };

/** What templates that read no event are formatted with. */
const NO_EVENT: EscapeSource = { timestamp: 0, nanos: 0, priority: 0, host: () => '', body: () => '', attribute: () => undefined };

/** Names this process's temporary files and journal entries (pids get reused, this does not). */
const PROCESS_TOKEN = randomBytes(6).toString('hex');

/** Turns `file:///x/y` or `/x/y` into a local path; throws for another scheme. */
export function localPath(url: string): string {
  if (url.startsWith('file://')) return url.slice('file://'.length);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url);
  if (scheme) throw new Error(`scheme ${scheme[1]}:// is not supported (only file:// and plain paths)`);
  return url;
}

/** The directory above the first escape of a dir template, absolute; null if the template starts with one. */
function storageRoot(dirTemplate: string): string | null {
  const local = localPath(dirTemplate);
  const escape = local.indexOf('%');
  const fixed = escape < 0 ? local : local.slice(0, local.lastIndexOf('/', escape) + 1);
  return fixed ? path.resolve(fixed) : null;
}

export class EscapedFileSink implements Sink {
  /**
   * Batches the driver may hand over before the first is written. Appends still run one at a
   * time in call order (the queue below), so order holds; the window lets the channel's take
   * commits (a checkpoint each) overlap the writing instead of alternating with it.
   */
  readonly window = 16;
  private readonly dir: Template;
  /** The path of every event when both templates give the same one (they read only the tags). */
  private readonly onlyPath: string | null;
  private readonly file: Template;
  private readonly files: OpenFiles;
  private readonly cursor = new EventCursor();
  private readonly source = new CursorEscapeSource();
  /** Formatted output per file path, for the batch being written; buffers are reused. */
  private readonly buckets = new Map<string, OutputBuffer>();
  private readonly spare: OutputBuffer[] = [];
  private queue: Promise<void> = Promise.resolve();
  private readonly shareDir: string;
  private readonly journalDir: string;
  private readonly writerId: string;
  /**
   * This writer's journal of the batch ids it has written. If the process dies, the writer that
   * finishes its files records these ids as stored, so the batches replayed from a durable
   * channel are dropped instead of written twice; other collectors read it too.
   */
  private readonly journal: WriteJournal;
  private idleTimer: NodeJS.Timeout | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private syncing = false;
  private readonly syncBackoff = new Backoff(DURABILITY_BACKOFF);
  private syncRetryAt = 0;
  private index: StoredIndex | null = null;
  private removeIndex: (() => void) | null = null;
  /** Written, not yet durable: recorded as stored at the next flush or close. */
  private pending: BatchId[] = [];
  /** Journaled, whether or not written yet. */
  private readonly pendingIds = new Set<string>();
  /** A batch is journaled and being written: the journal must not be emptied. */
  private writing = false;

  constructor(
    dirTemplate: string,
    fileTemplate: string,
    private readonly format: OutputFormat,
    private readonly ctx: ComponentContext,
    private readonly options: EscapedFileOptions = ESCAPED_FILE_DEFAULTS,
    /** Who owns the files this writer opens; tests play a crashed process with another one. */
    owner: string = PROCESS_TOKEN,
  ) {
    // Event values in a path are made safe (core/spec/path-value.ts): no event names a file outside the root.
    this.dir = compileTemplate(localPath(dirTemplate), { path: true });
    this.file = compileTemplate(fileTemplate, { path: true });
    const eventFree = this.dir.eventFree(ctx.tags) && this.file.eventFree(ctx.tags);
    this.onlyPath = eventFree ? path.join(this.dir.format(NO_EVENT, ctx.tags), this.file.format(NO_EVENT, ctx.tags)) : null;
    const key = createHash('sha1').update(`${dirTemplate}\0${fileTemplate}`).digest('hex').slice(0, 12);
    const root = storageRoot(dirTemplate);
    this.shareDir = root ? path.join(root, '.flume', `stored-${key}`) : path.join(ctx.dataDir, 'stored', key);
    this.journalDir = path.join(this.shareDir, 'open');
    this.writerId = writerIdOf(ctx.dataDir);
    const entryPrefix = `${this.writerId}.${owner}.`;
    this.files = new OpenFiles(this.journalDir, entryPrefix, owner, options.maxOpenFiles, ctx.logger);
    this.journal = new WriteJournal(this.journalDir, entryPrefix, this.writerId, ctx.logger);
  }

  async open(): Promise<void> {
    if (this.index) return;
    await fs.mkdir(this.journalDir, { recursive: true });
    const index = StoredIndex.acquire(this.shareDir, this.writerId, STORED_INDEX_DEFAULTS, this.ctx.logger);
    this.index = index;
    await this.journal.finishOrphans((ids) => index.record(ids));
    await this.journal.open();
    if (this.options.idleMs > 0) {
      this.idleTimer = setInterval(
        () => {
          const run = this.queue.then(() => this.files.completeIdle(this.options.idleMs));
          this.queue = run.catch((err) => {
            this.ctx.logger.error('completing idle files failed', { error: String(err) });
          });
        },
        Math.max(100, Math.min(this.options.idleMs, 1000)),
      );
      this.idleTimer.unref();
    }
    if (this.options.syncMs > 0) {
      this.syncTimer = setInterval(() => void this.syncWhilePending(), this.options.syncMs);
      this.syncTimer.unref();
    }
    this.removeIndex = this.ctx.ledger?.addIndex(async (origin, seqs) => index.lookup(origin, seqs)) ?? null;
    // The one file of templates that read no event is made now, not on the first batch: creating
    // it (a .tmp file and a synced journal entry) takes tens of ms on a busy disk, which the first
    // batch of every roll waited for. Left empty, it is removed instead of completed.
    if (this.onlyPath !== null) await this.files.fileFor(this.onlyPath, new Set());
  }

  /** Appends run one at a time: two batches never interleave within a file. */
  append(batch: Batch): Promise<void> {
    const run = this.queue.then(() => this.write(batch));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(batch: Batch): Promise<void> {
    if (!this.index) await this.open();
    const id = `${batch.origin}\t${batch.seq}`;
    if (batch.seq > 0) {
      const by = this.pendingIds.has(id) ? 'pending' : this.index!.storedBy(batch.origin, batch.seq);
      if (by) {
        this.ctx.counters.add(BATCHES_DUPLICATE);
        this.ctx.counters.add(EVENTS_REJECTED, batch.count);
        this.ctx.logger.debug('batch already stored; dropped', { origin: batch.origin, seq: batch.seq, by });
        // Held in storage already: its end-to-end ack is due now (a pending one gets it at the next sync).
        if (by !== 'pending') this.ctx.ledger?.stored(batch.origin, batch.seq);
        return;
      }
    }
    const c = this.cursor.reset(batch.bytes);
    if (this.onlyPath !== null) {
      // Neither template reads the event (`dir/prefix%{rolltag}`): the whole batch goes to one file.
      if (c.next()) {
        const out = this.bucket(this.onlyPath);
        if (this.format.writeBatch) this.format.writeBatch(batch.bytes, out);
        else {
          do this.format.write(c, out);
          while (c.next());
        }
      }
    } else {
      // Templates return the very same string while their output does not change (a date-only
      // template caches per second): compare identities, join a path only when one changed.
      const src = this.source.of(c);
      const tags = this.ctx.tags;
      let lastDir: string | undefined;
      let lastFile: string | undefined;
      let out: OutputBuffer | undefined;
      while (c.next()) {
        const d = this.dir.format(src, tags);
        const f = this.file.format(src, tags);
        if (d !== lastDir || f !== lastFile || !out) {
          lastDir = d;
          lastFile = f;
          out = this.bucket(path.join(d, f));
        }
        this.format.write(c, out);
      }
    }
    let bytes = 0;
    const parts: Part[] = [];
    let journalAt = -1;
    try {
      const inUse = new Set(this.buckets.keys());
      for (const [p, buf] of this.buckets) {
        const f = await this.files.fileFor(p, inUse);
        parts.push({ f, view: buf.view(), start: f.file.size });
      }
      if (batch.seq > 0) {
        // Journaled before its bytes, with where they go: a crash mid-write is cut off on recovery.
        let line = `${id}\t`;
        for (let i = 0; i < parts.length; i++) {
          const { f, view, start } = parts[i];
          line += `${i > 0 ? ',' : ''}${path.basename(f.entry)}:${start}:${start + view.length}`;
        }
        this.writing = true;
        this.pendingIds.add(id);
        journalAt = await this.journal.append(line);
      }
      for (const { f, view } of parts) {
        await f.file.append(view);
        bytes += view.length;
      }
      if (batch.seq > 0) this.pending.push({ origin: batch.origin, seq: batch.seq });
    } catch (err) {
      // Not written whole (a full disk): none of it stays, and the driver retries the batch.
      await this.takeBack(parts, journalAt);
      this.pendingIds.delete(id);
      throw err;
    } finally {
      this.writing = false;
      for (const buf of this.buckets.values()) this.spare.push(buf);
      this.buckets.clear();
    }
    this.ctx.counters.add(EVENTS_ACCEPTED, batch.count);
    this.ctx.counters.add(BYTES_SENT, bytes);
    this.ctx.counters.add(SINK_BATCHES_ACKED);
  }

  /**
   * Cuts a batch that failed out of its files and the journal. A cut that fails too leaves the
   * file marked torn, and its next write cuts first (core/sinks/append-file.ts).
   */
  private async takeBack(parts: Part[], journalAt: number): Promise<void> {
    for (const { f, start } of parts) {
      if (f.file.size > start) await f.file.cutBack(start).catch(() => undefined);
    }
    if (journalAt >= 0) await this.journal.cutBack(journalAt).catch(() => undefined);
  }

  /** Syncs until nothing written waits for it: a batch written during a sync waits for that one only. */
  private async syncWhilePending(): Promise<void> {
    if (this.syncing || Date.now() < this.syncRetryAt) return;
    this.syncing = true;
    try {
      while (this.pending.length > 0) await this.flush();
      this.syncBackoff.reset();
    } catch (err) {
      // The batches stay pending (unacked); the timer tries again after a backoff.
      if (this.syncBackoff.failures === 0) this.ctx.logger.error('syncing written files failed', { error: String(err) });
      this.syncRetryAt = Date.now() + this.syncBackoff.next();
    } finally {
      this.syncing = false;
    }
  }

  /** The batches of `done` are durable now: record their ids and tell the ledger. */
  private async markStored(done: BatchId[]): Promise<void> {
    if (done.length === 0) return;
    // The ids count as stored from here on (a resend is dropped), and their end-to-end acks go
    // now: the bytes are durable, and until the index line is too, the journal still names them
    // (a restart records what it finds complete).
    const indexed = this.index?.record(done);
    for (const { origin, seq } of done) this.pendingIds.delete(`${origin}\t${seq}`);
    for (const { origin, seq } of done) this.ctx.ledger?.stored(origin, seq);
    await indexed;
    // Ids written since the snapshot stay journaled until a later flush covers them.
    if (this.pending.length === 0 && !this.writing && this.journal.wantsRotate) await this.journal.rotate();
  }

  /** The output buffer of the batch being written for file `p` (buffers are reused). */
  private bucket(p: string): OutputBuffer {
    let out = this.buckets.get(p);
    if (!out) {
      out = this.spare.pop() ?? new OutputBuffer(64 * 1024);
      out.reset();
      this.buckets.set(p, out);
    }
    return out;
  }

  private retrying(what: string, err: unknown, attempt: number): void {
    if (attempt === 2) this.ctx.logger.warn(`${what} failed; trying again`, { error: String(err) });
  }

  /** The paths of the files open now (their `.tmp` names are internal). */
  get openFiles(): string[] {
    return this.files.paths;
  }

  async flush(): Promise<void> {
    await this.queue;
    // Only what was written before the sync started is durable after it.
    const done = this.pending.splice(0);
    try {
      await this.files.syncAll();
    } catch (err) {
      // Not durable yet: the next flush tries them again.
      this.pending.unshift(...done);
      throw err;
    }
    await this.markStored(done);
  }

  async close(): Promise<void> {
    if (this.idleTimer) clearInterval(this.idleTimer);
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.idleTimer = null;
    this.syncTimer = null;
    await this.queue;
    // What was written is made durable and renamed whatever it takes: a DFO batch written here
    // is off the channel already. A full disk holds the close (and the next roll) until space returns.
    await retry(() => this.files.completeAll(), { ...DURABILITY_BACKOFF, onRetry: (err, n) => this.retrying('completing files', err, n) });
    await this.markStored(this.pending.splice(0));
    await this.journal.close();
    this.removeIndex?.();
    this.removeIndex = null;
    this.index?.release();
    this.index = null;
  }
}

/** Tries again to make written files durable (a full disk) with these delays. */
const DURABILITY_BACKOFF = { initialMs: 50, maxMs: 2_000 };

function checkTemplateArg(v: ArgValue): string | null {
  try {
    compileTemplate(localPath(String(v)));
    return null;
  } catch (err) {
    return `is not a valid path template: ${(err as Error).message}`;
  }
}

const formatArg = { name: 'format', type: 'identifier' as const, default: 'raw', oneOf: FORMAT_NAMES, doc: 'output format' };

export const escapedFileDef: SinkDef = {
  kind: 'sink',
  name: 'escapedFile',
  aliases: ['escapedCustomDfs'],
  doc: 'Writes events to files named by escapes (dir and file templates), as .tmp files renamed when complete.',
  args: [
    {
      name: 'dir',
      type: 'string',
      required: true,
      doc: "directory template (a path or file:// URL, under the node's node.write_paths), e.g. /logs/%Y-%m-%d/",
      check: checkTemplateArg,
    },
    { name: 'file', type: 'string', required: true, doc: 'file name template, e.g. web-%{host}-%{rolltag}', check: checkTemplateArg },
    formatArg,
    {
      name: 'idleMs',
      type: 'number',
      default: ESCAPED_FILE_DEFAULTS.idleMs,
      doc: 'complete a file not written to for this long (0: keep it open until close or roll)',
      check: (v) => (Number.isInteger(v) && (v as number) >= 0 ? null : 'must be a whole number of milliseconds, 0 or more'),
    },
    {
      name: 'maxOpenFiles',
      type: 'number',
      default: ESCAPED_FILE_DEFAULTS.maxOpenFiles,
      doc: 'files open at once; the least recently written is completed beyond this',
      check: (v) => (Number.isInteger(v) && (v as number) > 0 ? null : 'must be a positive integer'),
    },
  ],
  hostAccess: (args) => [{ kind: 'write', path: joinedTemplate(args.string('dir'), args.string('file')) }],
  create: (args, ctx) =>
    new EscapedFileSink(args.string('dir'), args.string('file'), getFormat(args.string('format')), ctx, {
      idleMs: args.optionalNumber('idleMs') ?? ESCAPED_FILE_DEFAULTS.idleMs,
      maxOpenFiles: args.optionalNumber('maxOpenFiles') ?? ESCAPED_FILE_DEFAULTS.maxOpenFiles,
      syncMs: ESCAPED_FILE_DEFAULTS.syncMs,
    }),
};

export const customDfsDef: SinkDef = {
  kind: 'sink',
  name: 'customdfs',
  aliases: ['customDfs', 'dfs'],
  doc: "Flume OG's customdfs: writes events to one path template (a path or file:// URL).",
  args: [{ name: 'path', type: 'string', required: true, doc: 'file path template', check: checkTemplateArg }, formatArg],
  hostAccess: (args) => [{ kind: 'write', path: args.string('path') }],
  create: (args, ctx) => {
    const p = localPath(args.string('path'));
    return new EscapedFileSink(path.dirname(p), path.basename(p), getFormat(args.string('format')), ctx);
  },
};
