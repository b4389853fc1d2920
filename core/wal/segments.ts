/**
 * The segment files of a WAL directory: which exist, the one being written, the free files kept
 * for reuse, and their deletion once acked (names and the stale records of free files: format.ts).
 *
 * - Segments are kept in lsn order; each one's `firstLsn` is one more than the last lsn of the
 *   one before, and only the last is ever written to (the active one, open for writing).
 * - `size` is a segment's valid bytes: what recovery kept or what the writer has synced. The file
 *   may be longer (a recycled file's old content); nothing past `size` is read.
 * - A segment goes only through `drop`, called once a durable checkpoint shows all its lsns
 *   acked: a full one becomes a free file (up to `recycleSegments` of them, and only while the
 *   segments and the free files fit in `capacityBytes`), others are deleted. `onDropped` then
 *   tells the take side to let go of it. `releaseFree` deletes the free files when the disk is
 *   short; `recycle = false` stops keeping new ones until it is set again.
 * - `diskBytes` is the sum of the segments' sizes, the figure the capacity applies to;
 *   `freeBytes` the free files' (a free file becomes the next segment, so it holds the space
 *   that segment will take).
 *
 * Every method that changes files is called from the WAL's one flush loop (or from open and
 * stop), never two at once.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { freeName, parseFreeName, parseSegmentName, segmentName } from './format';
import { syncDir } from '../sync-dir';

export interface Segment {
  firstLsn: number;
  file: string;
  /** Valid bytes: what recovery kept, or what the writer has synced. */
  size: number;
  /** Opened by the take side when it reads the segment back. */
  reader?: fs.FileHandle;
  deleted?: boolean;
}

export class SegmentFiles {
  /** Oldest first. */
  readonly list: Segment[] = [];
  /** The segment being written and its handle. */
  active: { seg: Segment; handle: fs.FileHandle } | null = null;
  diskBytes = 0;
  /** Bytes of the free files. */
  freeBytes = 0;
  /** Whether acked full segments are kept as free files (false while the disk is short). */
  recycle = true;
  /** Free files take at most this many bytes (set at open to 1/8 of a small file system). */
  maxFreeBytes = Infinity;
  /** Called after a segment is dropped (its bytes already off `diskBytes`). */
  onDropped: (seg: Segment) => void = () => undefined;
  /** Recycled segment files, oldest first, with their sizes. */
  private readonly free: Array<{ file: string; size: number }> = [];
  /** Free files found at open, until `keepFree` decides on them. */
  private found: Array<{ f: string; mark: number }> = [];

  constructor(
    private readonly dir: string,
    /** Set once more at open when the file system is small (wal.ts). */
    public segmentBytes: number,
    private readonly recycleSegments: number,
    private readonly capacityBytes: number,
  ) {}

  get freeFiles(): number {
    return this.free.length;
  }

  /** Lists the directory's segments (with their sizes on disk) and free files. */
  async scan(): Promise<void> {
    const files = await fs.readdir(this.dir);
    this.found = files.map((f) => ({ f, mark: parseFreeName(f) })).filter((x): x is { f: string; mark: number } => x.mark !== null);
    const names = files
      .map((f) => ({ f, lsn: parseSegmentName(f) }))
      .filter((s): s is { f: string; lsn: number } => s.lsn !== null)
      .sort((a, b) => a.lsn - b.lsn);
    for (const { f, lsn } of names) {
      const file = path.join(this.dir, f);
      this.list.push({ firstLsn: lsn, file, size: (await fs.stat(file)).size });
    }
  }

  /**
   * Keeps the free files found by `scan` for reuse once the next lsn is known. A free file's
   * stale records are all below its mark. Lsns only grow, so they are below any lsn a segment
   * made of it will be read for; a mark above `nextLsn` (both checkpoints lost) breaks that, and
   * such a file is deleted instead.
   */
  async keepFree(nextLsn: number): Promise<void> {
    this.diskBytes = this.list.reduce((sum, s) => sum + s.size, 0);
    for (const { f, mark } of this.found.sort((a, b) => a.mark - b.mark)) {
      const file = path.join(this.dir, f);
      const size = (await fs.stat(file)).size;
      if (mark <= nextLsn && this.mayKeep(size)) {
        this.free.push({ file, size });
        this.freeBytes += size;
      } else await fs.unlink(file);
    }
    this.found = [];
  }

  /** The segment to write `firstLsn` to: the active one while it has room, else a new one. */
  async activeSegment(firstLsn: number): Promise<{ seg: Segment; handle: fs.FileHandle }> {
    if (this.active && this.active.seg.size < this.segmentBytes) return this.active;
    if (this.active) await this.active.handle.close();
    const seg: Segment = { firstLsn, file: path.join(this.dir, segmentName(firstLsn)), size: 0 };
    const free = this.free[0];
    if (free !== undefined) await fs.rename(free.file, seg.file);
    // Gone from the list only once renamed: a failed rename leaves it a free file.
    if (free !== undefined) {
      this.free.shift();
      this.freeBytes -= free.size;
    }
    // A recycled file is written over from offset 0: its size says nothing, `seg.size` does.
    const handle = await fs.open(seg.file, free !== undefined ? 'r+' : 'wx');
    await syncDir(this.dir);
    this.list.push(seg);
    this.active = { seg, handle };
    return this.active;
  }

  /** Cuts the log back to `segmentsBefore` segments and the first one's `sizeBefore` bytes. */
  async undo(sizeBefore: number, segmentsBefore: number, firstSeg: Segment | undefined): Promise<void> {
    while (this.list.length > segmentsBefore) {
      const seg = this.list.pop()!;
      if (this.active?.seg === seg) {
        await this.active.handle.close().catch(() => undefined);
        this.active = null;
      }
      this.diskBytes -= seg.size;
      await fs.unlink(seg.file).catch(() => undefined);
    }
    if (firstSeg === undefined || !this.list.includes(firstSeg)) return;
    if (firstSeg.size > sizeBefore) {
      this.diskBytes -= firstSeg.size - sizeBefore;
      firstSeg.size = sizeBefore;
    }
    // Also what a failed write left past `size` (a short write before ENOSPC), and the records
    // of a segment the group had already rolled past: no lsn of the group may stay on disk.
    if (this.active?.seg === firstSeg) await this.active.handle.truncate(sizeBefore).catch(() => undefined);
    else await fs.truncate(firstSeg.file, sizeBefore).catch(() => undefined);
  }

  /** Drops the oldest segments while every lsn in them is below `ackedBelow`; never the active one. */
  async dropAcked(ackedBelow: number, nextLsn: number): Promise<void> {
    while (this.list.length > 1 && this.list[1].firstLsn <= ackedBelow) {
      const seg = this.list[0];
      if (this.active?.seg === seg) break;
      await this.drop(seg, nextLsn);
    }
  }

  /** Everything is acked: closes the active segment and drops every segment. */
  async dropAll(nextLsn: number): Promise<void> {
    await this.closeActive();
    for (const seg of [...this.list]) await this.drop(seg, nextLsn);
  }

  async drop(seg: Segment, nextLsn: number): Promise<void> {
    const i = this.list.indexOf(seg);
    // Above every lsn the file holds, and unique: segments do not overlap.
    const mark = this.list[i + 1]?.firstLsn ?? nextLsn;
    this.list.splice(i, 1);
    seg.deleted = true;
    await seg.reader?.close().catch(() => undefined);
    const free = path.join(this.dir, freeName(mark));
    this.diskBytes -= seg.size;
    if (seg.size >= this.segmentBytes && this.mayKeep(seg.size) && !this.free.some((f) => f.file === free)) {
      await fs.rename(seg.file, free);
      this.free.push({ file: free, size: seg.size });
      this.freeBytes += seg.size;
    } else {
      await fs.unlink(seg.file);
    }
    this.onDropped(seg);
  }

  /** Whether one more free file of `size` bytes may be kept. */
  private mayKeep(size: number): boolean {
    return (
      this.recycle &&
      this.free.length < this.recycleSegments &&
      this.freeBytes + size <= this.maxFreeBytes &&
      this.diskBytes + this.freeBytes + size <= this.capacityBytes
    );
  }

  /** Deletes every free file (the disk is short); returns how many bytes that gave back. */
  async releaseFree(): Promise<number> {
    let released = 0;
    while (this.free.length > 0) {
      const f = this.free[0];
      await fs.unlink(f.file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      this.free.shift();
      this.freeBytes -= f.size;
      released += f.size;
    }
    return released;
  }

  async closeActive(): Promise<void> {
    if (!this.active) return;
    await this.active.handle.close();
    this.active = null;
  }

  /** Closes every handle (the active segment's, the readers'). */
  async close(): Promise<void> {
    await this.closeActive();
    for (const seg of this.list) await seg.reader?.close().catch(() => undefined);
  }
}

/** Writes `buffers` at `position`, finishing short writes; at most IOV_MAX buffers per call. */
export async function writevAll(handle: fs.FileHandle, buffers: Buffer[], position: number): Promise<void> {
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
