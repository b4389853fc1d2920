/**
 * Output formats of the file and console sinks, Flume OG's names: raw (body and a newline), json,
 * avrojson, syslog, log4j, debug.
 *
 * A format writes the current event of an {@link EventCursor} into an {@link OutputBuffer} that
 * the sink reuses for every batch: bytes are copied from the batch, escaped in place where the
 * format needs it; no per-event object is made (dates aside, which cost one small string).
 */
import { EventCursor, Priority } from '../event';
import { withRoom } from '../buffer-pool';

/** A growable byte buffer, reused across batches: `reset()`, write, then `view()`. */
export class OutputBuffer {
  buf: Buffer;
  length = 0;

  constructor(initial = 256 * 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  reset(): void {
    this.length = 0;
  }

  /** The bytes written since the last reset (valid until the next write). */
  view(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  ensure(extra: number): void {
    this.buf = withRoom(this.buf, this.length, extra);
  }

  bytes(src: Buffer, start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    if (n < 256) {
      // Buffer#copy costs a native call: for an event body a loop is cheaper.
      const buf = this.buf;
      let p = this.length;
      for (let i = start; i < end; i++) buf[p++] = src[i];
    } else {
      src.copy(this.buf, this.length, start, end);
    }
    this.length += n;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.length++] = b;
  }

  /** Writes a string as UTF-8. */
  text(s: string): void {
    this.ensure(s.length * 3);
    this.length += this.buf.write(s, this.length);
  }

  /** Writes bytes as the inside of a JSON string: quotes, backslashes and controls escaped. */
  jsonBytes(src: Buffer, start: number, end: number): void {
    this.ensure((end - start) * 6);
    const out = this.buf;
    let p = this.length;
    for (let i = start; i < end; i++) {
      const c = src[i];
      if (c === 0x22 || c === 0x5c) {
        out[p++] = 0x5c;
        out[p++] = c;
      } else if (c < 0x20) {
        out[p++] = 0x5c;
        if (c === 0x0a) out[p++] = 0x6e;
        else if (c === 0x0d) out[p++] = 0x72;
        else if (c === 0x09) out[p++] = 0x74;
        else {
          out[p++] = 0x75;
          out[p++] = 0x30;
          out[p++] = 0x30;
          out[p++] = HEX[c >> 4];
          out[p++] = HEX[c & 15];
        }
      } else {
        out[p++] = c;
      }
    }
    this.length = p;
  }

  jsonString(s: string): void {
    const b = Buffer.from(s);
    this.byte(0x22);
    this.jsonBytes(b, 0, b.length);
    this.byte(0x22);
  }
}

const HEX = Buffer.from('0123456789abcdef');

export interface OutputFormat {
  readonly name: string;
  /** Appends the cursor's current event, with its line terminator, to `out`. */
  write(event: EventCursor, out: OutputBuffer): void;
  /** Appends every event of an encoded batch, as `write` would one by one; for formats that do it faster. */
  writeBatch?(batch: Buffer, out: OutputBuffer): void;
}

const PRIORITY_NAMES = ['FATAL', 'ERROR', 'WARN', 'INFO', 'DEBUG', 'TRACE'] as const;

function priorityName(p: Priority): string {
  return PRIORITY_NAMES[p] ?? 'INFO';
}

const staged = new EventCursor();

const raw: OutputFormat = {
  name: 'raw',
  write(e, out) {
    out.bytes(e.buf, e.bodyStart, e.bodyEnd);
    out.byte(0x0a);
  },
  // The batch is copied in with one call and each body then moved down over the bytes before it:
  // a memmove per event instead of a byte loop. An event's encoding is longer than its body and a
  // newline, so what is written never reaches the event being read.
  writeBatch(batch, out) {
    out.ensure(batch.length);
    const buf = out.buf;
    let w = out.length;
    batch.copy(buf, w);
    const c = staged.reset(buf, w, w + batch.length);
    try {
      while (c.nextBody()) {
        buf.copyWithin(w, c.bodyStart, c.bodyEnd);
        w += c.bodyEnd - c.bodyStart;
        buf[w++] = 0x0a;
      }
      out.length = w;
    } finally {
      staged.reset(EMPTY);
    }
  },
};

const EMPTY = Buffer.alloc(0);

/** Walks the attribute entries of the current event; `fn(keyStart, keyEnd, valStart, valEnd)`. */
function forEachAttribute(e: EventCursor, fn: (ks: number, ke: number, vs: number, ve: number) => void): void {
  if (e.attrsStart < 0) return;
  const buf = e.buf;
  let pos = e.attrsStart;
  const end = e.eventEnd;
  while (pos < end) {
    const tag = buf[pos++]; // every Event field number is below 16: one-byte tags
    const wire = tag & 7;
    if (wire === 0) {
      pos = varint(buf, pos)[1];
      continue;
    }
    if (wire === 5 || wire === 1) {
      pos += wire === 5 ? 4 : 8;
      continue;
    }
    const [len, start] = varint(buf, pos);
    pos = start + len;
    if (tag !== 0x12) continue;
    let ks = start;
    let ke = start;
    let vs = start;
    let ve = start;
    let p = start;
    while (p < pos) {
      const t = buf[p++];
      const [l, q] = varint(buf, p);
      if (t === 0x0a) {
        ks = q;
        ke = q + l;
      } else if (t === 0x12) {
        vs = q;
        ve = q + l;
      }
      p = q + l;
    }
    fn(ks, ke, vs, ve);
  }
}

function varint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let mult = 1;
  for (;;) {
    const b = buf[pos++];
    result += (b & 0x7f) * mult;
    if (b < 0x80) return [result, pos];
    mult *= 128;
  }
}

/**
 * Flume OG's JSON event record. `avro` wraps the bytes fields (body, attribute values) as Avro's
 * JSON encoding does: `{"bytes": "..."}`.
 */
function writeJsonEvent(e: EventCursor, out: OutputBuffer, avro: boolean): void {
  out.text(avro ? '{"body":{"bytes":"' : '{"body":"');
  out.jsonBytes(e.buf, e.bodyStart, e.bodyEnd);
  out.text(`${avro ? '"}' : '"'},"timestamp":${e.timestamp},"pri":"${priorityName(e.priority)}","nanos":${e.nanos},"host":"`);
  out.jsonBytes(e.buf, e.hostStart, e.hostEnd);
  out.text('","fields":{');
  let first = true;
  forEachAttribute(e, (ks, ke, vs, ve) => {
    if (!first) out.byte(0x2c);
    first = false;
    out.byte(0x22);
    out.jsonBytes(e.buf, ks, ke);
    out.text(avro ? '":{"bytes":"' : '":"');
    out.jsonBytes(e.buf, vs, ve);
    out.text(avro ? '"}' : '"');
  });
  out.text('}}\n');
}

const json: OutputFormat = { name: 'json', write: (e, out) => writeJsonEvent(e, out, false) };

const avrojson: OutputFormat = { name: 'avrojson', write: (e, out) => writeJsonEvent(e, out, true) };

/** Syslog severities of our priorities (FATAL→crit … TRACE→debug), facility user (1). */
const SYSLOG_SEVERITY = [2, 3, 4, 6, 7, 7];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => (n < 10 ? '0' : '') + n;
const pad3 = (n: number): string => (n < 10 ? '00' : n < 100 ? '0' : '') + n;

/** RFC 3164 line: `<PRI>Mmm dd hh:mm:ss host body`, in UTC. */
const syslog: OutputFormat = {
  name: 'syslog',
  write(e, out) {
    const d = new Date(e.timestamp);
    const pri = 8 + (SYSLOG_SEVERITY[e.priority] ?? 6);
    const day = d.getUTCDate();
    out.text(
      `<${pri}>${MONTHS[d.getUTCMonth()]} ${day < 10 ? ' ' : ''}${day} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} `,
    );
    out.bytes(e.buf, e.hostStart, e.hostEnd);
    out.byte(0x20);
    out.bytes(e.buf, e.bodyStart, e.bodyEnd);
    out.byte(0x0a);
  },
};

function isoDate(ms: number, sep: string, fracSep: string): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}${sep}${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}${fracSep}${pad3(d.getUTCMilliseconds())}`;
}

/** log4j's default layout: `yyyy-MM-dd HH:mm:ss,SSS PRIORITY host: body`, in UTC. */
const log4j: OutputFormat = {
  name: 'log4j',
  write(e, out) {
    out.text(`${isoDate(e.timestamp, ' ', ',')} ${priorityName(e.priority).padEnd(5)} `);
    out.bytes(e.buf, e.hostStart, e.hostEnd);
    out.text(': ');
    out.bytes(e.buf, e.bodyStart, e.bodyEnd);
    out.byte(0x0a);
  },
};

/** Every field, for eyes: `host [PRIORITY date.nanos] { k : v ... } body`. */
const debug: OutputFormat = {
  name: 'debug',
  write(e, out) {
    out.bytes(e.buf, e.hostStart, e.hostEnd);
    out.text(` [${priorityName(e.priority)} ${isoDate(e.timestamp, 'T', '.')}Z nanos=${e.nanos}] {`);
    forEachAttribute(e, (ks, ke, vs, ve) => {
      out.byte(0x20);
      out.bytes(e.buf, ks, ke);
      out.text(' : ');
      out.bytes(e.buf, vs, ve);
    });
    out.text(' } ');
    out.bytes(e.buf, e.bodyStart, e.bodyEnd);
    out.byte(0x0a);
  },
};

const FORMATS: ReadonlyMap<string, OutputFormat> = new Map([raw, json, avrojson, syslog, log4j, debug].map((f) => [f.name, f]));
export const FORMAT_NAMES: readonly string[] = [...FORMATS.keys()];

export function getFormat(name: string): OutputFormat {
  const f = FORMATS.get(name);
  if (!f) throw new Error(`unknown output format ${name}; known formats: ${FORMAT_NAMES.join(', ')}`);
  return f;
}

/** Formats every event of an encoded batch into `out` (reset first). */
export function formatBatch(batch: Buffer, format: OutputFormat, out: OutputBuffer, cursor = new EventCursor()): Buffer {
  out.reset();
  if (format.writeBatch) {
    format.writeBatch(batch, out);
    return out.view();
  }
  cursor.reset(batch);
  while (cursor.next()) format.write(cursor, out);
  return out.view();
}
