/**
 * The master's gRPC port: one node:http2 server that answers the hot unary methods (Heartbeat)
 * itself and relays every other call, unchanged, to the master's grpc-js server on a private
 * loopback port.
 *
 * Why: at 10,000 heartbeats/s the grpc-js server spent most of the master's CPU per call (its
 * interceptor chain, metadata objects, stream decoder and an object per call on top of node's
 * Http2Stream), and the garbage it made showed up as heartbeat p99. A heartbeat is one small
 * message each way, so answering it straight from the Http2Stream costs about half as much.
 * Everything else (Admin, GetConfigs, GetChain) is rare and keeps grpc-js's full behaviour:
 * deadlines, status mapping, size limits, compression.
 *
 * Wire contract of a fast call (the gRPC-over-HTTP/2 protocol, as a grpc-js client sends it):
 * request `:method POST`, `content-type: application/grpc[+proto]`, body = one message framed as
 * 1 byte compressed-flag (0), 4 bytes big-endian length, the message. Reply: headers `:status 200`,
 * `content-type: application/grpc+proto`, one framed message, then trailers `grpc-status: 0`.
 * A failure is a trailers-only reply (`grpc-status`, `grpc-message` in the headers, end of stream).
 * A call the fast path cannot take as is (compressed with a `grpc-encoding`, an unknown path,
 * not gRPC) goes to grpc-js instead, which answers it as it always did.
 *
 * Concurrency: everything runs on the event loop; a fast handler is synchronous and must not
 * keep the request Buffer past its return (it is a view of the received bytes).
 */
import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { FlumeError } from '../core/errors';

/** A fast unary handler: the request message in, the reply message out; throw for a status. */
export type RawUnaryHandler = (request: Buffer) => Buffer;

export interface GrpcFrontOptions {
  /** Address to listen on. */
  host: string;
  /** Port (0: any free one). */
  port: number;
  /** `host:port` of the grpc-js server that answers every call not in `handlers`. */
  upstream: string;
  /** Fast handlers by gRPC path, e.g. `/flume.Master/Heartbeat`. */
  handlers: ReadonlyMap<string, RawUnaryHandler>;
  /** Largest request message a fast handler accepts (grpc-js's default receive limit). */
  maxMessageBytes?: number;
}

export const GRPC_FRONT_DEFAULTS = {
  maxMessageBytes: 4 * 1024 * 1024,
  /** How long `close()` lets calls in flight finish before cutting the connections. */
  closeGraceMs: 2_000,
} as const;

const { HTTP2_HEADER_STATUS, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_PATH, NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** Response headers of a successful fast call (node copies them; the object is never changed). */
const OK_HEADERS: http2.OutgoingHttpHeaders = Object.freeze({
  [HTTP2_HEADER_STATUS]: 200,
  [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc+proto',
  'grpc-accept-encoding': 'identity',
  'grpc-encoding': 'identity',
});
const OK_TRAILERS: http2.OutgoingHttpHeaders = Object.freeze({ 'grpc-status': '0', 'grpc-message': '' });
const OK_RESPONSE: http2.ServerStreamResponseOptions = Object.freeze({ waitForTrailers: true, sendDate: false });
const RELAY_SESSION_OPTIONS: http2.SessionOptions = { maxSessionMemory: 1024, settings: { enablePush: false } };
const noop = (): void => undefined;

/** The status a fast handler's error maps to: a FlumeError's own code, else INTERNAL. */
function statusOf(err: unknown): { code: number; message: string } {
  if (err instanceof FlumeError) return { code: err.grpcCode, message: err.message };
  return { code: grpc.status.INTERNAL, message: (err as Error)?.message ?? String(err) };
}

/** A trailers-only reply carrying `code` and `message`. */
function respondStatus(stream: http2.ServerHttp2Stream, code: number, message: string): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({
    [HTTP2_HEADER_STATUS]: 200,
    [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc+proto',
    'grpc-status': String(code),
    'grpc-message': encodeURI(message),
  }, { endStream: true });
}

function isGrpc(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.startsWith('application/grpc');
}

export class GrpcFront {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly maxMessageBytes: number;
  private relaySession: http2.ClientHttp2Session | undefined;
  private closed = false;

  constructor(private readonly options: GrpcFrontOptions) {
    this.maxMessageBytes = options.maxMessageBytes ?? GRPC_FRONT_DEFAULTS.maxMessageBytes;
    // Session memory unbounded as grpc-js does: node answers ENHANCE_YOUR_CALM past the limit,
    // which with thousands of heartbeats in flight on one connection would drop them.
    this.server = http2.createServer({ maxSessionMemory: Number.MAX_SAFE_INTEGER, settings: { enablePush: false } });
    this.server.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      session.on('error', noop); // a reset connection: its streams close and are forgotten
    });
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
  }

  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops accepting, lets calls in flight finish for up to `graceMs`, then cuts the rest. */
  close(graceMs: number = GRPC_FRONT_DEFAULTS.closeGraceMs): Promise<void> {
    this.closed = true;
    return new Promise((resolve) => {
      const force = setTimeout(() => {
        for (const s of this.sessions) s.destroy();
      }, graceMs);
      this.server.close(() => {
        clearTimeout(force);
        this.relaySession?.close();
        resolve();
      });
      for (const s of this.sessions) s.close();
    });
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', noop); // a cancelled call: nothing to answer
    const handler = this.options.handlers.get(headers[HTTP2_HEADER_PATH] as string);
    const encoding = headers['grpc-encoding'];
    if (!handler || (encoding !== undefined && encoding !== 'identity') || !isGrpc(headers[HTTP2_HEADER_CONTENT_TYPE] as string | undefined)) {
      this.relay(stream, headers);
      return;
    }
    // Unary: the whole body is one frame, almost always in one DATA chunk.
    let body: Buffer | undefined;
    let parts: Buffer[] | undefined;
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > this.maxMessageBytes + 5) {
        if (!stream.headersSent) respondStatus(stream, grpc.status.RESOURCE_EXHAUSTED, `request larger than ${this.maxMessageBytes} bytes`);
        return;
      }
      if (body === undefined) body = chunk;
      else (parts ??= [body]).push(chunk);
    });
    stream.on('end', () => {
      if (stream.headersSent || stream.destroyed) return;
      if (parts) body = Buffer.concat(parts);
      this.answer(stream, handler, body);
    });
  }

  private answer(stream: http2.ServerHttp2Stream, handler: RawUnaryHandler, body: Buffer | undefined): void {
    if (!body || body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
      respondStatus(stream, grpc.status.INTERNAL, 'a unary call needs exactly one uncompressed message');
      return;
    }
    let reply: Buffer;
    try {
      reply = handler(body.subarray(5));
    } catch (err) {
      const { code, message } = statusOf(err);
      respondStatus(stream, code, message);
      return;
    }
    const framed = Buffer.allocUnsafe(5 + reply.length);
    framed[0] = 0;
    framed.writeUInt32BE(reply.length, 1);
    reply.copy(framed, 5);
    stream.respond(OK_HEADERS, OK_RESPONSE);
    stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS));
    stream.end(framed);
  }

  /** The one HTTP/2 connection to the grpc-js server, opened on first use and after a loss. */
  private relayTo(): http2.ClientHttp2Session {
    if (this.relaySession && !this.relaySession.closed && !this.relaySession.destroyed) return this.relaySession;
    const session = http2.connect(`http://${this.options.upstream}`, RELAY_SESSION_OPTIONS);
    session.on('error', noop); // its streams fail with it; each reports UNAVAILABLE to its caller
    session.on('close', () => {
      if (this.relaySession === session) this.relaySession = undefined;
    });
    this.relaySession = session;
    return session;
  }

  /**
   * Relays one call to grpc-js as is: request headers and body, then its response headers,
   * body and trailers. A caller that cancels cancels the relayed call too.
   */
  private relay(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    if (this.closed) {
      respondStatus(stream, grpc.status.UNAVAILABLE, 'the master is stopping');
      return;
    }
    const out: http2.OutgoingHttpHeaders = {};
    for (const name of Object.keys(headers)) {
      if (name[0] !== ':' || name === ':method' || name === ':path') out[name] = headers[name];
    }
    let upstream: http2.ClientHttp2Stream;
    try {
      upstream = this.relayTo().request(out);
    } catch (err) {
      respondStatus(stream, grpc.status.UNAVAILABLE, `the master's gRPC server is unreachable: ${(err as Error).message}`);
      return;
    }
    let trailers: http2.IncomingHttpHeaders | undefined;
    upstream.on('response', (head, flags) => {
      if (stream.destroyed) return;
      const reply: http2.OutgoingHttpHeaders = {};
      for (const name of Object.keys(head)) if (name[0] !== ':' || name === HTTP2_HEADER_STATUS) reply[name] = head[name];
      if (flags & NGHTTP2_FLAG_END_STREAM) {
        stream.respond(reply, { endStream: true });
        upstream.resume();
        return;
      }
      stream.respond(reply, { waitForTrailers: true });
      stream.once('wantTrailers', () => {
        stream.sendTrailers(trailers ? copyHeaders(trailers) : { 'grpc-status': String(grpc.status.INTERNAL), 'grpc-message': 'relayed call ended without a status' });
      });
      upstream.pipe(stream);
    });
    upstream.on('trailers', (t) => (trailers = t));
    upstream.on('error', (err: Error) => {
      if (!stream.headersSent) respondStatus(stream, grpc.status.UNAVAILABLE, `relayed call failed: ${err.message}`);
      else if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
    stream.on('close', () => {
      if (!upstream.closed) upstream.close(NGHTTP2_CANCEL);
    });
    stream.pipe(upstream);
  }
}

function copyHeaders(h: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const name of Object.keys(h)) if (name[0] !== ':') out[name] = h[name];
  return out;
}
