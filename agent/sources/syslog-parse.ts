/**
 * Syslog messages (RFC 5424 and RFC 3164) parsed on bytes, straight into a BatchBuilder.
 *
 * This is the hot path of `syslogTcp` and `syslogUdp`: no regex, no string, no allocation per
 * message. The parser finds the fields' byte ranges and {@link SyslogBatchWriter} encodes the
 * event straight from the received bytes (the same encoding BatchBuilder writes).
 *
 * What an event gets:
 *   body       the MSG part (a UTF-8 BOM dropped, trailing CR/LF trimmed by the framer)
 *   timestamp  the header's timestamp (RFC 3164: local time, this year or the last), else now
 *   host       the header's HOSTNAME, else the default host (the peer's address)
 *   priority   from the severity: 0-2 FATAL, 3 ERROR, 4 WARN, 5-6 INFO, 7 DEBUG (Flume OG's map)
 *   attributes syslogfacility, syslogseverity (decimal), and when present syslogappname,
 *              syslogprocid, syslogmsgid, syslogsd (RFC 5424 structured data, verbatim)
 *
 * A message without a valid `<PRI>` is not syslog: `parse` returns false and appends nothing.
 * A message with a valid PRI but an unrecognised header is accepted whole as the body.
 */
import { batchPool } from '../../core/buffer-pool';
import { encodeBatch, Priority, varintSize, writeVarint } from '../../core/event';
import type { BatchAccumulator } from './batcher';
import { withRoom } from '../../core/buffer-pool';

const ATTR_FACILITY = 'syslogfacility';
const ATTR_SEVERITY = 'syslogseverity';
const ATTR_APPNAME = 'syslogappname';
const ATTR_PROCID = 'syslogprocid';
const ATTR_MSGID = 'syslogmsgid';
const ATTR_SD = 'syslogsd';

const SEVERITY_PRIORITY: readonly Priority[] = [
  Priority.FATAL,
  Priority.FATAL,
  Priority.FATAL,
  Priority.ERROR,
  Priority.WARN,
  Priority.INFO,
  Priority.INFO,
  Priority.DEBUG,
];
const DECIMALS: readonly Buffer[] = Array.from({ length: 24 }, (_, i) => Buffer.from(String(i)));

const SP = 0x20;
const MONTHS = new Map<number, number>(
  ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'].map((m, i) => [
    (m.charCodeAt(0) << 16) | (m.charCodeAt(1) << 8) | m.charCodeAt(2),
    i,
  ]),
);

/** `0x0a varint(len) key`: the key part of an attribute entry, encoded once. */
function keyHeader(key: string): Buffer {
  const k = Buffer.from(key);
  return Buffer.concat([Buffer.from([0x0a, k.length]), k]);
}
const KEY_FACILITY = keyHeader(ATTR_FACILITY);
const KEY_SEVERITY = keyHeader(ATTR_SEVERITY);
const KEY_APPNAME = keyHeader(ATTR_APPNAME);
const KEY_PROCID = keyHeader(ATTR_PROCID);
const KEY_MSGID = keyHeader(ATTR_MSGID);
const KEY_SD = keyHeader(ATTR_SD);

/** Size of an attribute field (tag, length, entry) for a key header and a value length. */
function attrSize(key: Buffer, valueLength: number): number {
  const entry = key.length + 1 + varintSize(valueLength) + valueLength;
  return 1 + varintSize(entry) + entry;
}

/** Copies src[s, e) to dst at p; returns the position after. Small copies by hand (cheaper). */
function put(src: Buffer, s: number, e: number, dst: Buffer, p: number): number {
  const n = e - s;
  if (n < 24) {
    for (let i = 0; i < n; i++) dst[p + i] = src[s + i];
    return p + n;
  }
  src.copy(dst, p, s, e);
  return p + n;
}

function writeAttr(dst: Buffer, p: number, key: Buffer, src: Buffer, s: number, e: number): number {
  const vl = e - s;
  dst[p++] = 0x12;
  p = writeVarint(dst, p, key.length + 1 + varintSize(vl) + vl);
  p = put(key, 0, key.length, dst, p);
  dst[p++] = 0x12;
  p = writeVarint(dst, p, vl);
  return put(src, s, e, dst, p);
}

/**
 * Accumulates syslog events, encoded straight from the received bytes: the same encoding as
 * BatchBuilder (body, attributes, timestamp, priority, host, in that order) without building a
 * Map, a string or a view per message.
 */
export class SyslogBatchWriter implements BatchAccumulator {
  private scratch: Buffer;
  private length = 0;
  private events = 0;

  constructor(
    readonly origin: string,
    initialBytes = 256 * 1024,
  ) {
    this.scratch = Buffer.allocUnsafe(initialBytes);
  }

  get count(): number {
    return this.events;
  }

  get byteLength(): number {
    return this.length;
  }

  finish(seq: number): Buffer {
    const out = encodeBatch(this.origin, seq, this.events, this.scratch.subarray(0, this.length), (size) => batchPool.take(size));
    this.length = 0;
    this.events = 0;
    return out;
  }

  /** @internal Room for `extra` more bytes; returns the scratch buffer and the write position. */
  reserve(extra: number): Buffer {
    this.scratch = withRoom(this.scratch, this.length, extra);
    return this.scratch;
  }

  /** @internal */
  get position(): number {
    return this.length;
  }

  /** @internal Marks one event written, ending at `end`. */
  commit(end: number): void {
    this.length = end;
    this.events++;
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Two decimal digits at p, or -1. */
function d2(buf: Buffer, p: number): number {
  const a = buf[p] - 0x30;
  const b = buf[p + 1] - 0x30;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/** Index of the next space in [p, end), or end. */
function token(buf: Buffer, p: number, end: number): number {
  const i = buf.indexOf(SP, p);
  return i < 0 || i > end ? end : i;
}

export class SyslogParser {
  private defaultHostBytes: Buffer;
  private defaultHostName: string;
  /** The last RFC 5424 `YYYY-MM-DDThh:mm` seen and its epoch ms (UTC, before the zone offset). */
  private readonly isoMinuteKey = Buffer.alloc(16);
  private isoMinuteValue = -1;
  private readonly ts3164Key = Buffer.alloc(15);
  private ts3164Value = -1;
  // Ranges found by the header parsers, -1 when absent.
  private appS = -1;
  private appE = -1;
  private procS = -1;
  private procE = -1;
  private msgidS = -1;
  private msgidE = -1;
  private sdS = -1;
  private sdE = -1;

  /** `defaultHost`: the host of messages whose header names none (the peer, typically). */
  constructor(defaultHost: string) {
    this.defaultHostName = defaultHost;
    this.defaultHostBytes = Buffer.from(defaultHost);
  }

  get defaultHost(): string {
    return this.defaultHostName;
  }

  set defaultHost(host: string) {
    if (host === this.defaultHostName) return;
    this.defaultHostName = host;
    this.defaultHostBytes = Buffer.from(host);
  }

  /**
   * Parses the message in buf[start, end) and appends it to `writer`. Returns false, appending
   * nothing, when the bytes do not start with a valid `<PRI>`.
   */
  parse(writer: SyslogBatchWriter, buf: Buffer, start: number, end: number, now: number): boolean {
    // <PRI>: 1 to 3 digits, at most 191.
    if (end - start < 3 || buf[start] !== 0x3c) return false;
    let p = start + 1;
    let pri = 0;
    const priEnd = Math.min(end, p + 4);
    while (p < priEnd && isDigit(buf[p])) pri = pri * 10 + buf[p++] - 0x30;
    if (p === start + 1 || p >= end || buf[p] !== 0x3e || pri > 191) return false;
    p++;
    const facility = pri >> 3;
    const severity = pri & 7;
    this.appS = this.procS = this.msgidS = this.sdS = -1;

    let timestamp = now;
    let hostSrc = this.defaultHostBytes;
    let hostS = 0;
    let hostE = hostSrc.length;
    let msgStart: number;
    if (p + 1 < end && buf[p] >= 0x31 && buf[p] <= 0x39 && buf[p + 1] === SP) {
      // RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
      p += 2;
      let e = token(buf, p, end);
      if (!(e === p + 1 && buf[p] === 0x2d)) {
        const t = this.iso8601(buf, p, e);
        if (t >= 0) timestamp = t;
      }
      p = Math.min(e + 1, end);
      e = token(buf, p, end);
      if (e > p && !(e === p + 1 && buf[p] === 0x2d)) {
        hostSrc = buf;
        hostS = p;
        hostE = e;
      }
      p = Math.min(e + 1, end);
      e = token(buf, p, end);
      if (e > p && !(e === p + 1 && buf[p] === 0x2d)) {
        this.appS = p;
        this.appE = e;
      }
      p = Math.min(e + 1, end);
      e = token(buf, p, end);
      if (e > p && !(e === p + 1 && buf[p] === 0x2d)) {
        this.procS = p;
        this.procE = e;
      }
      p = Math.min(e + 1, end);
      e = token(buf, p, end);
      if (e > p && !(e === p + 1 && buf[p] === 0x2d)) {
        this.msgidS = p;
        this.msgidE = e;
      }
      p = Math.min(e + 1, end);
      if (p < end && buf[p] === 0x2d) {
        p++;
      } else if (p < end && buf[p] === 0x5b) {
        const sdEnd = this.structuredData(buf, p, end);
        this.sdS = p;
        this.sdE = sdEnd;
        p = sdEnd;
      }
      if (p < end && buf[p] === SP) p++;
      // A UTF-8 BOM announces a UTF-8 MSG; it is not part of it.
      if (p + 2 < end && buf[p] === 0xef && buf[p + 1] === 0xbb && buf[p + 2] === 0xbf) p += 3;
      msgStart = p;
    } else {
      // RFC 3164: [TIMESTAMP SP HOSTNAME SP] [TAG[PID]: ] MSG, everything optional in practice.
      let headed = false;
      if (end - p >= 16 && buf[p + 3] === SP && buf[p + 6] === SP && buf[p + 9] === 0x3a && buf[p + 12] === 0x3a && buf[p + 15] === SP) {
        const t = this.bsdTimestamp(buf, p, now);
        if (t >= 0) {
          timestamp = t;
          p += 16;
          headed = true;
        }
      } else if (end - p >= 20 && isDigit(buf[p]) && buf[p + 4] === 0x2d && buf[p + 10] === 0x54) {
        // RFC 3339 timestamp in a BSD-style header (rsyslog's high-precision template).
        const e = token(buf, p, end);
        const t = this.iso8601(buf, p, e);
        if (t >= 0) {
          timestamp = t;
          p = Math.min(e + 1, end);
          headed = true;
        }
      }
      if (headed) {
        const e = token(buf, p, end);
        // A hostname has no ':' or ']' at its end; if it has, the header skipped the hostname.
        if (e < end && e > p && buf[e - 1] !== 0x3a && buf[e - 1] !== 0x5d) {
          hostSrc = buf;
          hostS = p;
          hostE = e;
          p = e + 1;
        }
      }
      msgStart = this.bsdTag(buf, p, end);
    }
    this.write(writer, buf, msgStart, end, facility, severity, timestamp, hostSrc, hostS, hostE);
    return true;
  }

  private write(
    w: SyslogBatchWriter,
    buf: Buffer,
    bodyS: number,
    bodyE: number,
    facility: number,
    severity: number,
    timestamp: number,
    hostSrc: Buffer,
    hostS: number,
    hostE: number,
  ): void {
    const bodyLen = bodyE - bodyS;
    const fac = DECIMALS[facility];
    const sev = DECIMALS[severity];
    const priority = SEVERITY_PRIORITY[severity];
    const hostLen = hostE - hostS;
    let size = attrSize(KEY_FACILITY, fac.length) + attrSize(KEY_SEVERITY, sev.length);
    if (bodyLen > 0) size += 1 + varintSize(bodyLen) + bodyLen;
    if (this.appS >= 0) size += attrSize(KEY_APPNAME, this.appE - this.appS);
    if (this.procS >= 0) size += attrSize(KEY_PROCID, this.procE - this.procS);
    if (this.msgidS >= 0) size += attrSize(KEY_MSGID, this.msgidE - this.msgidS);
    if (this.sdS >= 0) size += attrSize(KEY_SD, this.sdE - this.sdS);
    if (timestamp > 0) size += 1 + varintSize(timestamp);
    if (priority > 0) size += 2;
    if (hostLen > 0) size += 1 + varintSize(hostLen) + hostLen;

    const dst = w.reserve(1 + varintSize(size) + size);
    let p = w.position;
    dst[p++] = 0x7a;
    p = writeVarint(dst, p, size);
    if (bodyLen > 0) {
      dst[p++] = 0x0a;
      p = writeVarint(dst, p, bodyLen);
      p = put(buf, bodyS, bodyE, dst, p);
    }
    p = writeAttr(dst, p, KEY_FACILITY, fac, 0, fac.length);
    p = writeAttr(dst, p, KEY_SEVERITY, sev, 0, sev.length);
    if (this.appS >= 0) p = writeAttr(dst, p, KEY_APPNAME, buf, this.appS, this.appE);
    if (this.procS >= 0) p = writeAttr(dst, p, KEY_PROCID, buf, this.procS, this.procE);
    if (this.msgidS >= 0) p = writeAttr(dst, p, KEY_MSGID, buf, this.msgidS, this.msgidE);
    if (this.sdS >= 0) p = writeAttr(dst, p, KEY_SD, buf, this.sdS, this.sdE);
    if (timestamp > 0) {
      dst[p++] = 0x18;
      p = writeVarint(dst, p, timestamp);
    }
    if (priority > 0) {
      dst[p++] = 0x28;
      dst[p++] = priority;
    }
    if (hostLen > 0) {
      dst[p++] = 0x32;
      p = writeVarint(dst, p, hostLen);
      p = put(hostSrc, hostS, hostE, dst, p);
    }
    w.commit(p);
  }

  /** TAG[PID]: — notes app name and proc id and returns where MSG starts (p if there is no tag). */
  private bsdTag(buf: Buffer, p: number, end: number): number {
    const limit = Math.min(end, p + 48);
    let i = p;
    while (i < limit) {
      const c = buf[i];
      if (c === 0x3a || c === 0x5b || c === SP) break;
      i++;
    }
    if (i === p || i >= limit) return p;
    const tagEnd = i;
    let procStart = -1;
    let procEnd = -1;
    if (buf[i] === 0x5b) {
      const close = buf.indexOf(0x5d, i);
      if (close < 0 || close >= limit) return p;
      procStart = i + 1;
      procEnd = close;
      i = close + 1;
    }
    if (i >= end || buf[i] !== 0x3a) return p;
    this.appS = p;
    this.appE = tagEnd;
    if (procStart >= 0) {
      this.procS = procStart;
      this.procE = procEnd;
    }
    i++;
    if (i < end && buf[i] === SP) i++;
    return i;
  }

  /** End of RFC 5424 STRUCTURED-DATA starting at '[' (quotes and backslash escapes honoured). */
  private structuredData(buf: Buffer, p: number, end: number): number {
    while (p < end && buf[p] === 0x5b) {
      let quoted = false;
      p++;
      while (p < end) {
        const c = buf[p];
        if (c === 0x5c) {
          p += 2;
          continue;
        }
        if (c === 0x22) quoted = !quoted;
        else if (c === 0x5d && !quoted) break;
        p++;
      }
      p = Math.min(p + 1, end);
    }
    return p;
  }

  /** `YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)` in buf[p, e) as epoch ms, or -1. */
  private iso8601(buf: Buffer, p: number, e: number): number {
    if (e - p < 20 || buf[p + 16] !== 0x3a) return -1;
    let minute = -1;
    const key = this.isoMinuteKey;
    if (this.isoMinuteValue >= 0) {
      let same = true;
      for (let i = 0; i < 16; i++) {
        if (key[i] !== buf[p + i]) {
          same = false;
          break;
        }
      }
      if (same) minute = this.isoMinuteValue;
    }
    if (minute < 0) {
      if (buf[p + 4] !== 0x2d || buf[p + 7] !== 0x2d || (buf[p + 10] !== 0x54 && buf[p + 10] !== 0x74) || buf[p + 13] !== 0x3a) return -1;
      const y1 = d2(buf, p);
      const y2 = d2(buf, p + 2);
      const mo = d2(buf, p + 5);
      const d = d2(buf, p + 8);
      const h = d2(buf, p + 11);
      const mi = d2(buf, p + 14);
      if (y1 < 0 || y2 < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59) return -1;
      minute = Date.UTC(y1 * 100 + y2, mo - 1, d, h, mi);
      buf.copy(key, 0, p, p + 16);
      this.isoMinuteValue = minute;
    }
    const s = d2(buf, p + 17);
    if (s < 0 || s > 60) return -1;
    let i = p + 19;
    let ms = 0;
    if (i < e && buf[i] === 0x2e) {
      i++;
      let digits = 0;
      while (i < e && isDigit(buf[i])) {
        if (digits < 3) ms = ms * 10 + buf[i] - 0x30;
        digits++;
        i++;
      }
      if (digits === 0) return -1;
      for (; digits < 3; digits++) ms *= 10;
    }
    let offsetMin = 0;
    if (i < e && (buf[i] === 0x5a || buf[i] === 0x7a)) {
      i++;
    } else if (i + 6 <= e && (buf[i] === 0x2b || buf[i] === 0x2d) && buf[i + 3] === 0x3a) {
      const oh = d2(buf, i + 1);
      const om = d2(buf, i + 4);
      if (oh < 0 || om < 0) return -1;
      offsetMin = (oh * 60 + om) * (buf[i] === 0x2d ? -1 : 1);
      i += 6;
    } else {
      return -1;
    }
    if (i !== e) return -1;
    return minute + s * 1000 + ms - offsetMin * 60_000;
  }

  /** `Mmm dd hh:mm:ss` (day space-padded) at p, local time, in the year that puts it nearest now. */
  private bsdTimestamp(buf: Buffer, p: number, now: number): number {
    const key = this.ts3164Key;
    if (this.ts3164Value >= 0 && buf.compare(key, 0, 15, p, p + 15) === 0) return this.ts3164Value;
    const month = MONTHS.get((buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2]);
    if (month === undefined) return -1;
    const day = buf[p + 4] === SP ? (isDigit(buf[p + 5]) ? buf[p + 5] - 0x30 : -1) : d2(buf, p + 4);
    const h = d2(buf, p + 7);
    const mi = d2(buf, p + 10);
    const s = d2(buf, p + 13);
    if (day < 1 || day > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60) return -1;
    const year = new Date(now).getFullYear();
    let t = new Date(year, month, day, h, mi, s).getTime();
    // No year in the header: a date more than a week ahead is from last year (December logs read in January).
    if (t > now + 7 * 86_400_000) t = new Date(year - 1, month, day, h, mi, s).getTime();
    buf.copy(key, 0, p, p + 15);
    this.ts3164Value = t;
    return t;
  }
}
