/**
 * Splits a byte stream into messages: newline framing, and (for syslog) RFC 6587 octet counting
 * (`MSG-LEN SP MSG`), detected per message: digits, a space and a `<` start an octet-counted
 * message, anything else a line. Works on the received chunks in place; only a message split
 * across chunks is copied (once per chunk it spans).
 *
 * A message longer than `maxBytes` is dropped and reported through `onReject`, and the stream
 * goes on with the next message: an octet-counted one is skipped by its length, a line up to its
 * newline. A stream that ends inside a message reports it as truncated.
 */
export interface FrameHandler {
  /** One message in buf[start, end), trailing CR/LF trimmed. The bytes are valid only during the call. */
  onFrame(buf: Buffer, start: number, end: number): void;
  onReject(reason: 'oversize' | 'truncated', bytes: number): void;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;

export class StreamFramer {
  private carry: Buffer | null = null;
  /** Bytes of an oversized octet-counted message still to skip. */
  private skip = 0;
  /** Dropping an oversized line up to its newline; `dropped` bytes so far. */
  private discarding = false;
  private dropped = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly octetCounting: boolean,
    private readonly handler: FrameHandler,
  ) {}

  feed(chunk: Buffer): void {
    let buf = chunk;
    if (this.carry !== null) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    const end = buf.length;
    const h = this.handler;
    let p = 0;
    while (p < end) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, end - p);
        p += n;
        this.skip -= n;
        continue;
      }
      if (this.discarding) {
        const nl = buf.indexOf(LF, p);
        if (nl < 0) {
          this.dropped += end - p;
          p = end;
          break;
        }
        this.dropped += nl - p;
        p = nl + 1;
        this.discarding = false;
        h.onReject('oversize', this.dropped);
        continue;
      }
      const c = buf[p];
      if (c === LF || c === CR || c === 0) {
        p++;
        continue;
      }
      if (this.octetCounting && c >= 0x31 && c <= 0x39) {
        let q = p;
        let len = 0;
        while (q < end && q - p < 10 && buf[q] >= 0x30 && buf[q] <= 0x39) len = len * 10 + buf[q++] - 0x30;
        if (q === end && q - p < 10) break; // the length is split across chunks
        // A syslog message starts with '<': digits and a space before anything else are a line
        // that happens to start with a number, not an octet count (RFC 6587's ambiguity).
        if (buf[q] === SP && q + 1 === end) break; // is a '<' next? wait for the next byte
        if (buf[q] === SP && buf[q + 1] === 0x3c) {
          const s = q + 1;
          if (len > this.maxBytes) {
            h.onReject('oversize', len);
            this.skip = len;
            p = s;
            continue;
          }
          if (s + len > end) break; // wait for the rest of the message
          let e = s + len;
          while (e > s && (buf[e - 1] === LF || buf[e - 1] === CR)) e--;
          h.onFrame(buf, s, e);
          p = s + len;
          continue;
        }
        // Digits not followed by a space: not an octet count, so a line.
      }
      const nl = buf.indexOf(LF, p);
      if (nl < 0) {
        if (end - p > this.maxBytes) {
          this.discarding = true;
          this.dropped = end - p;
          p = end;
        }
        break;
      }
      if (nl - p > this.maxBytes) {
        h.onReject('oversize', nl - p);
        p = nl + 1;
        continue;
      }
      const e = buf[nl - 1] === CR && nl > p ? nl - 1 : nl;
      h.onFrame(buf, p, e);
      p = nl + 1;
    }
    if (p < end) this.carry = buf.subarray(p);
  }

  /** The stream ended: a last line without newline is a message; a cut octet-counted one is not. */
  end(): void {
    const carry = this.carry;
    this.carry = null;
    if (this.discarding) {
      this.discarding = false;
      this.handler.onReject('oversize', this.dropped);
      return;
    }
    if (this.skip > 0) {
      this.skip = 0;
      return;
    }
    if (carry === null || carry.length === 0) return;
    const c = carry[0];
    if (this.octetCounting && c >= 0x31 && c <= 0x39) {
      const sp = carry.indexOf(SP);
      let digits = sp > 0 && sp <= 10 && carry[sp + 1] === 0x3c;
      for (let i = 0; digits && i < sp; i++) digits = carry[i] >= 0x30 && carry[i] <= 0x39;
      if (digits) {
        this.handler.onReject('truncated', carry.length);
        return;
      }
    }
    let e = carry.length;
    while (e > 0 && (carry[e - 1] === CR || carry[e - 1] === LF)) e--;
    if (e > 0) this.handler.onFrame(carry, 0, e);
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.carry?.length ?? 0;
  }
}
