/**
 * Reads the records of one segment in order, from a byte offset up to a byte limit, and steps
 * over corruption as the format header (format.ts) describes. Recovery scans the last segment
 * with it; takes that miss the in-memory cache read older records with it.
 *
 * Reads go into a {@link ReadBuffer} that readers may share and that the next read overwrites:
 * a record's payload is a view of it, valid until the reader's next call. A taker that keeps a
 * record copies it out (take.ts).
 */
import * as fs from 'node:fs/promises';
import { type DecodedRecord, HEADER_BYTES, RECORD_MAGIC, claimedCount, claimedLength, decodeRecord } from './format';

const MAGIC_BYTES = Buffer.alloc(4);
MAGIC_BYTES.writeUInt32LE(RECORD_MAGIC, 0);

export type ReadResult =
  | { kind: 'record'; record: DecodedRecord; offset: number }
  /**
   * Bytes [from, to) held no valid record; lsns [firstLost, record.lsn) are gone, with `events`
   * events as far as the first damaged header still tells (0: unknown).
   */
  | { kind: 'corrupt'; from: number; to: number; firstLost: number; events: number; record: DecodedRecord; offset: number }
  /**
   * No valid record from `from` to the limit: a torn tail if `from` < limit, unless `older` says
   * valid records with lower lsns follow (a recycled file's old content).
   */
  | { kind: 'end'; from: number; older?: boolean };

/**
 * One read buffer, reused from read to read (fresh memory costs a page fault per 4 KB here), and
 * grown when a record is larger. It holds the bytes of the last reader that filled it.
 */
export class ReadBuffer {
  private bytes: Buffer = Buffer.alloc(0);
  owner: SegmentReader | null = null;

  /** At least `size` bytes, for `reader` to fill; what was in them is gone. */
  claim(reader: SegmentReader, size: number): Buffer {
    if (this.bytes.length < size) this.bytes = Buffer.allocUnsafeSlow(size);
    this.owner = reader;
    return this.bytes;
  }
}

export class SegmentReader {
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;

  constructor(
    private readonly file: fs.FileHandle,
    private limit: number,
    private offset: number,
    private expectedLsn: number,
    private readonly scratch = new ReadBuffer(),
    // One tail batch (~2 MB) and then some: the read buffer is held for good (issue 16 item 9).
    private readonly chunkBytes = 2 * 1024 * 1024,
  ) {}

  get position(): number {
    return this.offset;
  }

  get nextLsn(): number {
    return this.expectedLsn;
  }

  /** Lets the reader see bytes appended since it was made (the segment grew). */
  extend(limit: number): void {
    this.limit = limit;
  }

  async next(): Promise<ReadResult> {
    if (this.offset >= this.limit) return { kind: 'end', from: this.offset };
    const at = await this.recordAt(this.offset);
    if (at && at.lsn === this.expectedLsn) {
      const offset = this.offset;
      this.offset += at.length;
      this.expectedLsn = at.lsn + 1;
      return { kind: 'record', record: at, offset };
    }
    return this.resync();
  }

  /** Looks past a bad record for the next good one with a higher lsn. */
  private async resync(): Promise<ReadResult> {
    const from = this.offset;
    const at = from - this.bufStart;
    const events = at >= 0 && at < this.buf.length ? claimedCount(this.buf, at, this.expectedLsn) : 0;
    let older = false;
    let search = from + 1;
    while (search + HEADER_BYTES <= this.limit) {
      await this.ensure(search, Math.min(this.chunkBytes, this.limit - search));
      const idx = this.buf.indexOf(MAGIC_BYTES, search - this.bufStart);
      if (idx < 0) {
        // Keep the last three bytes: a magic may straddle the chunk boundary.
        search = Math.max(search + 1, this.bufStart + this.buf.length - 3);
        if (this.bufStart + this.buf.length >= this.limit) break;
        continue;
      }
      const candidate = this.bufStart + idx;
      const record = await this.recordAt(candidate);
      if (record && record.lsn > this.expectedLsn) {
        const firstLost = this.expectedLsn;
        this.offset = candidate + record.length;
        this.expectedLsn = record.lsn + 1;
        return { kind: 'corrupt', from, to: candidate, firstLost, events, record, offset: candidate };
      }
      if (record) older = true;
      search = candidate + 1;
    }
    this.offset = this.limit;
    return { kind: 'end', from, older };
  }

  private async recordAt(offset: number): Promise<DecodedRecord | null> {
    if (offset + HEADER_BYTES > this.limit) return null;
    await this.ensure(offset, HEADER_BYTES);
    const claimed = claimedLength(this.buf, offset - this.bufStart);
    if (claimed < HEADER_BYTES || offset + claimed > this.limit) return null;
    await this.ensure(offset, claimed);
    const decoded = decodeRecord(this.buf, offset - this.bufStart);
    return decoded === 'short' ? null : decoded;
  }

  /** Makes bytes [offset, offset + length) available in `buf` (up to the limit). */
  private async ensure(offset: number, length: number): Promise<void> {
    const end = Math.min(offset + length, this.limit);
    const mine = this.scratch.owner === this;
    if (mine && offset >= this.bufStart && end <= this.bufStart + this.buf.length) return;
    const size = Math.min(Math.max(length, this.chunkBytes), this.limit - offset);
    const buf = this.scratch.claim(this, Math.max(size, this.chunkBytes));
    let filled = 0;
    while (filled < size) {
      const { bytesRead } = await this.file.read(buf, filled, size - filled, offset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    this.buf = buf.subarray(0, filled);
    this.bufStart = offset;
    if (filled < size) this.limit = offset + filled;
  }
}
