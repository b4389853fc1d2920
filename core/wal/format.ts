/**
 * The on-disk format of the write-ahead log, and the code that reads and writes it.
 *
 * A WAL directory holds segment files and two checkpoint slots:
 *
 *     seg-0000000000000001.wal   records with lsn 1, 2, ...   (name = lsn of its first record)
 *     seg-0000000000004f21.wal   ...
 *     checkpoint.0, checkpoint.1 written alternately; the valid one with the higher counter wins
 *     free-0000000000052a10.wal  an acked segment kept for reuse (mark: above every lsn it held)
 *
 * Record (little-endian), one per committed batch, back to back in a segment:
 *
 *     off  size  field
 *       0     4  magic        0x314c5746 ("FWL1")
 *       4     4  length       of the whole record, header included
 *       8     4  crc32c       over bytes [12, length)
 *      12     8  lsn          log sequence number: +1 per record, never reused, dense
 *      20     8  seq          the batch's sequence number (its id is origin + seq)
 *      28     4  count        events in the batch
 *      32     2  originLen
 *      34     n  origin       utf8
 *    34+n     .  payload      the encoded flume.EventBatch, exactly as it came off the wire
 *
 * Checkpoint slot: magic "FWC1", counter u32, ackedBelow u64, nextLsn u64, nDone u32,
 * nDone × u64 (lsns at or above ackedBelow that are acked out of order), crc32c u32 over all
 * that precedes it.
 *
 * Invariants:
 * - A record is appended only by the group-commit writer; lsns are consecutive in a segment and
 *   across segments, so segment N+1's name is one more than the last lsn of segment N.
 * - Every lsn below `ackedBelow`, and every lsn in the done list, has been taken and committed.
 * - A segment is deleted only after a durable checkpoint shows all of its lsns acked.
 *
 * A segment made of a free file is written over from offset 0, and its old records stay after the
 * new ones until overwritten. They are never read: every lsn in a free file is below its mark, the
 * segment made of it starts at an lsn at or above the mark, and the reader accepts only the next
 * lsn or (after a bad record) a higher one. Recovery truncates them away from the last segment;
 * in an older segment the reader stops at them as at any end.
 *
 * Recovery (see reader.ts): a record is good when its magic, length, CRC and lsn (exactly the
 * next one expected) all check out. At a bad record the reader looks ahead for the next good one
 * with a higher lsn: if it finds one, the bytes between are a corrupt record, dropped and counted
 * (their lsns are marked lost); if it finds none, the bad bytes are a torn tail, truncated and
 * counted. Either way the WAL opens: corruption is reported, never a crash loop.
 */
import { crc32c } from '@node-rs/crc32';

export const RECORD_MAGIC = 0x314c5746;
const CHECKPOINT_MAGIC = 0x31435746;
export const HEADER_BYTES = 34;
const MAX_RECORD_BYTES = 0x7fffffff;

const TWO_32 = 0x1_0000_0000;

function writeU64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32LE(value % TWO_32, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_32), offset + 4);
}

function readU64(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset) + buf.readUInt32LE(offset + 4) * TWO_32;
}

export function segmentName(firstLsn: number): string {
  return `seg-${firstLsn.toString(16).padStart(16, '0')}.wal`;
}

export function parseSegmentName(name: string): number | null {
  const m = /^seg-([0-9a-f]{16})\.wal$/.exec(name);
  return m ? parseInt(m[1], 16) : null;
}

export function freeName(mark: number): string {
  return `free-${mark.toString(16).padStart(16, '0')}.wal`;
}

export function parseFreeName(name: string): number | null {
  const m = /^free-([0-9a-f]{16})\.wal$/.exec(name);
  return m ? parseInt(m[1], 16) : null;
}

/** What a record carries besides its payload. */
export interface RecordMeta {
  lsn: number;
  seq: number;
  count: number;
  origin: string;
}

/** The CRC32C of `bytes[start, end)`, known without reading them again. */
export interface KnownCrc {
  start: number;
  end: number;
  crc: number;
}

const CRC32C_POLY = 0x82f63b78;

/** a(x)·b(x) modulo the CRC-32C polynomial, both reflected (zlib's multmodp). */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p = (p ^ b) >>> 0;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? ((b >>> 1) ^ CRC32C_POLY) >>> 0 : b >>> 1;
  }
  return p;
}

/** x^(2^k) modulo the polynomial, k = 0..31. */
const X2N: number[] = [0x40000000];
for (let k = 1; k < 32; k++) X2N.push(multModP(X2N[k - 1], X2N[k - 1]));

/** The CRC32C of A followed by B, from the CRC of A, the CRC of B and B's length (zlib's crc32_combine). */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  let xn = 0x80000000; // x^0
  let k = 3; // bytes to bits
  for (let n = lengthB; n > 0; n = Math.floor(n / 2), k++) {
    if (n % 2 === 1) xn = multModP(X2N[k & 31], xn);
  }
  return (multModP(xn, crcA) ^ crcB) >>> 0;
}

/**
 * Builds the header of a record; the payload is written after it unchanged (writev). With
 * `known` (the batch's events CRC, computed by its encoder or verified on receipt), the record
 * CRC is combined from it and only the bytes around that range are read.
 */
export function encodeHeader(meta: RecordMeta, payload: Buffer, known?: KnownCrc): Buffer {
  const originLen = Buffer.byteLength(meta.origin);
  const header = Buffer.allocUnsafe(HEADER_BYTES + originLen);
  header.writeUInt32LE(RECORD_MAGIC, 0);
  header.writeUInt32LE(header.length + payload.length, 4);
  writeU64(header, meta.lsn, 12);
  writeU64(header, meta.seq, 20);
  header.writeUInt32LE(meta.count, 28);
  header.writeUInt16LE(originLen, 32);
  header.write(meta.origin, HEADER_BYTES, 'utf8');
  let crc = crc32c(header.subarray(12));
  if (known && known.start >= 0 && known.start <= known.end && known.end <= payload.length) {
    crc = crc32c(payload.subarray(0, known.start), crc);
    crc = crc32cCombine(crc, known.crc, known.end - known.start);
    crc = crc32c(payload.subarray(known.end), crc);
  } else {
    crc = crc32c(payload, crc);
  }
  header.writeUInt32LE(crc, 8);
  return header;
}

export interface DecodedRecord extends RecordMeta {
  length: number;
  payload: Buffer;
}

/**
 * Decodes the record at `offset` of `buf` if a whole, valid one is there; returns null when the
 * bytes are not one (bad magic, impossible length, bad CRC) and 'short' when `buf` ends before
 * the record does and more bytes may follow.
 */
export function decodeRecord(buf: Buffer, offset: number): DecodedRecord | null | 'short' {
  if (buf.length - offset < HEADER_BYTES) return 'short';
  if (buf.readUInt32LE(offset) !== RECORD_MAGIC) return null;
  const length = buf.readUInt32LE(offset + 4);
  const originLen = buf.readUInt16LE(offset + 32);
  if (length < HEADER_BYTES + originLen || length > MAX_RECORD_BYTES) return null;
  if (buf.length - offset < length) return 'short';
  const crc = crc32c(buf.subarray(offset + 12, offset + length));
  if (crc !== buf.readUInt32LE(offset + 8)) return null;
  return {
    length,
    lsn: readU64(buf, offset + 12),
    seq: readU64(buf, offset + 20),
    count: buf.readUInt32LE(offset + 28),
    origin: buf.toString('utf8', offset + HEADER_BYTES, offset + HEADER_BYTES + originLen),
    payload: buf.subarray(offset + HEADER_BYTES + originLen, offset + length),
  };
}

/** The length a record claims, if its header looks like one; used to size a read. */
export function claimedLength(buf: Buffer, offset: number): number {
  if (buf.length - offset < 8 || buf.readUInt32LE(offset) !== RECORD_MAGIC) return 0;
  return buf.readUInt32LE(offset + 4);
}

/**
 * The event count a damaged record's header still claims, when its magic and lsn read right (the
 * damage is further on); 0 when the header itself is not legible. For counting what was lost only.
 */
export function claimedCount(buf: Buffer, offset: number, lsn: number): number {
  if (buf.length - offset < HEADER_BYTES || buf.readUInt32LE(offset) !== RECORD_MAGIC || readU64(buf, offset + 12) !== lsn) return 0;
  return buf.readUInt32LE(offset + 28);
}

export interface CheckpointState {
  counter: number;
  ackedBelow: number;
  nextLsn: number;
  done: number[];
}

export function encodeCheckpoint(state: CheckpointState): Buffer {
  const buf = Buffer.allocUnsafe(28 + state.done.length * 8 + 4);
  buf.writeUInt32LE(CHECKPOINT_MAGIC, 0);
  buf.writeUInt32LE(state.counter >>> 0, 4);
  writeU64(buf, state.ackedBelow, 8);
  writeU64(buf, state.nextLsn, 16);
  buf.writeUInt32LE(state.done.length, 24);
  let p = 28;
  for (const lsn of state.done) {
    writeU64(buf, lsn, p);
    p += 8;
  }
  buf.writeUInt32LE(crc32c(buf.subarray(0, p)), p);
  return buf;
}

export function decodeCheckpoint(buf: Buffer): CheckpointState | null {
  if (buf.length < 32 || buf.readUInt32LE(0) !== CHECKPOINT_MAGIC) return null;
  const n = buf.readUInt32LE(24);
  const end = 28 + n * 8;
  if (buf.length < end + 4) return null;
  if (crc32c(buf.subarray(0, end)) !== buf.readUInt32LE(end)) return null;
  const done: number[] = [];
  for (let p = 28; p < end; p += 8) done.push(readU64(buf, p));
  return { counter: buf.readUInt32LE(4), ackedBelow: readU64(buf, 8), nextLsn: readU64(buf, 16), done };
}
