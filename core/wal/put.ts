/**
 * The put side of the WAL: capacity reservation and the group-commit writer.
 *
 * - A put reserves its record's bytes first (`reserve`): while the segment files plus every
 *   reservation would pass `capacityBytes`, it waits. That wait is the backpressure a full WAL
 *   applies to its source; it ends when a segment is dropped, a reservation released, or the
 *   channel stops (then it throws ChannelClosedError). A batch larger than the whole capacity
 *   can never fit and throws BatchTooLargeError at once.
 * - The disk applies backpressure too (disk-space.ts): a put that would leave less than the
 *   floor free first has the free files deleted (`wantRelease`, done by the flush loop), and if
 *   that is not enough it throws DiskFullError at once, holding nothing. It does not wait: the
 *   source holds its input back and tries again with a backoff (agent/sources/batcher.ts), and
 *   a collector answers RESOURCE_EXHAUSTED so that its agents do the same.
 * - A transaction's `commit` queues its batches (`append`); the flush loop (wal.ts) takes every
 *   commit queued so far as one group and writes it with `writeGroup`: records go to the active
 *   segment in one writev per segment, then one fdatasync covers the whole group. Commits that
 *   arrive while it runs form the next group.
 * - A group is all or nothing: after a failed write or sync the log is cut back to where it was
 *   (`SegmentFiles.undo`), every commit in the group is rejected, and no lsn of it was ever
 *   visible. Only after the sync are lsns given out, the records cached and takers woken. A
 *   failure the machine may recover from (ENOSPC, EDQUOT, EIO, ... per core/errors.ts) is
 *   rejected as DiskFullError; on ENOSPC/EDQUOT the free files are deleted and kept no more
 *   until a put finds room again.
 */
import { BatchTooLargeError, ChannelClosedError, DiskFullError, isRetriable } from '../errors';
import type { Batch } from '../channel';
import type { DiskSpace } from './disk-space';
import { HEADER_BYTES, encodeHeader } from './format';
import { type SegmentFiles, writevAll } from './segments';
import type { WalState } from './state';
import type { Rec, TakeSide } from './take';

interface PendingCommit {
  batches: Batch[];
  reserved: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The bytes a batch takes in a segment, header included. */
export function recordBytes(batch: Batch): number {
  return HEADER_BYTES + Buffer.byteLength(batch.origin) + batch.bytes.length;
}

export class PutSide {
  private pending: PendingCommit[] = [];
  private reservedBytes = 0;
  /** A put found the disk short while free files exist: the flush loop deletes them. */
  wantRelease = false;
  /** The last put was refused for want of disk and none has gone through since (said once per change; /status). */
  diskFull = false;

  constructor(
    private readonly s: WalState,
    private readonly segs: SegmentFiles,
    private readonly disk: DiskSpace,
    private readonly take: TakeSide,
    /** Starts the flush loop if it is not running. */
    private readonly kick: () => void,
  ) {}

  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /** Waits until `bytes` more fit in the capacity, and holds them. */
  async reserve(bytes: number): Promise<void> {
    const { opts } = this.s;
    if (bytes > opts.capacityBytes) throw new BatchTooLargeError(this.s.name, bytes, opts.capacityBytes);
    let released = false;
    for (;;) {
      if (this.s.lifecycle !== 'RUNNING') throw new ChannelClosedError(this.s.name);
      if (this.segs.diskBytes + this.reservedBytes + bytes > opts.capacityBytes) {
        const room = this.s.notFull.wait(1000);
        this.kick();
        await room;
        continue;
      }
      if (await this.disk.fits(this.reservedBytes + bytes)) break;
      this.segs.recycle = false;
      if (!released && this.segs.freeFiles > 0) {
        released = true;
        this.wantRelease = true;
        const room = this.s.notFull.wait(1000);
        this.kick();
        await room;
        continue;
      }
      this.s.counters.diskFullRefusals++;
      this.noteDiskFull(true);
      throw new DiskFullError(this.s.name, this.s.dir, 'HEADROOM', this.disk.freeBytes);
    }
    this.segs.recycle = true;
    this.reservedBytes += bytes;
    this.noteDiskFull(false);
  }

  private noteDiskFull(full: boolean): void {
    if (full === this.diskFull) return;
    this.diskFull = full;
    const at = { dir: this.s.dir, freeBytes: this.disk.freeBytes };
    if (full) this.s.log.warn('WAL disk full: puts are refused and the sources held back until space returns.', at);
    else this.s.log.info('WAL disk has room again: puts resume.', at);
  }

  release(bytes: number): void {
    this.reservedBytes -= bytes;
    this.s.notFull.wakeAll();
  }

  /** Queues a commit's batches for the next group; resolves once they are on disk. */
  append(batches: Batch[], reserved: number): Promise<void> {
    if (this.s.lifecycle !== 'RUNNING') {
      this.release(reserved);
      return Promise.reject(new ChannelClosedError(this.s.name));
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ batches, reserved, resolve, reject });
      this.kick();
    });
  }

  /** Writes every commit queued so far as one group (called by the flush loop only). */
  async flush(): Promise<void> {
    const group = this.pending;
    this.pending = [];
    await this.writeGroup(group);
  }

  /**
   * Writes a group of commits, rolling segments as they fill, and publishes it to takers only
   * once all of it is synced: a transaction is all on disk or, after a failure, none of it.
   */
  private async writeGroup(group: PendingCommit[]): Promise<void> {
    const { s, segs } = this;
    const firstLsn = s.nextLsn;
    const batches = group.length === 1 ? group[0].batches : group.flatMap((c) => c.batches);
    const sizeBefore = segs.active?.seg.size ?? 0;
    const segmentsBefore = segs.list.length;
    const recs: Rec[] = [];
    try {
      let lsn = firstLsn;
      let i = 0;
      while (i < batches.length) {
        const active = await segs.activeSegment(lsn);
        const buffers: Buffer[] = [];
        let offset = active.seg.size;
        do {
          const batch = batches[i++];
          const header = encodeHeader({ lsn, seq: batch.seq, count: batch.count, origin: batch.origin }, batch.bytes, batch.eventsCrc);
          const length = header.length + batch.bytes.length;
          buffers.push(header, batch.bytes);
          recs.push({ lsn: lsn++, length, seg: active.seg, offset, batch });
          offset += length;
        } while (i < batches.length && offset < s.opts.segmentBytes);
        await writevAll(active.handle, buffers, active.seg.size);
        await active.handle.datasync();
        s.counters.fsyncs++;
        this.disk.spend(offset - active.seg.size);
        segs.diskBytes += offset - active.seg.size;
        active.seg.size = offset;
      }
      s.nextLsn = lsn;
    } catch (err) {
      await segs.undo(sizeBefore, segmentsBefore, recs[0]?.seg);
      const refusal = await this.refusal(err);
      for (const commit of group) {
        this.reservedBytes -= commit.reserved;
        commit.reject(refusal);
      }
      s.notFull.wakeAll();
      return;
    }
    this.take.publish(recs);
    s.durableLsn = s.nextLsn - 1;
    for (const commit of group) {
      this.reservedBytes -= commit.reserved;
      commit.resolve();
    }
    s.notEmpty.wakeAll();
    s.notFull.wakeAll();
  }

  /** What a failed write is answered with: DiskFullError when trying again later may work. */
  private async refusal(err: unknown): Promise<unknown> {
    const { s, segs } = this;
    const code = String((err as NodeJS.ErrnoException).code ?? '');
    if (!isRetriable(err) || code === '') {
      s.log.error('WAL write failed', { dir: s.dir, error: (err as Error).message });
      return err;
    }
    s.counters.diskFullRefusals++;
    this.noteDiskFull(true);
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      segs.recycle = false;
      const released = await segs.releaseFree().catch(() => 0);
      this.disk.invalidate();
      s.log.warn('WAL disk full; the write is refused and the source held back', { dir: s.dir, code, releasedBytes: released });
    } else {
      s.log.error('WAL write failed; the source is held back and tries again', { dir: s.dir, error: (err as Error).message });
    }
    return new DiskFullError(s.name, s.dir, code, this.disk.freeBytes, { cause: err });
  }
}
