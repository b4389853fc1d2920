/**
 * The take side of the WAL: records come out in log order, each once, until acked or given back.
 *
 * - A record is takeable once the writer has synced it (`lsn <= durableLsn`) and while it is not
 *   acked. Recently written records are served from an in-memory cache, bounded by `cacheBytes`
 *   and filled by the writer (`publish`); the others are read back from their segment, so
 *   opening a large backlog reads none of it up front.
 * - `readLsn` is the next lsn never handed out. It only grows; a record given back (a rolled
 *   back take) waits in `redeliver`, sorted by lsn, and goes out again before any new one.
 * - Reads from disk run one at a time (`locked`) through one `SegmentReader` kept between takes
 *   while they read on in the same segment. A record that does not check out is reported through
 *   `noteCorrupt` (once: what recovery marked acked is not reported again) and stepped over.
 * - Records handed out and not yet acked or given back hold at most `takenBytes` between them
 *   (one always goes): a taker that finds that much out waits for an ack, as for an empty log.
 *   Without it a driver with 64 workers took 64 batches of 2 MB each while its sink could send
 *   16 MB of them, and the cache, emptied by those takes, filled again behind them: memory
 *   grew with the batch size, not with what the sink has on the wire.
 * - Records read from disk are copied out of one reused read buffer into buffers of `batchPool`,
 *   given back when acked: a fresh 4 MB read buffer per chunk, alive while any record of it was
 *   in flight, was most of an agent's memory while it drained a backlog.
 * - A dropped segment's reader is let go (`forget`): its records were all acked.
 */
import * as fs from 'node:fs/promises';
import { batchPool } from '../buffer-pool';
import type { Batch } from '../channel';
import type { AckState } from './acks';
import { ReadBuffer, SegmentReader } from './reader';
import type { Segment, SegmentFiles } from './segments';
import type { WalState } from './state';

/** A record handed out (or cached to be): where it is in the log, and its batch. */
export interface Rec {
  lsn: number;
  length: number;
  seg: Segment;
  offset: number;
  batch: Batch;
}

/** Reports bytes [from, to) of `seg` bad and lsns [firstLost, resumeLsn) lost with them. */
export type NoteCorrupt = (seg: Segment, from: number, to: number, firstLost: number, resumeLsn: number, events?: number) => void;

export class TakeSide {
  /** Records taken by open transactions, and their bytes. */
  inFlight = 0;
  private inFlightBytes = 0;
  private readLsn = 1;
  private readPos: { seg: Segment; offset: number } | null = null;
  private diskReader: { seg: Segment; reader: SegmentReader } | null = null;
  private readonly cache = new Map<number, Rec>();
  private cachedBytes = 0;
  private redeliver: Rec[] = [];
  private readLock: Promise<unknown> = Promise.resolve();
  /** The read buffer of every disk read (records are copied out of it). */
  private readonly scratch = new ReadBuffer();

  constructor(
    private readonly s: WalState,
    private readonly segs: SegmentFiles,
    private readonly acks: AckState,
    private readonly noteCorrupt: NoteCorrupt,
  ) {}

  /** Where reading starts after open: the first lsn not known to be acked. */
  startAt(lsn: number): void {
    this.readLsn = lsn;
  }

  /** Caches records just written, as room allows; a record left out goes back to the pool. */
  publish(recs: Rec[]): void {
    for (const rec of recs) {
      if (this.cachedBytes + rec.length <= this.s.opts.cacheBytes) {
        this.cache.set(rec.lsn, rec);
        this.cachedBytes += rec.length;
      } else {
        // Not kept: a taker will read it back from its segment, and its buffer is free now.
        batchPool.give(rec.batch.bytes);
      }
    }
  }

  /** Lets go of a dropped segment. */
  forget(seg: Segment): void {
    if (this.diskReader?.seg === seg) this.diskReader = null;
    if (this.readPos?.seg === seg) this.readPos = null;
  }

  /** The next record to hand out, waiting up to `waitMs` for one; null if none came. */
  async next(waitMs: number): Promise<Rec | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const again = this.full ? undefined : this.redeliver.shift();
      if (again) return this.handOut(again);
      if (!this.full && this.readLsn <= this.s.durableLsn) {
        // Room is checked and taken under the read lock: takers queued on it while there was
        // room must not all get a record once they are through.
        const rec = await this.locked(async () => {
          if (this.full) return null;
          const r = await this.readNext();
          return r ? this.handOut(r) : null;
        });
        if (rec) return rec;
        if (!this.full) continue;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.s.lifecycle !== 'RUNNING') return null;
      await this.s.notEmpty.wait(left);
    }
  }

  /** Takes back records of a rolled-back transaction: they go out again first, in log order. */
  giveBack(recs: Rec[]): void {
    this.settle(recs);
    this.redeliver.push(...recs);
    this.redeliver.sort((a, b) => a.lsn - b.lsn);
    this.s.notEmpty.wakeAll();
  }

  /** Records acked (or given back): their bytes no longer count against `takenBytes`. */
  settle(recs: Rec[]): void {
    const full = this.inFlightBytes >= this.s.opts.takenBytes;
    this.inFlight -= recs.length;
    for (const rec of recs) this.inFlightBytes -= rec.length;
    if (full && this.inFlightBytes < this.s.opts.takenBytes) this.s.notEmpty.wakeAll();
  }

  /** As many bytes out as `takenBytes` allows: the next take waits (one always goes). */
  private get full(): boolean {
    return this.inFlightBytes > 0 && this.inFlightBytes >= this.s.opts.takenBytes;
  }

  private handOut(rec: Rec): Rec {
    this.inFlight++;
    this.inFlightBytes += rec.length;
    return rec;
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.readLock.then(fn, fn);
    this.readLock = run.catch(() => undefined);
    return run;
  }

  /** The next unacked record at or after `readLsn`, from the cache or from disk. */
  private async readNext(): Promise<Rec | null> {
    while (this.readLsn <= this.s.durableLsn) {
      const lsn = this.readLsn;
      const cached = this.cache.get(lsn);
      if (cached) {
        this.cache.delete(lsn);
        this.cachedBytes -= cached.length;
        this.readLsn = lsn + 1;
        this.readPos = { seg: cached.seg, offset: cached.offset + cached.length };
        if (!this.acks.isAcked(lsn)) return cached;
        continue;
      }
      const rec = await this.readFromDisk();
      if (rec && !this.acks.isAcked(rec.lsn)) return rec;
    }
    return null;
  }

  private async readFromDisk(): Promise<Rec | null> {
    const lsn = this.readLsn;
    const segments = this.segs.list;
    if (!this.readPos || this.readPos.seg.deleted) {
      let seg: Segment | undefined;
      for (const s of segments) if (s.firstLsn <= lsn) seg = s;
      if (!seg) {
        // The record's segment is gone: only acked records were in it.
        this.readLsn = segments[0]?.firstLsn ?? this.s.durableLsn + 1;
        return null;
      }
      this.readPos = { seg, offset: 0 };
    }
    const { seg, offset } = this.readPos;
    if (!this.diskReader || this.diskReader.seg !== seg || this.diskReader.reader.position !== offset) {
      seg.reader ??= await fs.open(seg.file, 'r');
      const reader = new SegmentReader(seg.reader, seg.size, offset, offset === 0 ? seg.firstLsn : lsn, this.scratch);
      this.diskReader = { seg, reader };
    }
    const reader = this.diskReader.reader;
    reader.extend(seg.size);
    const r = await reader.next();
    if (r.kind === 'end') {
      const nextSeg = segments[segments.indexOf(seg) + 1];
      const endLsn = nextSeg ? nextSeg.firstLsn : this.s.durableLsn + 1;
      if (this.readLsn < endLsn) this.noteCorrupt(seg, r.from, seg.size, this.readLsn, endLsn);
      this.readLsn = endLsn;
      this.readPos = nextSeg ? { seg: nextSeg, offset: 0 } : null;
      this.diskReader = null;
      return null;
    }
    if (r.kind === 'corrupt') this.noteCorrupt(seg, r.from, r.to, Math.max(r.firstLost, this.readLsn), r.record.lsn, r.events);
    this.s.counters.diskReads++;
    const { record } = r;
    this.readPos = { seg, offset: r.offset + record.length };
    if (record.lsn < this.readLsn) return null;
    this.readLsn = record.lsn + 1;
    // The payload is a view of the read buffer, which the next read overwrites.
    const bytes = batchPool.take(record.payload.length);
    record.payload.copy(bytes);
    const batch: Batch = { origin: record.origin, seq: record.seq, count: record.count, bytes };
    return { lsn: record.lsn, length: record.length, seg, offset: r.offset, batch };
  }
}
