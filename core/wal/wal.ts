/**
 * The durable channel: a write-ahead log of batches (record format and recovery rules in
 * format.ts; the parts it is made of and the state they share in state.ts).
 *
 * - Put (put.ts): a transaction stages batches (reserving capacity, waiting while the WAL is
 *   full); `commit` hands them to the group-commit writer and resolves once they are written and
 *   fdatasync'd. One fsync covers every batch committed while the previous one ran.
 * - Take (take.ts): batches come out in log order. Recently written ones are served from memory
 *   (a cache bounded by `cacheBytes`); older ones are read back from their segment, so opening a
 *   large backlog reads none of it up front. A take's `commit` marks its lsns acked and resolves
 *   once a checkpoint says so on disk (acks.ts); `rollback` puts them back at the head of the queue.
 * - Segments (segments.ts) roll at `segmentBytes` and are deleted once a durable checkpoint shows
 *   all their records acked. Capacity counts the bytes of the segment files plus puts in progress.
 * - Up to `recycleSegments` deleted full segments are kept as `free-*.wal` files and become the
 *   next segments: writing over blocks the file system already holds, instead of allocating new
 *   ones, made fdatasync'd writes 4-5x faster here (see format.ts for why stale records in them
 *   are never read back). They count against the capacity and are deleted when the disk is short.
 * - A full disk (disk-space.ts) refuses puts with DiskFullError before it refuses anything else:
 *   the WAL leaves a floor of free space, and the checkpoint slots are preallocated (acks.ts), so
 *   acks are always recorded, acked segments freed, and a WAL opens on a full disk. A checkpoint
 *   that fails anyway is tried again with a backoff; the takes it covers wait, acked in memory.
 *
 * This file owns what joins the parts: open and recovery, the one flush loop that runs every
 * change to the files in turn (group writes, checkpoints, segment deletion), acks, and stop.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { BaseTransaction, type Batch, type Channel, type ChannelStats, type Transaction } from '../channel';
import { batchPool } from '../buffer-pool';
import type { LifecycleState } from '../lifecycle';
import { isRetriable } from '../errors';
import { silentLogger } from '../logger';
import { Backoff } from '../retry';
import { AckState } from './acks';
import { PutSide, recordBytes } from './put';
import { DiskSpace } from './disk-space';
import { SegmentReader } from './reader';
import { type Segment, SegmentFiles } from './segments';
import { WAL_DEFAULTS, type WalCounters, type WalOptions, WalState } from './state';
import { type Rec, TakeSide } from './take';

export { WAL_DEFAULTS, type WalCounters, type WalOptions } from './state';

export async function openWal(dir: string, options: Partial<WalOptions> & { name?: string } = {}): Promise<WalChannel> {
  const wal = new WalChannel(dir, options.name ?? path.basename(dir), options);
  await wal.start();
  return wal;
}

export class WalChannel implements Channel {
  readonly durable = true;
  readonly counters: WalCounters;
  private readonly s: WalState;
  private readonly acks = new AckState();
  private readonly segs: SegmentFiles;
  private readonly take: TakeSide;
  private readonly put: PutSide;

  /** While `start` scans the segment that was being written: how far it got (for progress lines and /status). */
  replay: { segment: string; doneBytes: number; totalBytes: number } | null = null;

  private flushing: Promise<void> | null = null;
  private ackDirty = false;
  private ackWaiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  /** Set while a failed checkpoint waits for its next try. */
  private ackRetry: NodeJS.Timeout | null = null;
  private readonly ackBackoff = new Backoff({ initialMs: 50, maxMs: 2_000 });
  private readonly disk: DiskSpace;

  constructor(
    readonly dir: string,
    readonly name: string,
    options: Partial<WalOptions> = {},
  ) {
    const opts = { ...WAL_DEFAULTS, logger: silentLogger(), ...options };
    opts.segmentBytes = Math.max(64 * 1024, Math.min(opts.segmentBytes, Math.floor(opts.capacityBytes / 4)));
    this.s = new WalState(dir, name, opts, opts.logger);
    this.counters = this.s.counters;
    this.segs = new SegmentFiles(dir, opts.segmentBytes, opts.recycleSegments, opts.capacityBytes);
    this.disk = new DiskSpace(dir, opts.minFreeBytes);
    this.take = new TakeSide(this.s, this.segs, this.acks, (...args) => this.noteCorrupt(...args));
    this.put = new PutSide(this.s, this.segs, this.disk, this.take, () => this.kick());
    this.segs.onDropped = (seg) => {
      this.take.forget(seg);
      this.s.notFull.wakeAll();
    };
  }

  get state(): LifecycleState {
    return this.s.lifecycle;
  }

  /** Whether puts are refused for want of disk space now (the last one was; none has gone through since). */
  get diskFull(): boolean {
    return this.put.diskFull;
  }

  transaction(): Transaction {
    return new WalTransaction(this);
  }

  stats(): ChannelStats {
    return {
      batches: Math.max(0, this.s.durableLsn + 1 - this.acks.ackedBelow - this.acks.done.size),
      bytes: this.segs.diskBytes,
      capacityBytes: this.s.opts.capacityBytes,
      inFlight: this.take.inFlight,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Open and recover

  async start(): Promise<void> {
    const { s, acks, segs } = this;
    if (s.lifecycle === 'RUNNING') return;
    s.lifecycle = 'STARTING';
    await fs.mkdir(this.dir, { recursive: true });
    await this.fitSegmentsToDisk();
    const { best: checkpoint, invalid, reserved } = await acks.open(this.dir);
    if (!reserved) s.log.warn('Checkpoint slots could not be preallocated (disk full?); trying again at the next open', { dir: this.dir });
    if (invalid > 0) {
      s.counters.checkpointFallbacks += invalid;
      s.log.warn('Checkpoint slot unreadable; using the other one', { dir: this.dir, invalid, found: !!checkpoint });
    }
    await segs.scan();

    // Segments are deleted only once acked, so whatever precedes the first one was acked, and
    // with no segment at all everything the checkpoint knows of was.
    const firstKept = segs.list[0]?.firstLsn ?? checkpoint?.nextLsn ?? 1;
    acks.ackedBelow = Math.max(checkpoint?.ackedBelow ?? 1, firstKept);
    for (const lsn of checkpoint?.done ?? []) if (lsn >= acks.ackedBelow) acks.done.add(lsn);
    await segs.dropAcked(acks.ackedBelow, s.nextLsn);

    const last = segs.list[segs.list.length - 1];
    const scanned = last ? await this.recoverLastSegment(last) : acks.ackedBelow;
    const next = Math.max(scanned, acks.ackedBelow, checkpoint?.nextLsn ?? 1);
    // Lsns the checkpoint saw written but the log no longer holds (a torn tail) are gone.
    for (let lsn = Math.max(scanned, acks.ackedBelow); lsn < next; lsn++) acks.done.add(lsn);
    acks.advance();
    s.nextLsn = next;
    s.durableLsn = next - 1;
    await segs.keepFree(next);
    this.take.startAt(acks.ackedBelow);
    // The segment the next commit goes to is made now: a file created (or renamed) and its
    // directory synced take up to ~50 ms on a busy disk, which the first commit waited for. Left
    // empty, the next start removes it. On a full disk the first commit tries again.
    await segs.activeSegment(s.nextLsn).catch((err: Error) => {
      if (!isRetriable(err)) throw err;
      s.log.warn('WAL opened without a segment to write to (disk full?); the first put tries again', { dir: this.dir, error: err.message });
    });
    this.disk.invalidate();
    s.lifecycle = 'RUNNING';
    s.log.info('WAL opened', {
      dir: this.dir,
      segments: segs.list.length,
      backlogBytes: segs.diskBytes,
      ackedBelow: acks.ackedBelow,
      nextLsn: s.nextLsn,
    });
  }

  /**
   * On a small file system, segments of at most 1/16 of it (a segment is freed only whole, so a
   * segment as large as the disk would keep all of it until every batch in it is acked), and free
   * files of at most 1/8 of it.
   */
  private async fitSegmentsToDisk(): Promise<void> {
    await this.disk.measure();
    const total = this.disk.totalBytes;
    if (total === 0) return;
    this.segs.maxFreeBytes = Math.floor(total / 8);
    const bytes = Math.max(64 * 1024, Math.floor(total / 16));
    if (bytes >= this.s.opts.segmentBytes) return;
    this.s.opts.segmentBytes = bytes;
    this.segs.segmentBytes = bytes;
  }

  /** Scans the segment that was being written, truncates a torn tail; returns the next lsn. */
  private async recoverLastSegment(seg: Segment): Promise<number> {
    const { counters, log } = this.s;
    const handle = await fs.open(seg.file, 'r+');
    try {
      const reader = new SegmentReader(handle, seg.size, 0, seg.firstLsn);
      this.replay = { segment: path.basename(seg.file), doneBytes: 0, totalBytes: seg.size };
      for (;;) {
        const r = await reader.next();
        this.replay.doneBytes = reader.position;
        if (r.kind === 'record') continue;
        if (r.kind === 'corrupt') {
          this.noteCorrupt(seg, r.from, r.to, r.firstLost, r.record.lsn, r.events);
          continue;
        }
        if (r.from < seg.size && r.older) {
          // A recycled file's old records: the next write goes over them.
          log.debug('Log ends before the old records of a recycled segment', { segment: path.basename(seg.file), offset: r.from });
          seg.size = r.from;
        } else if (r.from < seg.size) {
          counters.tornTails++;
          counters.tornBytes += seg.size - r.from;
          counters.lostBytes += seg.size - r.from;
          log.warn('Torn tail truncated', { segment: path.basename(seg.file), offset: r.from, bytes: seg.size - r.from });
          await handle.truncate(r.from);
          await handle.datasync();
          seg.size = r.from;
        }
        break;
      }
      const next = reader.nextLsn;
      if (seg.size === 0) {
        await handle.close();
        await fs.unlink(seg.file);
        this.segs.list.pop();
        return next;
      }
      return next;
    } finally {
      this.replay = null;
      await handle.close().catch(() => undefined);
    }
  }

  /** Reports a bad stretch of a segment and marks the lsns it held lost (acked), once; counts what was lost. */
  private noteCorrupt(seg: Segment, from: number, to: number, firstLost: number, resumeLsn: number, events = 0): void {
    const { acks } = this;
    let unknown = 0;
    for (let lsn = firstLost; lsn < resumeLsn; lsn++) if (!acks.isAcked(lsn)) unknown++;
    // Recovery already reported (and marked) what a later read finds again.
    if (unknown === 0) return;
    this.s.counters.corruptRecords++;
    this.s.counters.lostRecords += unknown;
    this.s.counters.lostEvents += events;
    this.s.counters.lostBytes += to - from;
    this.s.log.error('Corrupt record dropped', {
      segment: path.basename(seg.file),
      offset: from,
      bytes: to - from,
      lostLsns: `${firstLost}..${resumeLsn - 1}`,
    });
    for (let lsn = firstLost; lsn < resumeLsn; lsn++) acks.mark(lsn);
    acks.advance();
  }

  // ---------------------------------------------------------------------------------------------
  // What a transaction calls (put.ts and take.ts do the work)

  /** @internal */
  reserve(bytes: number): Promise<void> {
    return this.put.reserve(bytes);
  }

  /** @internal */
  release(bytes: number): void {
    this.put.release(bytes);
  }

  /** @internal Resolves once the batches are on disk. */
  append(batches: Batch[], reserved: number): Promise<void> {
    return this.put.append(batches, reserved);
  }

  /** @internal */
  next(waitMs: number): Promise<Rec | null> {
    return this.take.next(waitMs);
  }

  /** @internal */
  giveBack(recs: Rec[]): void {
    this.take.giveBack(recs);
  }

  /** @internal Marks taken records acked; resolves once a checkpoint on disk says so. */
  ack(recs: Rec[]): Promise<void> {
    for (const rec of recs) {
      this.acks.mark(rec.lsn);
      batchPool.give(rec.batch.bytes);
    }
    this.take.settle(recs);
    this.acks.advance();
    return new Promise((resolve, reject) => {
      this.ackWaiters.push({ resolve, reject });
      this.ackDirty = true;
      this.kick();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // The flush loop: group writes, checkpoints and segment deletion, one at a time

  private kick(): void {
    if (this.flushing) return;
    this.flushing = this.flushLoop()
      .catch((err: Error) => {
        this.s.log.error('WAL checkpoint failed', { dir: this.dir, error: err.message });
      })
      .finally(() => {
        this.flushing = null;
        if (this.put.hasPending || this.put.wantRelease || (this.ackDirty && !this.ackRetry)) this.kick();
      });
  }

  private async flushLoop(): Promise<void> {
    const checkpointDue = (): boolean => this.ackDirty && this.ackRetry === null;
    while (this.put.hasPending || this.put.wantRelease || checkpointDue() || this.reclaimable()) {
      if (this.put.wantRelease) await this.releaseFree();
      if (this.put.hasPending) await this.put.flush();
      if (checkpointDue()) {
        this.ackDirty = false;
        const waiters = this.ackWaiters;
        this.ackWaiters = [];
        try {
          await this.writeCheckpoint();
        } catch (err) {
          if (!this.retryCheckpoint(err)) {
            for (const w of waiters) w.reject(err);
            throw err;
          }
          // Acked in memory, not yet on disk: the takes wait for the next try.
          this.ackWaiters = waiters.concat(this.ackWaiters);
          continue;
        }
        this.ackBackoff.reset();
        for (const w of waiters) w.resolve();
        await this.segs.dropAcked(this.acks.ackedBelow, this.s.nextLsn);
      }
      if (this.reclaimable()) await this.reclaimActive();
    }
  }

  /**
   * A checkpoint failed: while running and the failure is retriable (a full disk), tries again
   * after a backoff and says true; false: give up (stopping, or a failure that cannot pass).
   */
  private retryCheckpoint(err: unknown): boolean {
    if (this.s.lifecycle !== 'RUNNING' || !isRetriable(err)) return false;
    this.ackDirty = true;
    const delay = this.ackBackoff.next();
    this.s.counters.checkpointRetries++;
    if (this.ackBackoff.failures === 1 || this.ackBackoff.failures % 100 === 0) {
      this.s.log.warn('WAL checkpoint failed; trying again', { dir: this.dir, failures: this.ackBackoff.failures, error: String(err) });
    }
    this.ackRetry = setTimeout(() => {
      this.ackRetry = null;
      this.kick();
    }, delay);
    return true;
  }

  private async releaseFree(): Promise<void> {
    this.put.wantRelease = false;
    try {
      const bytes = await this.segs.releaseFree();
      if (bytes > 0) this.s.log.info('Disk short: deleted the free WAL segments', { dir: this.dir, bytes });
    } finally {
      this.disk.invalidate();
      this.s.notFull.wakeAll();
    }
  }

  private async writeCheckpoint(): Promise<void> {
    await this.acks.write(this.s.nextLsn);
    this.s.counters.checkpoints++;
  }

  /** Everything written is acked and a producer is waiting (or the disk is short): start the next write afresh. */
  private reclaimable(): boolean {
    return (
      this.ackRetry === null &&
      (this.s.notFull.size > 0 || this.disk.short) &&
      this.acks.ackedBelow === this.s.nextLsn &&
      this.segs.list.length > 0 &&
      !this.put.hasPending
    );
  }

  private async reclaimActive(): Promise<void> {
    await this.segs.closeActive();
    try {
      await this.writeCheckpoint();
    } catch (err) {
      if (!this.retryCheckpoint(err)) throw err;
      return;
    }
    await this.segs.dropAll(this.s.nextLsn);
  }

  // ---------------------------------------------------------------------------------------------

  async stop(): Promise<void> {
    const { s } = this;
    if (s.lifecycle === 'STOPPED' || s.lifecycle === 'IDLE') return;
    s.lifecycle = 'STOPPING';
    if (this.ackRetry) clearTimeout(this.ackRetry);
    this.ackRetry = null;
    while (this.flushing) await this.flushing;
    if (this.put.hasPending || this.ackDirty) {
      this.kick();
      while (this.flushing) await this.flushing;
    }
    s.lifecycle = 'STOPPED';
    s.notFull.wakeAll();
    s.notEmpty.wakeAll();
    await this.segs.close();
    await this.acks.close();
  }
}

class WalTransaction extends BaseTransaction {
  private puts: Batch[] = [];
  private reserved = 0;
  private takes: Rec[] = [];

  constructor(private readonly wal: WalChannel) {
    super();
  }

  protected async doPut(batch: Batch): Promise<void> {
    const bytes = recordBytes(batch);
    await this.wal.reserve(bytes);
    this.puts.push(batch);
    this.reserved += bytes;
  }

  protected async doTake(waitMs: number): Promise<Batch | null> {
    const rec = await this.wal.next(waitMs);
    if (!rec) return null;
    this.takes.push(rec);
    return rec.batch;
  }

  protected async doCommit(): Promise<void> {
    if (this.puts.length > 0) {
      const puts = this.puts;
      const reserved = this.reserved;
      this.puts = [];
      this.reserved = 0;
      await this.wal.append(puts, reserved);
    }
    if (this.takes.length > 0) {
      const takes = this.takes;
      this.takes = [];
      await this.wal.ack(takes);
    }
  }

  protected doRollback(): void {
    if (this.reserved > 0) this.wal.release(this.reserved);
    if (this.takes.length > 0) this.wal.giveBack(this.takes);
    this.puts = [];
    this.reserved = 0;
    this.takes = [];
  }
}
