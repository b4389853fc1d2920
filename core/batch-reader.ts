/**
 * Decoding batches without copying them: {@link parseBatchHeader} reads the header and locates
 * the events without decoding them, {@link verifyBatch} checks their CRC32C (what a hop does
 * before it accepts a batch), and {@link EventCursor} walks the events in place, one reused object.
 *
 * Contract:
 * - Bytes that are not a batch throw MalformedBatchError; a CRC that does not match throws
 *   ChecksumError. Nothing here trusts a length it has not checked against the buffer's end.
 * - The reader accepts any field order (protobuf allows it); the CRC32C covers the concatenation
 *   of every encoded `events` field (tag, length, value), contiguous or not.
 * - No allocation per event: varints are read through one module-level position (`readPos`), and
 *   the cursor exposes byte ranges of the batch, with views made on demand.
 */
import { crc32c } from '@node-rs/crc32';
import { ChecksumError, MalformedBatchError } from './errors';
import { type BatchHeader, type Event, EVENTS_TAG, Priority } from './event-model';

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
function eventsCrc(buf: Buffer, header: BatchHeader): number {
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

const firstCursor = new EventCursor();
const NO_BYTES = Buffer.alloc(0);

/** The timestamp of a batch's first event (0 if none); keeps no reference to `batch`. */
export function firstEventTimestamp(batch: Buffer): number {
  const c = firstCursor.reset(batch);
  const ts = c.next() ? c.timestamp : 0;
  c.reset(NO_BYTES);
  return ts;
}

/** Decodes every event of a batch into objects: for tests and for decorators that need them. */
export function decodeEvents(batch: Buffer): Event[] {
  const out: Event[] = [];
  const cursor = new EventCursor().reset(batch);
  while (cursor.next()) out.push(cursor.toEvent());
  return out;
}
