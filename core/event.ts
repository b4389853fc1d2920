/**
 * Events and batches as bytes.
 *
 * A batch travels, and rests in every durable channel, as the protobuf encoding of
 * `flume.EventBatch` (proto/flume.proto). This module writes and reads that encoding by hand so
 * that the hot path allocates per batch, not per event:
 *
 *   - {@link BatchBuilder} appends events into one reused scratch buffer and, on `finish`,
 *     returns a single Buffer: header (id, count, crc32c) followed by the events;
 *   - {@link parseBatchHeader} reads the header and locates the events without decoding them;
 *   - {@link EventCursor} walks the events of a batch in place, one reused object.
 *
 * The CRC32C covers the concatenation of every encoded `events` field (tag, length, value).
 * Our writer puts the events last and contiguous; the reader accepts any field order.
 */
import { crc32c } from '@node-rs/crc32';
import { batchPool } from './buffer-pool';
import { ChecksumError, MalformedBatchError } from './errors';

export enum Priority {
  FATAL = 0,
  ERROR = 1,
  WARN = 2,
  INFO = 3,
  DEBUG = 4,
  TRACE = 5,
}

/** A decoded event, for code that needs one as an object (decorators, tests). */
export interface Event {
  body: Buffer;
  attributes: Map<string, Buffer>;
  timestamp: number;
  nanos: number;
  priority: Priority;
  host: string;
}

export function makeEvent(body: Buffer | string, fields: Partial<Omit<Event, 'body'>> = {}): Event {
  return {
    body: typeof body === 'string' ? Buffer.from(body) : body,
    attributes: fields.attributes ?? new Map(),
    timestamp: fields.timestamp ?? Date.now(),
    nanos: fields.nanos ?? 0,
    priority: fields.priority ?? Priority.INFO,
    host: fields.host ?? '',
  };
}

export interface BatchHeader {
  origin: string;
  seq: number;
  count: number;
  crc: number;
  /** Byte range of the events when they are contiguous (always, for batches we write). */
  eventsStart: number;
  eventsEnd: number;
}

const EVENTS_TAG = (15 << 3) | 2; // one byte: 0x7a
const TAG_ID = (1 << 3) | 2;
const TAG_COUNT = (2 << 3) | 0;
const TAG_CRC = (3 << 3) | 5;

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes a non-negative integer below 2^53 as a varint; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** Reads a varint (below 2^53) at `pos`; the position after it is left in `readPos`. */
let readPos = 0;
function readVarint(buf: Buffer, pos: number, end: number): number {
  let result = 0;
  let mult = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new MalformedBatchError('truncated varint');
    const b = buf[pos++];
    result += (b & 0x7f) * mult;
    if (b < 0x80) {
      readPos = pos;
      return result;
    }
    mult *= 128;
  }
  throw new MalformedBatchError('varint longer than 10 bytes');
}

function skipField(buf: Buffer, pos: number, wireType: number, end: number): number {
  switch (wireType) {
    case 0:
      readVarint(buf, pos, end);
      return readPos;
    case 1:
      return pos + 8;
    case 2: {
      const len = readVarint(buf, pos, end);
      return readPos + len;
    }
    case 5:
      return pos + 4;
    default:
      throw new MalformedBatchError(`unsupported wire type ${wireType}`);
  }
}

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

  constructor(readonly origin: string, initialBytes = 256 * 1024) {
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
    src: Buffer, start: number, end: number, maxLine: number, maxEvents: number, maxBytes: number,
    timestamp: number, priority: Priority = Priority.INFO, host = '',
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
    if (this.length + extra <= this.scratch.length) return;
    let size = this.scratch.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.scratch.copy(next, 0, 0, this.length);
    this.scratch = next;
  }
}

const takePooled = (size: number): Buffer => batchPool.take(size);

/** Wraps already-encoded events (a run of `events` fields) into a batch, in a buffer from `alloc`. */
export function encodeBatch(
  origin: string, seq: number, count: number, events: Buffer, alloc: (size: number) => Buffer = Buffer.allocUnsafe,
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

/** Reads the header of an encoded batch; throws MalformedBatchError on bytes that are not one. */
export function parseBatchHeader(buf: Buffer): BatchHeader {
  const end = buf.length;
  let origin = '';
  let seq = 0;
  let count = 0;
  let crc = 0;
  let eventsStart = -1;
  let eventsEnd = -1;
  let contiguous = true;
  let pos = 0;
  while (pos < end) {
    const tag = readVarint(buf, pos, end);
    pos = readPos;
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) {
      const len = readVarint(buf, pos, end);
      pos = readPos;
      const idEnd = pos + len;
      if (idEnd > end) throw new MalformedBatchError('batch id runs past the end');
      while (pos < idEnd) {
        const t = readVarint(buf, pos, idEnd);
        pos = readPos;
        if (t === 0x0a) {
          const l = readVarint(buf, pos, idEnd);
          pos = readPos;
          if (pos + l > idEnd) throw new MalformedBatchError('origin runs past the batch id');
          origin = buf.toString('utf8', pos, pos + l);
          pos += l;
        } else if (t === 0x10) {
          seq = readVarint(buf, pos, idEnd);
          pos = readPos;
        } else {
          pos = skipField(buf, pos, t & 7, idEnd);
        }
      }
    } else if (field === 2 && wire === 0) {
      count = readVarint(buf, pos, end);
      pos = readPos;
    } else if (field === 3 && wire === 5) {
      if (pos + 4 > end) throw new MalformedBatchError('truncated crc32c');
      crc = buf.readUInt32LE(pos);
      pos += 4;
    } else if (field === 15 && wire === 2) {
      const start = pos - 1;
      const len = readVarint(buf, pos, end);
      pos = readPos + len;
      if (pos > end) throw new MalformedBatchError('event runs past the end of the batch');
      if (eventsStart < 0) eventsStart = start;
      else if (eventsEnd !== start) contiguous = false;
      eventsEnd = pos;
    } else {
      pos = skipField(buf, pos, wire, end);
      if (pos > end) throw new MalformedBatchError(`field ${field} runs past the end`);
    }
  }
  if (eventsStart < 0) eventsStart = eventsEnd = end;
  if (!contiguous) eventsStart = eventsEnd = -1;
  return { origin, seq, count, crc, eventsStart, eventsEnd };
}

/** Computes the CRC32C of the events of a batch, however its fields are ordered. */
export function eventsCrc(buf: Buffer, header: BatchHeader): number {
  if (header.eventsStart >= 0) return crc32c(buf.subarray(header.eventsStart, header.eventsEnd));
  let crc = 0;
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    const tag = readVarint(buf, pos, buf.length);
    pos = readPos;
    const next = skipField(buf, pos, tag & 7, buf.length);
    if (tag === EVENTS_TAG) crc = crc32c(buf.subarray(start, next), crc);
    pos = next;
  }
  return crc;
}

/** Parses the header and checks the CRC: what a hop does before it accepts a batch. */
export function verifyBatch(buf: Buffer): BatchHeader {
  const header = parseBatchHeader(buf);
  const actual = eventsCrc(buf, header);
  if (actual !== header.crc) {
    throw new ChecksumError(`batch ${header.origin}#${header.seq}`, header.crc, actual);
  }
  return header;
}

/**
 * Walks the events of an encoded batch in place. `next()` moves to the following event and
 * returns false at the end; the fields describe the current event. Byte fields are ranges of
 * `buf`; `body()` and friends make views on demand.
 */
export class EventCursor {
  buf: Buffer = Buffer.alloc(0);
  bodyStart = 0;
  bodyEnd = 0;
  timestamp = 0;
  nanos = 0;
  priority: Priority = Priority.FATAL;
  hostStart = 0;
  hostEnd = 0;
  attrsStart = -1; // first attribute entry of the current event, or -1
  eventEnd = 0;
  private pos = 0;
  private end = 0;

  /** Points the cursor at a batch (the whole EventBatch encoding). */
  reset(buf: Buffer, start = 0, end = buf.length): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    return this;
  }

  next(): boolean {
    const buf = this.buf;
    while (this.pos < this.end) {
      const tag = readVarint(buf, this.pos, this.end);
      let pos = readPos;
      if (tag !== EVENTS_TAG) {
        this.pos = skipField(buf, pos, tag & 7, this.end);
        continue;
      }
      const len = readVarint(buf, pos, this.end);
      pos = readPos;
      const end = pos + len;
      if (end > this.end) throw new MalformedBatchError('event runs past the end of the batch');
      this.bodyStart = this.bodyEnd = this.hostStart = this.hostEnd = pos;
      this.timestamp = this.nanos = 0;
      this.priority = Priority.FATAL;
      this.attrsStart = -1;
      while (pos < end) {
        const t = readVarint(buf, pos, end);
        pos = readPos;
        switch (t) {
          case 0x0a: {
            const l = readVarint(buf, pos, end);
            this.bodyStart = readPos;
            this.bodyEnd = pos = readPos + l;
            break;
          }
          case 0x12: {
            if (this.attrsStart < 0) this.attrsStart = pos - 1;
            const l = readVarint(buf, pos, end);
            pos = readPos + l;
            break;
          }
          case 0x18:
            this.timestamp = readVarint(buf, pos, end);
            pos = readPos;
            break;
          case 0x20:
            this.nanos = readVarint(buf, pos, end);
            pos = readPos;
            break;
          case 0x28:
            this.priority = readVarint(buf, pos, end);
            pos = readPos;
            break;
          case 0x32: {
            const l = readVarint(buf, pos, end);
            this.hostStart = readPos;
            this.hostEnd = pos = readPos + l;
            break;
          }
          default:
            pos = skipField(buf, pos, t & 7, end);
        }
      }
      if (pos !== end) throw new MalformedBatchError('event fields overrun the event');
      this.eventEnd = end;
      this.pos = end;
      return true;
    }
    return false;
  }

  /**
   * Steps to the next event as `next` does, but reads only as far as its body when the body is
   * its first field (as our encoders write it): `bodyStart`, `bodyEnd` and `eventEnd` are set,
   * the other fields keep the previous event's values. For writers that need nothing else.
   */
  nextBody(): boolean {
    const buf = this.buf;
    const at = this.pos;
    if (at < this.end && buf[at] === EVENTS_TAG) {
      const len = readVarint(buf, at + 1, this.end);
      const pos = readPos;
      const end = pos + len;
      if (end > this.end) throw new MalformedBatchError('event runs past the end of the batch');
      if (pos < end && buf[pos] === 0x0a) {
        const l = readVarint(buf, pos + 1, end);
        if (readPos + l > end) throw new MalformedBatchError('event fields overrun the event');
        this.bodyStart = readPos;
        this.bodyEnd = readPos + l;
        this.eventEnd = end;
        this.pos = end;
        return true;
      }
    }
    return this.next();
  }

  body(): Buffer {
    return this.buf.subarray(this.bodyStart, this.bodyEnd);
  }

  host(): string {
    return this.buf.toString('utf8', this.hostStart, this.hostEnd);
  }

  attributes(): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    if (this.attrsStart < 0) return out;
    const buf = this.buf;
    let pos = this.attrsStart;
    while (pos < this.eventEnd) {
      const t = readVarint(buf, pos, this.eventEnd);
      pos = readPos;
      if (t !== 0x12) {
        pos = skipField(buf, pos, t & 7, this.eventEnd);
        continue;
      }
      const l = readVarint(buf, pos, this.eventEnd);
      pos = readPos;
      const entryEnd = pos + l;
      let key = '';
      let value: Buffer = Buffer.alloc(0);
      while (pos < entryEnd) {
        const et = readVarint(buf, pos, entryEnd);
        pos = readPos;
        const el = readVarint(buf, pos, entryEnd);
        pos = readPos;
        if (et === 0x0a) key = buf.toString('utf8', pos, pos + el);
        else if (et === 0x12) value = buf.subarray(pos, pos + el);
        pos += el;
      }
      out.set(key, value);
      pos = entryEnd;
    }
    return out;
  }

  /** Copies the current event into an object. */
  toEvent(): Event {
    const attributes = this.attributes();
    for (const [k, v] of attributes) attributes.set(k, Buffer.from(v));
    return {
      body: Buffer.from(this.body()),
      attributes,
      timestamp: this.timestamp,
      nanos: this.nanos,
      priority: this.priority,
      host: this.host(),
    };
  }
}

/** Decodes every event of a batch into objects: for tests and for decorators that need them. */
export function decodeEvents(batch: Buffer): Event[] {
  const out: Event[] = [];
  const cursor = new EventCursor().reset(batch);
  while (cursor.next()) out.push(cursor.toEvent());
  return out;
}

/** Encodes events into a batch: the convenience path, for tests and low-rate sources. */
export function encodeEvents(origin: string, seq: number, events: Iterable<Event>): Buffer {
  const builder = new BatchBuilder(origin, 4096);
  for (const e of events) builder.appendEvent(e);
  return builder.finish(seq);
}
