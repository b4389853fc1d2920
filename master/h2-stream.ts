/**
 * One request stream of a server HTTP/2 connection (h2-connection.ts): the callbacks through
 * which the connection delivers the request, and the calls that send the response, queued
 * within the client's flow-control windows.
 *
 * Rules: `respond` once, then `write` any number of times, then `end` with trailers (or
 * `respond(block, true)` alone for a trailers-only reply); after the end or `reset` nothing more
 * is sent. Callbacks run on the event loop from the connection's socket handler.
 */
import type { H2ServerConnection } from './h2-connection';
import { FRAME, writeFrameHeader } from './h2-frames';

/** The owner sets the callbacks when the connection announces the stream. */
export class ServerStream {
  /** Request body, a view of received bytes valid during the call (copy to keep). */
  onData: (chunk: Buffer) => void = () => undefined;
  /** The client has sent all of its request. */
  onEnd: () => void = () => undefined;
  /** The client reset the stream or the connection is gone: stop working for it. */
  onCancel: () => void = () => undefined;
  /** Queued response bytes dropped below the limit again (see `queuedBytes`). */
  onDrain: () => void = () => undefined;

  remoteEnded = false;
  localEnded = false;
  headersSent = false;
  sendWindow: number;
  private queue: Buffer[] = [];
  private queued = 0;
  private trailers: Buffer | undefined;

  constructor(readonly connection: H2ServerConnection, readonly id: number, sendWindow: number) {
    this.sendWindow = sendWindow;
  }

  /** Response bytes waiting for flow-control window. */
  get queuedBytes(): number {
    return this.queued;
  }

  get closed(): boolean {
    return this.localEnded && this.remoteEnded;
  }

  /** Sends the response headers (an encoded block); `endStream` for a trailers-only reply. */
  respond(block: Buffer, endStream: boolean): void {
    if (this.localEnded || this.headersSent) return;
    this.headersSent = true;
    this.connection.sendHeaders(this, block, endStream);
  }

  /** Queues body bytes, sent as window allows. */
  write(data: Buffer): void {
    if (this.localEnded || data.length === 0) return;
    this.queue.push(data);
    this.queued += data.length;
    this.connection.flush(this);
  }

  /** Ends the response with trailers (an encoded block) once the queued body is out. */
  end(trailers: Buffer): void {
    if (this.localEnded || this.trailers) return;
    this.trailers = trailers;
    this.connection.flush(this);
  }

  /** Resets the stream (RST_STREAM `code`); nothing more is sent or delivered for it. */
  reset(code: number): void {
    this.connection.resetStream(this, code);
  }

  /** Called by the connection: sends what the windows allow; true when nothing is left. */
  pump(maxFrame: number, take: (n: number) => number, out: (b: Buffer) => void): boolean {
    while (this.queue.length > 0) {
      const head = this.queue[0];
      const n = take(Math.min(head.length, maxFrame, this.sendWindow));
      if (n <= 0) return false;
      const buf = Buffer.allocUnsafe(9 + n);
      writeFrameHeader(buf, 0, n, FRAME.DATA, 0, this.id);
      head.copy(buf, 9, 0, n);
      out(buf);
      this.sendWindow -= n;
      this.queued -= n;
      if (n === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(n);
    }
    if (this.trailers) {
      const t = this.trailers;
      this.trailers = undefined;
      this.connection.sendHeaders(this, t, true);
    }
    return true;
  }

  /** The reply to a unary call in one write when the windows allow it, else the queued way. */
  replyAll(headers: Buffer, message: Buffer, trailers: Buffer): void {
    if (this.localEnded) return;
    this.connection.replyAll(this, headers, message, trailers);
  }
}

