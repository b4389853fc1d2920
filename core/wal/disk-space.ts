/**
 * How much room the file system under a WAL has left: the backpressure a disk applies, as the
 * capacity is the one the configuration applies.
 *
 * A WAL stops taking puts while the free space, less what it is about to write, would fall under
 * a floor (`minFreeBytes`; 'auto': 1/64 of the file system, between 1 MB and 64 MB). The floor is
 * left on purpose: what must still be written on a full disk (the WAL's checkpoints, a tail's
 * saved position, the node's sequence block and lock file) fits in it, so acks are recorded,
 * segments get freed and a node restarted on that disk opens. Running into ENOSPC anyway (another
 * process filled the disk) is handled by the writer (put.ts): the group is undone and refused.
 *
 * Measuring is a statfs(2) through libuv's thread pool; it is not done per put while there is
 * room. The last figure is kept and lowered by what the WAL writes since; it is measured again
 * when it is older than `maxAgeMs`, or at every put once the estimate comes within twice the
 * floor (the estimate misses block rounding and other writers: near the floor, ask).
 */
import * as fs from 'node:fs/promises';

const MB = 1024 * 1024;

export class DiskSpace {
  /** Free bytes at the last measure, less what the WAL wrote since. */
  private estimate = Infinity;
  private measuredAt = 0;
  private floor = 0;
  /** The last check found too little room; reset by the next one that finds enough. */
  short = false;

  constructor(
    private readonly dir: string,
    private readonly minFreeBytes: number | 'auto',
    private readonly maxAgeMs = 1000,
  ) {}

  /** The size of the file system (0 while not measured, or when it cannot say). */
  totalBytes = 0;

  /** Free bytes at the last measure, less what was written since. */
  get freeBytes(): number {
    return this.estimate;
  }

  /** Whether `bytes` more can be written while keeping the floor free. */
  async fits(bytes: number): Promise<boolean> {
    if (Date.now() - this.measuredAt < this.maxAgeMs && this.estimate - bytes >= 2 * this.floor) {
      this.short = false;
      return true;
    }
    await this.measure();
    this.short = this.estimate - bytes < this.floor;
    return !this.short;
  }

  /** Bytes written into new space (lowers the estimate until the next measure). */
  spend(bytes: number): void {
    this.estimate -= bytes;
  }

  /** Forgets the last figure: the next check measures (after files were deleted). */
  invalidate(): void {
    this.measuredAt = 0;
  }

  async measure(): Promise<void> {
    try {
      const st = await fs.statfs(this.dir);
      this.estimate = st.bavail * st.bsize;
      const total = st.blocks * st.bsize;
      this.totalBytes = total;
      this.floor = this.minFreeBytes === 'auto' ? Math.min(64 * MB, Math.max(MB, Math.floor(total / 64))) : this.minFreeBytes;
    } catch {
      // A file system that cannot say (or a dir gone): leave it to the writes to fail.
      this.estimate = Infinity;
    }
    this.measuredAt = Date.now();
  }
}
