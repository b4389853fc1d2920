/**
 * Encoding batches: {@link BatchBuilder} appends events into one reused scratch buffer and, on
 * `finish`, returns a single Buffer from the batch pool: header (id, count, crc32c) followed by
 * the events (the `flume.EventBatch` encoding, proto/flume.proto).
 *
 * Contract:
 * - One builder belongs to one producer; `finish` resets it for the next batch.
 * - The hot path allocates per batch, not per event: the scratch buffer grows by doubling and is
 *   kept; a host string is encoded once while it repeats; a line source appends a whole read at
 *   once (`appendLines`).
 * - The events are written last and contiguous, so the CRC32C in the header covers exactly one
 *   byte range, which a WAL record's CRC combines instead of reading the bytes again (wal/format.ts).
 */
import { crc32c } from '@node-rs/crc32';
import { batchPool, withRoom } from './buffer-pool';
import { type Event, EVENTS_TAG, Priority, TAG_COUNT, TAG_CRC, TAG_ID, varintSize, writeVarint } from './event-model';

/** Encoded size of an event's fields after body and attributes. */
function trailerSize(timestamp: number, nanos: number, priority: number, hostBytes: Buffer): number {
  let size = 0;
  if (timestamp > 0) size += 1 + varintSize(timestamp);
  if (nanos > 0) size += 1 + varintSize(nanos);
  if (priority > 0) size += 2;
  if (hostBytes.length > 0) size += 1 + varintSize(hostBytes.length) + hostBytes.length;
  return size;
}

/** Writes the fields `trailerSize` counted at `p`; returns the position after them. */
function writeTrailer(buf: Buffer, p: number, timestamp: number, nanos: number, priority: number, hostBytes: Buffer): number {
  if (timestamp > 0) {
    buf[p++] = 0x18;
    p = writeVarint(buf, p, timestamp);
  }
  if (nanos > 0) {
    buf[p++] = 0x20;
    p = writeVarint(buf, p, nanos);
  }
  if (priority > 0) {
    buf[p++] = 0x28;
    buf[p++] = priority;
  }
  if (hostBytes.length > 0) {
    buf[p++] = 0x32;
    p = writeVarint(buf, p, hostBytes.length);
    hostBytes.copy(buf, p);
    p += hostBytes.length;
  }
  return p;
}

/**
 * Accumulates events into a reused buffer and produces encoded batches.
 * One builder belongs to one producer; `finish` resets it for the next batch.
 */
export class BatchBuilder {
  private scratch: Buffer;
  private length = 0;
  private events = 0;
  private lastHost = '';
  private lastHostBytes = Buffer.alloc(0);
  private lineEnds = new Int32Array(1024);
  private trailer = Buffer.alloc(64);
  private trailerTimestamp = -1;
  private trailerPriority = -1;
  private trailerHost = '';
  private trailerLength = 0;
  /** Lines the last `appendLines` call appended. */
  lastLines = 0;

  constructor(
    readonly origin: string,
    initialBytes = 256 * 1024,
  ) {
    this.scratch = Buffer.allocUnsafe(initialBytes);
  }

  get count(): number {
    return this.events;
  }

  /** Encoded size of the events appended so far. */
  get byteLength(): number {
    return this.length;
  }

  append(
    body: Uint8Array,
    timestamp: number,
    priority: Priority = Priority.INFO,
    host = '',
    attributes?: ReadonlyMap<string, Uint8Array> | null,
    nanos = 0,
  ): void {
    if (host !== this.lastHost) {
      this.lastHost = host;
      this.lastHostBytes = Buffer.from(host);
    }
    const hostBytes = this.lastHostBytes;
    let size = 0;
    if (body.length > 0) size += 1 + varintSize(body.length) + body.length;
    let attrBytes = 0;
    if (attributes && attributes.size > 0) {
      for (const [k, v] of attributes) {
        const kl = Buffer.byteLength(k);
        const entry = 1 + varintSize(kl) + kl + 1 + varintSize(v.length) + v.length;
        attrBytes += 1 + varintSize(entry) + entry;
      }
      size += attrBytes;
    }
    size += trailerSize(timestamp, nanos, priority, hostBytes);

    this.ensure(1 + varintSize(size) + size);
    const buf = this.scratch;
    let p = this.length;
    buf[p++] = EVENTS_TAG;
    p = writeVarint(buf, p, size);
    if (body.length > 0) {
      buf[p++] = 0x0a;
      p = writeVarint(buf, p, body.length);
      buf.set(body, p);
      p += body.length;
    }
    if (attributes && attributes.size > 0) {
      for (const [k, v] of attributes) {
        const kl = Buffer.byteLength(k);
        const entry = 1 + varintSize(kl) + kl + 1 + varintSize(v.length) + v.length;
        buf[p++] = 0x12;
        p = writeVarint(buf, p, entry);
        buf[p++] = 0x0a;
        p = writeVarint(buf, p, kl);
        p += buf.write(k, p);
        buf[p++] = 0x12;
        p = writeVarint(buf, p, v.length);
        buf.set(v, p);
        p += v.length;
      }
    }
    this.length = writeTrailer(buf, p, timestamp, nanos, priority, hostBytes);
    this.events++;
  }

  /**
   * Appends the complete lines of `src[start, end)` as events that share timestamp, priority and
   * host: '\n' ends a line and is dropped, with a '\r' before it. Stops before a line longer than
   * `maxLine` bytes, and once the batch holds `maxEvents` events or `maxBytes` bytes (the line that
   * crosses `maxBytes` is in). Returns the position after the last line appended; `lastLines`
   * tells how many that was.
   *
   * Line sources call this once per read. The lines are copied in with one call, to the end of the
   * room their events will take, and each body is then moved down into place with `copyWithin`:
   * per line a memmove and a few byte writes, and no Buffer view (Buffer#copy makes one per call).
   */
  appendLines(
    src: Buffer,
    start: number,
    end: number,
    maxLine: number,
    maxEvents: number,
    maxBytes: number,
    timestamp: number,
    priority: Priority = Priority.INFO,
    host = '',
  ): number {
    const tl = this.setTrailer(timestamp, priority, host);
    let ends = this.lineEnds;
    let n = 0;
    let total = 0;
    let p = start;
    while (this.events + n < maxEvents && this.length + total < maxBytes) {
      const nl = src.indexOf(0x0a, p);
      if (nl < 0 || nl >= end) break;
      const len = (nl > p && src[nl - 1] === 0x0d ? nl - 1 : nl) - p;
      if (len > maxLine) break;
      const size = (len > 0 ? 1 + varintSize(len) + len : 0) + tl;
      total += 1 + varintSize(size) + size;
      if (n === ends.length) {
        const grown = new Int32Array(ends.length * 2);
        grown.set(ends);
        ends = this.lineEnds = grown;
      }
      ends[n++] = nl;
      p = nl + 1;
    }
    this.lastLines = n;
    if (n === 0) return start;
    // Every event is at least as long as its input line, bar a trailer-less event of a '\r\n'
    // line: two bytes of slack keep each body's header from reaching the staged body it precedes.
    this.ensure(total + 2);
    const out = this.scratch;
    const stage = this.length + total + 2 - (p - start);
    src.copy(out, stage, start, p);
    let w = this.length;
    let lineStart = start;
    let trailerAt = -1;
    for (let i = 0; i < n; i++) {
      const nl = ends[i];
      const len = (nl > lineStart && src[nl - 1] === 0x0d ? nl - 1 : nl) - lineStart;
      out[w++] = EVENTS_TAG;
      w = writeVarint(out, w, (len > 0 ? 1 + varintSize(len) + len : 0) + tl);
      if (len > 0) {
        out[w++] = 0x0a;
        w = writeVarint(out, w, len);
        const from = stage + (lineStart - start);
        out.copyWithin(w, from, from + len);
        w += len;
      }
      if (trailerAt < 0) {
        trailerAt = w;
        this.trailer.copy(out, w, 0, tl);
      } else {
        out.copyWithin(w, trailerAt, trailerAt + tl);
      }
      w += tl;
      lineStart = nl + 1;
    }
    this.length = w;
    this.events += n;
    return p;
  }

  /** Encodes the fields after body and attributes once for `appendLines`; returns their length. */
  private setTrailer(timestamp: number, priority: Priority, host: string): number {
    if (timestamp === this.trailerTimestamp && priority === this.trailerPriority && host === this.trailerHost) return this.trailerLength;
    if (host !== this.lastHost) {
      this.lastHost = host;
      this.lastHostBytes = Buffer.from(host);
    }
    const size = trailerSize(timestamp, 0, priority, this.lastHostBytes);
    if (this.trailer.length < size) this.trailer = Buffer.allocUnsafe(size);
    writeTrailer(this.trailer, 0, timestamp, 0, priority, this.lastHostBytes);
    this.trailerTimestamp = timestamp;
    this.trailerPriority = priority;
    this.trailerHost = host;
    this.trailerLength = size;
    return size;
  }

  appendEvent(e: Event): void {
    this.append(e.body, e.timestamp, e.priority, e.host, e.attributes, e.nanos);
  }

  /** Returns the encoded batch (a buffer of `batchPool`) and empties the builder. */
  finish(seq: number): Buffer {
    const out = encodeBatch(this.origin, seq, this.events, this.scratch.subarray(0, this.length), takePooled);
    this.length = 0;
    this.events = 0;
    return out;
  }

  private ensure(extra: number): void {
    this.scratch = withRoom(this.scratch, this.length, extra);
  }
}

const takePooled = (size: number): Buffer => batchPool.take(size);

/** Wraps already-encoded events (a run of `events` fields) into a batch, in a buffer from `alloc`. */
export function encodeBatch(
  origin: string,
  seq: number,
  count: number,
  events: Buffer,
  alloc: (size: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  const originLen = Buffer.byteLength(origin);
  let idLen = 0;
  if (originLen > 0) idLen += 1 + varintSize(originLen) + originLen;
  if (seq > 0) idLen += 1 + varintSize(seq);
  const headerLen = 1 + varintSize(idLen) + idLen + (count > 0 ? 1 + varintSize(count) : 0) + 5;
  const out = alloc(headerLen + events.length);
  let p = 0;
  out[p++] = TAG_ID;
  p = writeVarint(out, p, idLen);
  if (originLen > 0) {
    out[p++] = 0x0a;
    p = writeVarint(out, p, originLen);
    p += out.write(origin, p);
  }
  if (seq > 0) {
    out[p++] = 0x10;
    p = writeVarint(out, p, seq);
  }
  if (count > 0) {
    out[p++] = TAG_COUNT;
    p = writeVarint(out, p, count);
  }
  out[p++] = TAG_CRC;
  out.writeUInt32LE(crc32c(events), p);
  p += 4;
  events.copy(out, p);
  return out;
}

/** Encodes events into a batch: the convenience path, for tests and low-rate sources. */
export function encodeEvents(origin: string, seq: number, events: Iterable<Event>): Buffer {
  const builder = new BatchBuilder(origin, 4096);
  for (const e of events) builder.appendEvent(e);
  return builder.finish(seq);
}
