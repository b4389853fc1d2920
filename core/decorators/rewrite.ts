/**
 * Byte-level batch rewriting for decorators: walk the events of a batch in place and build a new
 * batch from whole events copied as they are, events with attributes added (appended fields; in a
 * protobuf map the last entry of a key wins) or dropped, without decoding an event into an object.
 *
 * Also the base class of every decorator: it holds the inner sink and forwards the lifecycle.
 */
import type { Batch } from '../channel';
import type { ComponentContext, Sink } from '../component';
import { encodeBatch, EventCursor, varintSize, writeVarint } from '../event';
import { EVENTS_ACCEPTED, EVENTS_SENT } from '../metrics';
import { withRoom } from '../buffer-pool';

function readVarint(buf: Buffer, pos: number, out: { pos: number }): number {
  let result = 0;
  let mult = 1;
  for (;;) {
    const b = buf[pos++];
    result += (b & 0x7f) * mult;
    if (b < 0x80) {
      out.pos = pos;
      return result;
    }
    mult *= 128;
  }
}

/** Walks the `events` fields of an encoded batch: `start` (tag), `contentStart`, `end`. */
export class EventSpans {
  start = 0;
  contentStart = 0;
  end = 0;
  /** A cursor positioned on the current event, for reading its fields. */
  readonly cursor = new EventCursor();
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private readonly at = { pos: 0 };

  reset(buf: Buffer): this {
    this.buf = buf;
    this.pos = 0;
    return this;
  }

  next(): boolean {
    const buf = this.buf;
    while (this.pos < buf.length) {
      const start = this.pos;
      const tag = readVarint(buf, this.pos, this.at);
      let p = this.at.pos;
      const wire = tag & 7;
      if (wire === 2) {
        const len = readVarint(buf, p, this.at);
        p = this.at.pos + len;
        if (tag === 0x7a) {
          this.start = start;
          this.contentStart = this.at.pos;
          this.end = p;
          this.pos = p;
          this.cursor.reset(buf, start, p);
          this.cursor.next();
          return true;
        }
      } else if (wire === 0) {
        readVarint(buf, p, this.at);
        p = this.at.pos;
      } else {
        p += wire === 5 ? 4 : 8;
      }
      this.pos = p;
    }
    return false;
  }
}

/** Encodes one attribute map entry as an Event field (`attributes`, tag 2). */
export function encodeAttribute(key: string, value: Uint8Array): Buffer {
  const k = Buffer.from(key);
  const entry = 1 + varintSize(k.length) + k.length + 1 + varintSize(value.length) + value.length;
  const out = Buffer.allocUnsafe(1 + varintSize(entry) + entry);
  let p = 0;
  out[p++] = 0x12;
  p = writeVarint(out, p, entry);
  out[p++] = 0x0a;
  p = writeVarint(out, p, k.length);
  p += k.copy(out, p);
  out[p++] = 0x12;
  p = writeVarint(out, p, value.length);
  out.set(value, p);
  return out;
}

/** Builds a batch from copied and amended events, in one reused buffer. */
export class BatchRewriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private length = 0;
  private events = 0;
  /** The event being built by beginEvent/endEvent. */
  private eventStart = -1;
  private readonly at = { pos: 0 };

  get count(): number {
    return this.events;
  }

  /** Copies a whole event field (tag, length, content) as it is. */
  copyEvent(src: Buffer, start: number, end: number): void {
    this.ensure(end - start);
    src.copy(this.buf, this.length, start, end);
    this.length += end - start;
    this.events++;
  }

  /** Starts an event; add content with `content`/`attribute`/`contentWithout`, then `endEvent`. */
  beginEvent(): void {
    // Reserve the tag and a 5-byte length; endEvent moves the content back if fewer are needed.
    this.ensure(6);
    this.eventStart = this.length;
    this.length += 6;
  }

  content(src: Buffer, start: number, end: number): void {
    this.ensure(end - start);
    src.copy(this.buf, this.length, start, end);
    this.length += end - start;
  }

  /** Copies the content fields of an event except the attributes whose key `drop` says; returns how many it dropped. */
  contentWithout(src: Buffer, start: number, end: number, drop: (key: string) => boolean): number {
    let dropped = 0;
    let pos = start;
    const at = this.at;
    while (pos < end) {
      const fieldStart = pos;
      const tag = readVarint(src, pos, at);
      let p = at.pos;
      const wire = tag & 7;
      if (wire === 2) {
        const len = readVarint(src, p, at);
        const valueStart = at.pos;
        p = valueStart + len;
        if (tag === 0x12 && drop(attributeKey(src, valueStart, p, at))) {
          pos = p;
          dropped++;
          continue;
        }
      } else if (wire === 0) {
        readVarint(src, p, at);
        p = at.pos;
      } else {
        p += wire === 5 ? 4 : 8;
      }
      this.content(src, fieldStart, p);
      pos = p;
    }
    return dropped;
  }

  endEvent(): void {
    const contentStart = this.eventStart + 6;
    const size = this.length - contentStart;
    const header = 1 + varintSize(size);
    const buf = this.buf;
    buf[this.eventStart] = 0x7a;
    writeVarint(buf, this.eventStart + 1, size);
    if (header < 6) buf.copy(buf, this.eventStart + header, contentStart, this.length);
    this.length -= 6 - header;
    this.events++;
    this.eventStart = -1;
  }

  /** The new batch (a fresh Buffer), keeping the id of the batch it came from; resets. */
  finish(origin: string, seq: number): Buffer {
    const out = encodeBatch(origin, seq, this.events, this.buf.subarray(0, this.length));
    this.length = 0;
    this.events = 0;
    return out;
  }

  private ensure(extra: number): void {
    this.buf = withRoom(this.buf, this.length, extra);
  }
}

function attributeKey(src: Buffer, start: number, end: number, at: { pos: number }): string {
  let p = start;
  while (p < end) {
    const t = readVarint(src, p, at);
    const l = readVarint(src, at.pos, at);
    if (t === 0x0a) return src.toString('utf8', at.pos, at.pos + l);
    p = at.pos + l;
  }
  return '';
}

/** A decorator: a sink that transforms batches and appends the result to `inner`. */
export abstract class Decorator implements Sink {
  constructor(
    protected readonly inner: Sink,
    protected readonly ctx: ComponentContext,
  ) {}

  get window(): number {
    return this.inner.window ?? 1;
  }

  open(): Promise<void> {
    return this.inner.open();
  }

  abstract append(batch: Batch): Promise<void>;

  flush(): Promise<void> {
    return this.inner.flush ? this.inner.flush() : Promise.resolve();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Appends a transformed batch (or the original, untouched) and counts in and out. */
  protected forward(original: Batch, bytes: Buffer | null, count: number): Promise<void> {
    this.ctx.counters.add(EVENTS_ACCEPTED, original.count);
    this.ctx.counters.add(EVENTS_SENT, count);
    if (bytes === null) return this.inner.append(original);
    if (count === 0) return Promise.resolve();
    return this.inner.append({ origin: original.origin, seq: original.seq, count, bytes });
  }
}

/**
 * A decorator that adds attributes to every event: `extra(cursor)` returns the encoded attribute
 * fields to append (see encodeAttribute), or null to leave the event as it is.
 */
export abstract class AttributeAdder extends Decorator {
  private readonly spans = new EventSpans();
  private readonly out = new BatchRewriter();

  protected abstract extra(event: EventCursor): Buffer | null;

  append(batch: Batch): Promise<void> {
    const spans = this.spans.reset(batch.bytes);
    const out = this.out;
    const src = batch.bytes;
    let changed = false;
    while (spans.next()) {
      const add = this.extra(spans.cursor);
      if (add === null) {
        out.copyEvent(src, spans.start, spans.end);
        continue;
      }
      changed = true;
      out.beginEvent();
      out.content(src, spans.contentStart, spans.end);
      out.content(add, 0, add.length);
      out.endEvent();
    }
    const count = out.count;
    const bytes = out.finish(batch.origin, batch.seq);
    return this.forward(batch, changed ? bytes : null, count);
  }
}
