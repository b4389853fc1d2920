/**
 * What the parts of the WAL share: its options, its counters, the two lsn positions and the two
 * wait queues.
 *
 * The durable channel (wal.ts) is made of parts that each own one concern:
 *
 *     segments.ts  the segment files: which exist, the one being written, recycling, deletion
 *     disk-space.ts  the room left on the file system, the backpressure a disk applies
 *     acks.ts      which lsns are acked, and the two checkpoint slots that make it durable
 *     put.ts       capacity reservation and the group-commit writer
 *     take.ts      records handed out in log order, from the cache or from disk; redelivery
 *     wal.ts       the channel: open and recovery, the one flush loop, acks, stop
 *
 * They share this object rather than reach into one another. Invariants across the parts:
 * - `durableLsn < nextLsn`; every lsn up to `durableLsn` is written and synced, and takers see
 *   only those;
 * - every change to the files (writes, checkpoints, deletions) runs on wal.ts's one flush loop,
 *   one at a time, so no two parts race on disk; takes only read.
 */
import { WaitQueue } from '../channel';
import type { LifecycleState } from '../lifecycle';
import type { Logger } from '../logger';

export interface WalOptions {
  /** Bytes of segment files (plus puts in progress) after which `put` waits. */
  capacityBytes: number;
  /** A segment rolls once it holds this many bytes (at most a quarter of the capacity). */
  segmentBytes: number;
  /** Bytes of recently written batches kept in memory for takers. */
  cacheBytes: number;
  /** Bytes of records taken and not yet acked or given back, at most (one always goes); take.ts. */
  takenBytes: number;
  /**
   * Full segments kept for reuse once acked, instead of deleted. They count against the
   * capacity (one is kept only while the segments and the free files fit in it) and are deleted
   * when the disk runs short.
   */
  recycleSegments: number;
  /** Free space the WAL leaves on its file system (disk-space.ts); 'auto': 1/64 of it, 1 MB to 64 MB. */
  minFreeBytes: number | 'auto';
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
  // A taker that keeps up finds its records here; one that fell behind reads them back from the
  // page cache into pooled buffers for about the same cost, so more cache only holds memory.
  // 4 MB (from 8; two tail batches): an agent whose sink is slower than its tail keeps the cache
  // full all the time. pipeline-e2e 50M lines with the read chunk at 2 MB: agent peak RSS
  // 144-152 MB against 152-169 at 8 MB/4 MB (issue 16 item 9), events/s within the spread.
  cacheBytes: 4 * 1024 * 1024,
  // An agent sink's windowBytes: what it may have on the wire. More taken only waits in the sink,
  // and the sink's appends are what a driver with 64 workers would otherwise hold (64 batches).
  takenBytes: 8 * 1024 * 1024,
  recycleSegments: 8,
  minFreeBytes: 'auto',
};

/** What recovery found and what the WAL has done since it opened. */
export interface WalCounters {
  tornTails: number;
  tornBytes: number;
  corruptRecords: number;
  /** What damage cost: records (batches) dropped, their events where a header still told, and bytes. */
  lostRecords: number;
  lostEvents: number;
  lostBytes: number;
  checkpointFallbacks: number;
  fsyncs: number;
  checkpoints: number;
  diskReads: number;
  /** Puts refused because the disk was short (disk-space.ts) or a write failed retriably. */
  diskFullRefusals: number;
  /** Checkpoint writes that failed and were tried again. */
  checkpointRetries: number;
}

export class WalState {
  lifecycle: LifecycleState = 'IDLE';
  /** The lsn the next record written gets. */
  nextLsn = 1;
  /** Highest lsn written and synced; takers see up to here. */
  durableLsn = 0;
  readonly counters: WalCounters = {
    tornTails: 0,
    tornBytes: 0,
    corruptRecords: 0,
    lostRecords: 0,
    lostEvents: 0,
    lostBytes: 0,
    checkpointFallbacks: 0,
    fsyncs: 0,
    checkpoints: 0,
    diskReads: 0,
    diskFullRefusals: 0,
    checkpointRetries: 0,
  };
  /** Woken when bytes are freed (a segment deleted, a reservation released, a write failed). */
  readonly notFull = new WaitQueue();
  /** Woken when records become takeable (written, or given back) and at stop. */
  readonly notEmpty = new WaitQueue();

  constructor(
    readonly dir: string,
    readonly name: string,
    readonly opts: WalOptions,
    readonly log: Logger,
  ) {}
}
