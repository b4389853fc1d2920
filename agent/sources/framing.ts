/**
 * Splits a byte stream into messages: newline framing, and (for syslog) RFC 6587 octet counting
 * (`MSG-LEN SP MSG`), detected per message: digits, a space and a `<` start an octet-counted
 * message, anything else a line. Works on the received chunks in place; only a message split
 * across chunks is copied (once per chunk it spans).
 *
 * A line longer than `maxBytes` is dropped up to its newline and reported through `onReject`
 * ('oversize'), and the stream goes on with the next message. An octet count over `maxBytes` is
 * a framing error ('framing'): the count cannot be trusted (a client claiming 16 GB is either
 * broken or hostile), so nothing after it can be framed; the framer reports the bytes it really
 * received from there and ignores the rest of the stream, and its owner closes the connection.
 * A stream that ends inside a message reports it as truncated. Every byte count reported is of
 * bytes received, never of bytes declared.
 */
export interface FrameHandler {
  /** One message in buf[start, end), trailing CR/LF trimmed. The bytes are valid only during the call. */
  onFrame(buf: Buffer, start: number, end: number): void;
  onReject(reason: 'oversize' | 'truncated' | 'framing', bytes: number): void;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;

export class StreamFramer {
  private carry: Buffer | null = null;
  /** Dropping an oversized line up to its newline; `dropped` bytes so far. */
  private discarding = false;
  private dropped = 0;
  /** A framing error was met: the stream is not read any further. */
  private broken = false;

  constructor(
    private readonly maxBytes: number,
    private readonly octetCounting: boolean,
    private readonly handler: FrameHandler,
  ) {}

  /** Whether a framing error ended the stream (see the header); feeding more does nothing. */
  get failed(): boolean {
    return this.broken;
  }

  feed(chunk: Buffer): void {
    if (this.broken) return;
    let buf = chunk;
    if (this.carry !== null) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    const end = buf.length;
    const h = this.handler;
    let p = 0;
    while (p < end) {
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
            this.broken = true;
            h.onReject('framing', end - p);
            return;
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
    if (p < end) {
      // A short tail of a large chunk is copied, so that an idle connection holds only the
      // bytes of its unfinished message and not the whole chunk they arrived in.
      const tail = buf.subarray(p);
      this.carry = tail.length * 2 < tail.buffer.byteLength ? Buffer.from(tail) : tail;
    }
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
    if (this.broken) return;
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
