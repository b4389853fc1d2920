/**
 * Event values made safe to become part of a storage path (`%{host}`, `%{attr}`, `%{body}` in a
 * writer's dir or file template). An event's host and attributes come from whoever sent it, so
 * `../../etc`, `/abs`, NUL, newlines, 300 bytes or bytes that are not UTF-8 must neither leave
 * the storage root, nor fail the writer, nor merge with another value.
 *
 * The encoding, applied to the value's bytes (UTF-8 for a string):
 * - a byte stays as it is when it is printable ASCII (0x20-0x7e) other than `/`, `\` and `%`,
 *   and it is not a `.` at the start of the value;
 * - every other byte is written `%XX` (upper-case hex): `/` → `%2F`, NUL → `%00`, `é` → `%C3%A9`,
 *   a leading `.` → `%2E` (so a value is never `.`, `..` or a hidden name);
 * - a result longer than the limit (at most {@link PATH_VALUE_MAX} bytes) keeps its head, cut at a
 *   whole `%XX`, and ends in `%~` and 16 hex digits of the SHA-256 of the whole raw value.
 * Decoding `%XX` gives back the value's bytes exactly, and `%` is never left bare, so two
 * distinct values never encode alike (truncated ones apart from a 64-bit hash collision; `%~`
 * marks those and never appears otherwise). An empty value stays empty, as before.
 *
 * Why this holds: no output contains `/` or NUL, and no output starts with `.`, so whatever a
 * template puts around values, a path segment made only of dots (`.` or `..`) is all template
 * text, chosen by the operator: event values cannot climb out of the root.
 *
 * Cost: the common value (a host name, a short tag) is scanned once and used as it is; nothing is
 * allocated beyond the string the caller reads anyway. Only an unsafe or long value is encoded.
 */
import { createHash } from 'node:crypto';

/** Longest encoded value, in bytes (ASCII): leaves room for a few values and a suffix in a 255-byte name. */
export const PATH_VALUE_MAX = 128;
/** Shortest limit a template may give a value: a head, `%~` and the 16-digit hash. */
export const PATH_VALUE_MIN = 32;
const HASH_DIGITS = 16;
const HEX = '0123456789ABCDEF';

/** Whether byte (or char code) `c` stays as it is at position `i` of a value. */
function keeps(c: number, i: number): boolean {
  return c >= 0x20 && c <= 0x7e && c !== 0x2f && c !== 0x5c && c !== 0x25 && (c !== 0x2e || i > 0);
}

/** `s` made safe for a path, within `max` bytes; `s` itself (no copy) when it is safe already. */
export function pathValue(s: string, max = PATH_VALUE_MAX): string {
  const n = s.length;
  if (n <= max) {
    let i = 0;
    while (i < n && keeps(s.charCodeAt(i), i)) i++;
    if (i === n) return s;
  }
  const bytes = Buffer.from(s, 'utf8');
  return encode(bytes, 0, bytes.length, max);
}

/** The bytes `buf[start, end)` made safe for a path, within `max` bytes. */
export function pathValueOfBytes(buf: Buffer, start: number, end: number, max = PATH_VALUE_MAX): string {
  if (end - start <= max) {
    let i = start;
    while (i < end && keeps(buf[i], i - start)) i++;
    if (i === end) return buf.toString('latin1', start, end);
  }
  return encode(buf, start, end, max);
}

function encode(buf: Buffer, start: number, end: number, max: number): string {
  let out = '';
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (keeps(c, i - start)) out += String.fromCharCode(c);
    else out += `%${HEX[c >> 4]}${HEX[c & 15]}`;
    // Far enough past the limit: the head is decided, the hash covers the rest.
    if (out.length > max + 2) break;
  }
  if (out.length <= max) return out;
  let cut = Math.max(0, max - 2 - HASH_DIGITS);
  // Never split a `%XX`.
  if (out[cut - 1] === '%') cut -= 1;
  else if (out[cut - 2] === '%') cut -= 2;
  const hash = createHash('sha256').update(buf.subarray(start, end)).digest('hex').slice(0, HASH_DIGITS);
  return `${out.slice(0, cut)}%~${hash}`;
}

/** The bytes a non-truncated encoded value stands for (for tests and for operators' scripts). */
export function decodePathValue(s: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(s.charCodeAt(i));
    }
  }
  return Buffer.from(bytes);
}
