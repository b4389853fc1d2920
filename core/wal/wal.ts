/**
 * The durable channel: a write-ahead log of batches (record format and recovery rules in
 * core/wal/format.ts).
 *
 * - Put: a transaction stages batches (reserving capacity, waiting while the WAL is full);
 *   `commit` hands them to the group-commit writer and resolves once they are written and
 *   fdatasync'd. One fsync covers every batch committed while the previous one ran.
 * - Take: batches come out in log order. Recently written ones are served from memory (a cache
 *   bounded by `cacheBytes`); older ones are read back from their segment, so opening a large
 *   backlog reads none of it up front. A take's `commit` marks its lsns acked and resolves once a
 *   checkpoint says so on disk; `rollback` puts them back at the head of the queue.
 * - Segments roll at `segmentBytes` and are deleted once a durable checkpoint shows all their
 *   records acked. Capacity counts the bytes of the segment files plus puts in progress.
 * - Up to `recycleSegments` deleted full segments are kept as `free-*.wal` files and become the
 *   next segments: writing over blocks the file system already holds, instead of allocating new
 *   ones, made fdatasync'd writes 4-5x faster here (see format.ts for why stale records in them
 *   are never read back).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { BaseTransaction, type Batch, type Channel, type ChannelStats, type Transaction, WaitQueue } from '../channel';
import { batchPool } from '../buffer-pool';
import { BatchTooLargeError, ChannelClosedError } from '../errors';
import type { LifecycleState } from '../lifecycle';
import { type Logger, silentLogger } from '../logger';
import {
  HEADER_BYTES, decodeCheckpoint, encodeCheckpoint, encodeHeader, freeName, parseFreeName, parseSegmentName, segmentName,
} from './format';
import { SegmentReader } from './reader';

export interface WalOptions {
  /** Bytes of segment files (plus puts in progress) after which `put` waits. */
  capacityBytes: number;
  /** A segment rolls once it holds this many bytes (at most a quarter of the capacity). */
  segmentBytes: number;
  /** Bytes of recently written batches kept in memory for takers. */
  cacheBytes: number;
  /** Full segments kept for reuse once acked, instead of deleted (disk use beyond the capacity). */
  recycleSegments: number;
  logger: Logger;
}

export const WAL_DEFAULTS: Omit<WalOptions, 'logger'> = {
  capacityBytes: 1024 * 1024 * 1024,
  // Segments of 16 MB are acked and recycled soon after a start, so writes go over allocated
  // blocks (and cached pages) after 16 MB instead of 64; smaller ones roll (a directory fsync
  // each) too often. pipeline-e2e, 1M events, five interleaved runs each: 64 MB / 2 recycled
  // 1.30M events/s, 16 MB / 8 1.57M, 32 MB / 4 1.41M, 4 MB / 16 1.40M; on 20M events 4 MB
  // fell 10% behind 64 MB, 16 MB stayed within 3%. Free files take 128 MB at most, as before.
  segmentBytes: 16 * 1024 * 1024,
  cacheBytes: 64 * 1024 * 1024,
  recycleSegments: 8,
};

/** What recovery found and what the WAL has done since it opened. */
export interface WalCounters {
  tornTails: number;
  tornBytes: number;
  corruptRecords: number;
  lostRecords: number;
  checkpointFallbacks: number;
  fsyncs: number;
  checkpoints: number;
  diskReads: number;
}

interface Segment {
  firstLsn: number;
  file: string;
  /** Valid bytes: what recovery kept, or what the writer has synced. */
  size: number;
  reader?: fs.FileHandle;
  deleted?: boolean;
}

interface Rec {
  lsn: number;
  length: number;
  seg: Segment;
  offset: number;
  batch: Batch;
}

interface PendingCommit {
  batches: Batch[];
  reserved: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function recordBytes(batch: Batch): number {
  return HEADER_BYTES + Buffer.byteLength(batch.origin) + batch.bytes.length;
}

export async function openWal(dir: string, options: Partial<WalOptions> & { name?: string } = {}): Promise<WalChannel> {
  const wal = new WalChannel(dir, options.name ?? path.basename(dir), options);
  await wal.start();
  return wal;
}

export class WalChannel implements Channel {
  readonly durable = true;
  readonly counters: WalCounters = {
    tornTails: 0, tornBytes: 0, corruptRecords: 0, lostRecords: 0, checkpointFallbacks: 0, fsyncs: 0, checkpoints: 0, diskReads: 0,
  };
  private readonly opts: WalOptions;
  private lifecycle: LifecycleState = 'IDLE';
  private readonly log: Logger;

  private segments: Segment[] = [];
  /** Recycled segment files, oldest first. */
  private free: string[] = [];
  private active: { seg: Segment; handle: fs.FileHandle } | null = null;
  private nextLsn = 1;
  /** Highest lsn written and synced; takers see up to here. */
  private durableLsn = 0;

  private pending: PendingCommit[] = [];
  private flushing: Promise<void> | null = null;

  private ackedBelow = 1;
  private readonly done = new Set<number>();
  private ackDirty = false;
  private ackWaiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  private checkpointCounter = 0;
  private checkpointFiles: fs.FileHandle[] = [];

  private readLsn = 1;
  private readPos: { seg: Segment; offset: number } | null = null;
  private diskReader: { seg: Segment; reader: SegmentReader } | null = null;
  private readonly cache = new Map<number, Rec>();
  private cachedBytes = 0;
  private redeliver: Rec[] = [];
  private readLock: Promise<unknown> = Promise.resolve();
  private inFlight = 0;

  private diskBytes = 0;
  private reservedBytes = 0;
  private readonly notFull = new WaitQueue();
  private readonly notEmpty = new WaitQueue();

  constructor(readonly dir: string, readonly name: string, options: Partial<WalOptions> = {}) {
    this.opts = { ...WAL_DEFAULTS, logger: silentLogger(), ...options };
    this.opts.segmentBytes = Math.max(64 * 1024, Math.min(this.opts.segmentBytes, Math.floor(this.opts.capacityBytes / 4)));
    this.log = this.opts.logger;
  }

  get state(): LifecycleState {
    return this.lifecycle;
  }

  transaction(): Transaction {
    return new WalTransaction(this);
  }

  stats(): ChannelStats {
    return {
      batches: Math.max(0, this.durableLsn + 1 - this.ackedBelow - this.done.size),
      bytes: this.diskBytes,
      capacityBytes: this.opts.capacityBytes,
      inFlight: this.inFlight,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Open and recover

  async start(): Promise<void> {
    if (this.lifecycle === 'RUNNING') return;
    this.lifecycle = 'STARTING';
    await fs.mkdir(this.dir, { recursive: true });
    const checkpoint = await this.readCheckpoints();
    const files = await fs.readdir(this.dir);
    const free = files.map((f) => ({ f, mark: parseFreeName(f) })).filter((x): x is { f: string; mark: number } => x.mark !== null);
    const names = files
      .map((f) => ({ f, lsn: parseSegmentName(f) }))
      .filter((s): s is { f: string; lsn: number } => s.lsn !== null)
      .sort((a, b) => a.lsn - b.lsn);
    for (const { f, lsn } of names) {
      const file = path.join(this.dir, f);
      this.segments.push({ firstLsn: lsn, file, size: (await fs.stat(file)).size });
    }

    // Segments are deleted only once acked, so whatever precedes the first one was acked, and
    // with no segment at all everything the checkpoint knows of was.
    const firstKept = this.segments[0]?.firstLsn ?? checkpoint?.nextLsn ?? 1;
    this.ackedBelow = Math.max(checkpoint?.ackedBelow ?? 1, firstKept);
    for (const lsn of checkpoint?.done ?? []) if (lsn >= this.ackedBelow) this.done.add(lsn);
    await this.deleteAckedSegments();

    const last = this.segments[this.segments.length - 1];
    const scanned = last ? await this.recoverLastSegment(last) : this.ackedBelow;
    const next = Math.max(scanned, this.ackedBelow, checkpoint?.nextLsn ?? 1);
    // Lsns the checkpoint saw written but the log no longer holds (a torn tail) are gone.
    for (let lsn = Math.max(scanned, this.ackedBelow); lsn < next; lsn++) this.done.add(lsn);
    this.advanceAcked();
    this.nextLsn = next;
    this.durableLsn = next - 1;
    // A free file's stale records are all below its mark. Lsns only grow, so they are below any
    // lsn a segment made of it will be read for; a mark above `next` (both checkpoints lost) breaks
    // that, and such a file is deleted instead.
    for (const { f, mark } of free.sort((a, b) => a.mark - b.mark)) {
      if (mark <= next) this.free.push(path.join(this.dir, f));
      else await fs.unlink(path.join(this.dir, f));
    }
    this.readLsn = this.ackedBelow;
    this.diskBytes = this.segments.reduce((sum, s) => sum + s.size, 0);
    // The segment the next commit goes to is made now: a file created (or renamed) and its
    // directory synced take up to ~50 ms on a busy disk, which the first commit waited for. Left
    // empty, the next start removes it.
    await this.activeSegment(this.nextLsn);
    this.lifecycle = 'RUNNING';
    this.log.info('WAL opened', {
      dir: this.dir, segments: this.segments.length, backlogBytes: this.diskBytes, ackedBelow: this.ackedBelow, nextLsn: this.nextLsn,
    });
  }

  private async readCheckpoints(): Promise<ReturnType<typeof decodeCheckpoint>> {
    let best: ReturnType<typeof decodeCheckpoint> = null;
    let invalid = 0;
    for (let slot = 0; slot < 2; slot++) {
      const file = path.join(this.dir, `checkpoint.${slot}`);
      const handle = await fs.open(file, 'a+');
      this.checkpointFiles.push(handle);
      const { size } = await handle.stat();
      if (size === 0) continue;
      const buf = Buffer.allocUnsafe(size);
      await handle.read(buf, 0, size, 0);
      const state = decodeCheckpoint(buf);
      if (!state) {
        invalid++;
        continue;
      }
      if (!best || state.counter > best.counter) best = state;
    }
    if (invalid > 0) {
      this.counters.checkpointFallbacks += invalid;
      this.log.warn('Checkpoint slot unreadable; using the other one', { dir: this.dir, invalid, found: !!best });
    }
    this.checkpointCounter = best?.counter ?? 0;
    // 'a+' appends on write; reopen for positional writes.
    for (let slot = 0; slot < 2; slot++) {
      await this.checkpointFiles[slot].close();
      this.checkpointFiles[slot] = await fs.open(path.join(this.dir, `checkpoint.${slot}`), 'r+');
    }
    return best;
  }

  /** Scans the segment that was being written, truncates a torn tail; returns the next lsn. */
  private async recoverLastSegment(seg: Segment): Promise<number> {
    const handle = await fs.open(seg.file, 'r+');
    try {
      const reader = new SegmentReader(handle, seg.size, 0, seg.firstLsn);
      for (;;) {
        const r = await reader.next();
        if (r.kind === 'record') continue;
        if (r.kind === 'corrupt') {
          this.noteCorrupt(seg, r.from, r.to, r.firstLost, r.record.lsn);
          continue;
        }
        if (r.from < seg.size && r.older) {
          // A recycled file's old records: the next write goes over them.
          this.log.debug('Log ends before the old records of a recycled segment', { segment: path.basename(seg.file), offset: r.from });
          seg.size = r.from;
        } else if (r.from < seg.size) {
          this.counters.tornTails++;
          this.counters.tornBytes += seg.size - r.from;
          this.log.warn('Torn tail truncated', { segment: path.basename(seg.file), offset: r.from, bytes: seg.size - r.from });
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
        this.segments.pop();
        return next;
      }
      return next;
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  private noteCorrupt(seg: Segment, from: number, to: number, firstLost: number, resumeLsn: number): void {
    let unknown = 0;
    for (let lsn = firstLost; lsn < resumeLsn; lsn++) if (!this.isAcked(lsn)) unknown++;
    // Recovery already reported (and marked) what a later read finds again.
    if (unknown === 0) return;
    this.counters.corruptRecords++;
    this.counters.lostRecords += unknown;
    this.log.error('Corrupt record dropped', {
      segment: path.basename(seg.file), offset: from, bytes: to - from, lostLsns: `${firstLost}..${resumeLsn - 1}`,
    });
    for (let lsn = firstLost; lsn < resumeLsn; lsn++) if (lsn >= this.ackedBelow) this.done.add(lsn);
    this.advanceAcked();
  }

  // ---------------------------------------------------------------------------------------------
  // Put side: capacity and group commit

  /** @internal */
  async reserve(bytes: number): Promise<void> {
    if (bytes > this.opts.capacityBytes) throw new BatchTooLargeError(this.name, bytes, this.opts.capacityBytes);
    for (;;) {
      if (this.lifecycle !== 'RUNNING') throw new ChannelClosedError(this.name);
      if (this.diskBytes + this.reservedBytes + bytes <= this.opts.capacityBytes) break;
      const room = this.notFull.wait(1000);
      this.kick();
      await room;
    }
    this.reservedBytes += bytes;
  }

  /** @internal */
  release(bytes: number): void {
    this.reservedBytes -= bytes;
    this.notFull.wakeAll();
  }

  /** @internal Resolves once the batches are on disk. */
  append(batches: Batch[], reserved: number): Promise<void> {
    if (this.lifecycle !== 'RUNNING') {
      this.release(reserved);
      return Promise.reject(new ChannelClosedError(this.name));
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ batches, reserved, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = this.flushLoop()
      .catch((err: Error) => {
        this.log.error('WAL checkpoint failed', { dir: this.dir, error: err.message });
      })
      .finally(() => {
      this.flushing = null;
      if (this.pending.length > 0 || this.ackDirty) this.kick();
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.pending.length > 0 || this.ackDirty || this.reclaimable()) {
      if (this.pending.length > 0) {
        const group = this.pending;
        this.pending = [];
        await this.writeGroup(group);
      }
      if (this.ackDirty) {
        this.ackDirty = false;
        const waiters = this.ackWaiters;
        this.ackWaiters = [];
        try {
          await this.writeCheckpoint();
          for (const w of waiters) w.resolve();
        } catch (err) {
          for (const w of waiters) w.reject(err);
          throw err;
        }
        await this.deleteAckedSegments();
      }
      if (this.reclaimable()) await this.reclaimActive();
    }
  }

  /**
   * Writes a group of commits, rolling segments as they fill, and publishes it to takers only
   * once all of it is synced: a transaction is all on disk or, after a failure, none of it.
   */
  private async writeGroup(group: PendingCommit[]): Promise<void> {
    const firstLsn = this.nextLsn;
    const batches = group.length === 1 ? group[0].batches : group.flatMap((c) => c.batches);
    const sizeBefore = this.active?.seg.size ?? 0;
    const segmentsBefore = this.segments.length;
    const recs: Rec[] = [];
    try {
      let lsn = firstLsn;
      let i = 0;
      while (i < batches.length) {
        const active = await this.activeSegment(lsn);
        const buffers: Buffer[] = [];
        let offset = active.seg.size;
        do {
          const batch = batches[i++];
          const header = encodeHeader({ lsn, seq: batch.seq, count: batch.count, origin: batch.origin }, batch.bytes, batch.eventsCrc);
          const length = header.length + batch.bytes.length;
          buffers.push(header, batch.bytes);
          recs.push({ lsn: lsn++, length, seg: active.seg, offset, batch });
          offset += length;
        } while (i < batches.length && offset < this.opts.segmentBytes);
        await writevAll(active.handle, buffers, active.seg.size);
        await active.handle.datasync();
        this.counters.fsyncs++;
        this.diskBytes += offset - active.seg.size;
        active.seg.size = offset;
      }
      this.nextLsn = lsn;
    } catch (err) {
      await this.undoGroup(sizeBefore, segmentsBefore, recs[0]?.seg);
      for (const commit of group) {
        this.reservedBytes -= commit.reserved;
        commit.reject(err);
      }
      this.notFull.wakeAll();
      this.log.error('WAL write failed', { dir: this.dir, error: (err as Error).message });
      return;
    }
    for (const rec of recs) {
      if (this.cachedBytes + rec.length <= this.opts.cacheBytes) {
        this.cache.set(rec.lsn, rec);
        this.cachedBytes += rec.length;
      } else {
        // Not kept: a taker will read it back from its segment, and its buffer is free now.
        batchPool.give(rec.batch.bytes);
      }
    }
    this.durableLsn = this.nextLsn - 1;
    for (const commit of group) {
      this.reservedBytes -= commit.reserved;
      commit.resolve();
    }
    this.notEmpty.wakeAll();
    this.notFull.wakeAll();
  }

  /** Cuts the log back to where it was before a failed group: no partial transaction stays. */
  private async undoGroup(sizeBefore: number, segmentsBefore: number, firstSeg: Segment | undefined): Promise<void> {
    while (this.segments.length > segmentsBefore) {
      const seg = this.segments.pop()!;
      if (this.active?.seg === seg) {
        await this.active.handle.close().catch(() => undefined);
        this.active = null;
      }
      this.diskBytes -= seg.size;
      await fs.unlink(seg.file).catch(() => undefined);
    }
    if (firstSeg && this.active?.seg === firstSeg && firstSeg.size > sizeBefore) {
      this.diskBytes -= firstSeg.size - sizeBefore;
      firstSeg.size = sizeBefore;
      await this.active.handle.truncate(sizeBefore).catch(() => undefined);
    }
  }

  private async activeSegment(firstLsn: number): Promise<{ seg: Segment; handle: fs.FileHandle }> {
    if (this.active && this.active.seg.size < this.opts.segmentBytes) return this.active;
    if (this.active) await this.active.handle.close();
    const seg: Segment = { firstLsn, file: path.join(this.dir, segmentName(firstLsn)), size: 0 };
    const free = this.free.shift();
    if (free !== undefined) await fs.rename(free, seg.file);
    // A recycled file is written over from offset 0: its size says nothing, `seg.size` does.
    const handle = await fs.open(seg.file, free !== undefined ? 'r+' : 'wx');
    await syncDir(this.dir);
    this.segments.push(seg);
    this.active = { seg, handle };
    return this.active;
  }

  // ---------------------------------------------------------------------------------------------
  // Acks, checkpoints and segment deletion

  private isAcked(lsn: number): boolean {
    return lsn < this.ackedBelow || this.done.has(lsn);
  }

  private advanceAcked(): void {
    while (this.done.has(this.ackedBelow)) {
      this.done.delete(this.ackedBelow);
      this.ackedBelow++;
    }
  }

  /** @internal Marks taken records acked; resolves once a checkpoint on disk says so. */
  ack(recs: Rec[]): Promise<void> {
    for (const rec of recs) {
      if (rec.lsn >= this.ackedBelow) this.done.add(rec.lsn);
      batchPool.give(rec.batch.bytes);
    }
    this.inFlight -= recs.length;
    this.advanceAcked();
    return new Promise((resolve, reject) => {
      this.ackWaiters.push({ resolve, reject });
      this.ackDirty = true;
      this.kick();
    });
  }

  private async writeCheckpoint(): Promise<void> {
    this.checkpointCounter++;
    const buf = encodeCheckpoint({
      counter: this.checkpointCounter, ackedBelow: this.ackedBelow, nextLsn: this.nextLsn, done: [...this.done],
    });
    const handle = this.checkpointFiles[this.checkpointCounter % 2];
    await handle.write(buf, 0, buf.length, 0);
    await handle.datasync();
    this.counters.checkpoints++;
  }

  private async deleteAckedSegments(): Promise<void> {
    while (this.segments.length > 1 && this.segments[1].firstLsn <= this.ackedBelow) {
      const seg = this.segments[0];
      if (this.active?.seg === seg) break;
      await this.dropSegment(seg);
    }
  }

  private async dropSegment(seg: Segment): Promise<void> {
    const i = this.segments.indexOf(seg);
    // Above every lsn the file holds, and unique: segments do not overlap.
    const mark = this.segments[i + 1]?.firstLsn ?? this.nextLsn;
    this.segments.splice(i, 1);
    seg.deleted = true;
    await seg.reader?.close().catch(() => undefined);
    const free = path.join(this.dir, freeName(mark));
    if (this.free.length < this.opts.recycleSegments && seg.size >= this.opts.segmentBytes && !this.free.includes(free)) {
      await fs.rename(seg.file, free);
      this.free.push(free);
    } else {
      await fs.unlink(seg.file);
    }
    this.diskBytes -= seg.size;
    if (this.diskReader?.seg === seg) this.diskReader = null;
    if (this.readPos?.seg === seg) this.readPos = null;
    this.notFull.wakeAll();
  }

  /** Everything written is acked and a producer is waiting: start the next write afresh. */
  private reclaimable(): boolean {
    return this.notFull.size > 0 && this.ackedBelow === this.nextLsn && this.segments.length > 0 && this.pending.length === 0;
  }

  private async reclaimActive(): Promise<void> {
    if (this.active) {
      await this.active.handle.close();
      this.active = null;
    }
    await this.writeCheckpoint();
    for (const seg of [...this.segments]) await this.dropSegment(seg);
  }

  // ---------------------------------------------------------------------------------------------
  // Take side

  /** @internal */
  async next(waitMs: number): Promise<Rec | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const again = this.redeliver.shift();
      if (again) {
        this.inFlight++;
        return again;
      }
      if (this.readLsn <= this.durableLsn) {
        const rec = await this.locked(() => this.readNext());
        if (rec) {
          this.inFlight++;
          return rec;
        }
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.lifecycle !== 'RUNNING') return null;
      await this.notEmpty.wait(left);
    }
  }

  /** @internal */
  giveBack(recs: Rec[]): void {
    this.inFlight -= recs.length;
    this.redeliver.push(...recs);
    this.redeliver.sort((a, b) => a.lsn - b.lsn);
    this.notEmpty.wakeAll();
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.readLock.then(fn, fn);
    this.readLock = run.catch(() => undefined);
    return run;
  }

  /** The next unacked record at or after `readLsn`, from the cache or from disk. */
  private async readNext(): Promise<Rec | null> {
    while (this.readLsn <= this.durableLsn) {
      const lsn = this.readLsn;
      const cached = this.cache.get(lsn);
      if (cached) {
        this.cache.delete(lsn);
        this.cachedBytes -= cached.length;
        this.readLsn = lsn + 1;
        this.readPos = { seg: cached.seg, offset: cached.offset + cached.length };
        if (!this.isAcked(lsn)) return cached;
        continue;
      }
      const rec = await this.readFromDisk();
      if (rec && !this.isAcked(rec.lsn)) return rec;
    }
    return null;
  }

  private async readFromDisk(): Promise<Rec | null> {
    const lsn = this.readLsn;
    if (!this.readPos || this.readPos.seg.deleted) {
      let seg: Segment | undefined;
      for (const s of this.segments) if (s.firstLsn <= lsn) seg = s;
      if (!seg) {
        // The record's segment is gone: only acked records were in it.
        this.readLsn = this.segments[0]?.firstLsn ?? this.durableLsn + 1;
        return null;
      }
      this.readPos = { seg, offset: 0 };
    }
    const { seg, offset } = this.readPos;
    if (!this.diskReader || this.diskReader.seg !== seg || this.diskReader.reader.position !== offset) {
      seg.reader ??= await fs.open(seg.file, 'r');
      this.diskReader = { seg, reader: new SegmentReader(seg.reader, seg.size, offset, offset === 0 ? seg.firstLsn : lsn) };
    }
    const reader = this.diskReader.reader;
    reader.extend(seg.size);
    const r = await reader.next();
    if (r.kind === 'end') {
      const nextSeg = this.segments[this.segments.indexOf(seg) + 1];
      const endLsn = nextSeg ? nextSeg.firstLsn : this.durableLsn + 1;
      if (this.readLsn < endLsn) this.noteCorrupt(seg, r.from, seg.size, this.readLsn, endLsn);
      this.readLsn = endLsn;
      this.readPos = nextSeg ? { seg: nextSeg, offset: 0 } : null;
      this.diskReader = null;
      return null;
    }
    if (r.kind === 'corrupt') this.noteCorrupt(seg, r.from, r.to, Math.max(r.firstLost, this.readLsn), r.record.lsn);
    this.counters.diskReads++;
    const { record } = r;
    this.readPos = { seg, offset: r.offset + record.length };
    if (record.lsn < this.readLsn) return null;
    this.readLsn = record.lsn + 1;
    const batch: Batch = { origin: record.origin, seq: record.seq, count: record.count, bytes: record.payload };
    return { lsn: record.lsn, length: record.length, seg, offset: r.offset, batch };
  }

  // ---------------------------------------------------------------------------------------------

  async stop(): Promise<void> {
    if (this.lifecycle === 'STOPPED' || this.lifecycle === 'IDLE') return;
    this.lifecycle = 'STOPPING';
    while (this.flushing) await this.flushing;
    if (this.pending.length > 0 || this.ackDirty) {
      this.kick();
      while (this.flushing) await this.flushing;
    }
    this.lifecycle = 'STOPPED';
    this.notFull.wakeAll();
    this.notEmpty.wakeAll();
    await this.active?.handle.close();
    this.active = null;
    for (const seg of this.segments) await seg.reader?.close().catch(() => undefined);
    for (const h of this.checkpointFiles) await h.close().catch(() => undefined);
    this.checkpointFiles = [];
  }
}

async function writevAll(handle: fs.FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let pos = position;
  let i = 0;
  // writev takes at most IOV_MAX (1024) buffers at once.
  while (i < buffers.length) {
    const chunk = buffers.slice(i, i + 1024);
    let total = 0;
    for (const b of chunk) total += b.length;
    let written = (await handle.writev(chunk, pos)).bytesWritten;
    pos += written;
    if (written < total) {
      // Short write: finish this chunk byte range by range.
      for (const b of chunk) {
        if (written >= b.length) {
          written -= b.length;
          continue;
        }
        const rest = b.subarray(written);
        written = 0;
        let off = 0;
        while (off < rest.length) {
          const n = (await handle.write(rest, off, rest.length - off, pos)).bytesWritten;
          off += n;
          pos += n;
        }
      }
    }
    i += 1024;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
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
