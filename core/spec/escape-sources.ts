/**
 * Where a template's values come from: an {@link EscapeSource} over a decoded Event (low-rate
 * paths, tests) or over an EventCursor's current event, read in place from the encoded batch
 * (the storage writers' hot path: no Map, no copy, attributes found in the bytes).
 */
import type { Event, EventCursor } from '../event';
import type { EscapeSource, PathPart } from './escapes';
import { pathValue, pathValueOfBytes } from './path-value';

/** Adapts a decoded Event (a new small object per call: for low-rate paths and tests). */
export function escapeSourceOfEvent(e: Event): EscapeSource {
  return {
    timestamp: e.timestamp,
    nanos: e.nanos,
    priority: e.priority,
    host: () => e.host,
    body: () => e.body.toString('utf8'),
    attribute: (name) => e.attributes.get(name)?.toString('utf8'),
    pathPart: (part, name, max) => {
      if (part === 'host') return pathValue(e.host, max);
      const bytes = part === 'body' ? e.body : e.attributes.get(name);
      return bytes === undefined ? undefined : pathValueOfBytes(bytes, 0, bytes.length, max);
    },
  };
}

/**
 * Adapts an EventCursor without copying: `of(cursor)` points the one reused object at the
 * cursor's current event. Attributes are looked up in the encoded bytes, no Map is built.
 */
export class CursorEscapeSource implements EscapeSource {
  private cursor: EventCursor | null = null;
  private readonly keyBytes = new Map<string, Buffer>();

  of(cursor: EventCursor): this {
    this.cursor = cursor;
    return this;
  }

  private get c(): EventCursor {
    if (this.cursor === null) throw new Error('CursorEscapeSource used before of(cursor)');
    return this.cursor;
  }

  get timestamp(): number {
    return this.c.timestamp;
  }

  get nanos(): number {
    return this.c.nanos;
  }

  get priority(): number {
    return this.c.priority;
  }

  host(): string {
    return this.c.host();
  }

  body(): string {
    const c = this.c;
    return c.buf.toString('utf8', c.bodyStart, c.bodyEnd);
  }

  attribute(name: string): string | undefined {
    const c = this.c;
    if (c.attrsStart < 0 || !findAttribute(c.buf, c.attrsStart, c.eventEnd, this.key(name))) return undefined;
    return c.buf.toString('utf8', foundStart, foundEnd);
  }

  pathPart(part: PathPart, name: string, max: number): string | undefined {
    const c = this.c;
    if (part === 'host') return pathValueOfBytes(c.buf, c.hostStart, c.hostEnd, max);
    if (part === 'body') return pathValueOfBytes(c.buf, c.bodyStart, c.bodyEnd, max);
    if (c.attrsStart < 0 || !findAttribute(c.buf, c.attrsStart, c.eventEnd, this.key(name))) return undefined;
    return pathValueOfBytes(c.buf, foundStart, foundEnd, max);
  }

  private key(name: string): Buffer {
    let key = this.keyBytes.get(name);
    if (key === undefined) {
      key = Buffer.from(name, 'utf8');
      if (this.keyBytes.size < 256) this.keyBytes.set(name, key);
    }
    return key;
  }
}

/** Reads a varint at `pos`; the position after it is left in `vrPos`. */
let vrPos = 0;
function readVarint(buf: Buffer, pos: number, end: number): number {
  let result = 0;
  let mult = 1;
  while (pos < end) {
    const b = buf[pos++];
    result += (b & 0x7f) * mult;
    if (b < 0x80) {
      vrPos = pos;
      return result;
    }
    mult *= 128;
  }
  vrPos = end;
  return result;
}

function skip(buf: Buffer, pos: number, wire: number, end: number): number {
  if (wire === 0) {
    readVarint(buf, pos, end);
    return vrPos;
  }
  if (wire === 1) return pos + 8;
  if (wire === 5) return pos + 4;
  const len = readVarint(buf, pos, end);
  return vrPos + len;
}

function bytesEqual(buf: Buffer, start: number, end: number, key: Buffer): boolean {
  if (end - start !== key.length) return false;
  for (let k = 0; k < key.length; k++) if (buf[start + k] !== key[k]) return false;
  return true;
}

/** Where {@link findAttribute} found the value: [foundStart, foundEnd) of its buffer. */
let foundStart = 0;
let foundEnd = 0;

/** Scans the attribute entries (field 2 of an Event) in [pos, end) for `key`; sets foundStart/End. */
function findAttribute(buf: Buffer, pos: number, end: number, key: Buffer): boolean {
  while (pos < end) {
    const tag = readVarint(buf, pos, end);
    pos = vrPos;
    if (tag !== 0x12) {
      pos = skip(buf, pos, tag & 7, end);
      continue;
    }
    const len = readVarint(buf, pos, end);
    pos = vrPos;
    const entryEnd = Math.min(pos + len, end);
    let matched = false;
    let valueStart = -1;
    let valueEnd = -1;
    while (pos < entryEnd) {
      const t = readVarint(buf, pos, entryEnd);
      pos = vrPos;
      if (t !== 0x0a && t !== 0x12) {
        pos = skip(buf, pos, t & 7, entryEnd);
        continue;
      }
      const l = readVarint(buf, pos, entryEnd);
      pos = vrPos;
      if (t === 0x0a) matched = bytesEqual(buf, pos, pos + l, key);
      else {
        valueStart = pos;
        valueEnd = pos + l;
      }
      pos += l;
    }
    if (matched) {
      foundStart = valueStart < 0 ? pos : valueStart;
      foundEnd = valueStart < 0 ? pos : valueEnd;
      return true;
    }
    pos = entryEnd;
  }
  return false;
}
