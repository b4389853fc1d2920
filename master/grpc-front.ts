/**
 * The master's gRPC port: one HTTP/2 server of our own (h2-connection.ts) that answers the hot
 * unary methods (Heartbeat) itself and relays every other call, unchanged, to the master's
 * grpc-js server on a private loopback port.
 *
 * Why: at 10,000 heartbeats/s the grpc-js server spent most of the master's CPU per call (its
 * interceptor chain, metadata objects, stream decoder on top of node's Http2Stream), and node's
 * per-call objects outlived the young generation, so the master paused 40-70 ms for a full GC
 * every few seconds: that was the heartbeat p99. A heartbeat is one small message each way;
 * answered from the frames themselves it costs a few microseconds and leaves no garbage behind.
 * Everything else (Admin, GetConfigs, GetChain) is rare and keeps grpc-js's full behaviour:
 * deadlines, status mapping, size limits, compression.
 *
 * Wire contract of a fast call (the gRPC-over-HTTP/2 protocol, as a grpc-js client sends it):
 * request `:method POST`, `content-type: application/grpc[+proto]`, body = one message framed as
 * 1 byte compressed-flag (0), 4 bytes big-endian length, the message. Reply: headers `:status 200`,
 * `content-type: application/grpc+proto`, one framed message, then trailers `grpc-status: 0`.
 * A failure is a trailers-only reply (`grpc-status`, `grpc-message` in the headers, end of stream).
 * A call the fast path cannot take as is (compressed with a `grpc-encoding`, an unknown path,
 * not gRPC) goes to grpc-js instead, which answers it as it always did. A fast call's
 * `grpc-timeout` is not enforced: its handler answers synchronously, within microseconds.
 *
 * Concurrency: everything runs on the event loop; a fast handler is synchronous and must not
 * keep the request Buffer past its return (it is a view of the received bytes).
 */
import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { FlumeError } from '../core/errors';
import { listen } from '../core/listen';
import { H2_ERROR, H2ServerConnection, type ServerStream } from './h2-connection';
import { encodeHeaderBlock } from './hpack';

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
  /** Told of each connection closed for a protocol error (garbage, not HTTP/2), with the peer's address. */
  onConnectionError?: (peer: string, err: Error) => void;
}

export const GRPC_FRONT_DEFAULTS = {
  maxMessageBytes: 4 * 1024 * 1024,
  /** How long `close()` lets calls in flight finish before cutting the connections. */
  closeGraceMs: 2_000,
} as const;

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;

const OK_HEADERS = encodeHeaderBlock([
  [':status', '200'], ['content-type', 'application/grpc+proto'], ['grpc-accept-encoding', 'identity'], ['grpc-encoding', 'identity'],
]);
const OK_TRAILERS = encodeHeaderBlock([['grpc-status', '0'], ['grpc-message', '']]);
const RELAY_SESSION_OPTIONS: http2.SessionOptions = { maxSessionMemory: 1024, settings: { enablePush: false } };
/** Relayed reply bytes waiting for the client's window before the relayed call is paused. */
const RELAY_HIGH_WATER = 1024 * 1024;
const noop = (): void => undefined;

/** The status a fast handler's error maps to: a FlumeError's own code, else INTERNAL. */
function statusOf(err: unknown): { code: number; message: string } {
  if (err instanceof FlumeError) return { code: err.grpcCode, message: err.message };
  return { code: grpc.status.INTERNAL, message: (err as Error)?.message ?? String(err) };
}

/** A trailers-only reply block carrying `code` and `message`. */
function statusBlock(code: number, message: string): Buffer {
  return encodeHeaderBlock([
    [':status', '200'], ['content-type', 'application/grpc+proto'], ['grpc-status', String(code)], ['grpc-message', encodeURI(message)],
  ]);
}

/** Header fields of a node http2 headers object (pseudo-headers first, as HTTP/2 requires). */
function fieldsOf(headers: http2.IncomingHttpHeaders, keepStatus: boolean): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  if (keepStatus && headers[':status'] !== undefined) fields.push([':status', String(headers[':status'])]);
  for (const name of Object.keys(headers)) {
    if (name[0] === ':') continue;
    const value = headers[name];
    if (Array.isArray(value)) for (const v of value) fields.push([name, v]);
    else if (value !== undefined) fields.push([name, String(value)]);
  }
  return fields;
}

export class GrpcFront {
  private readonly server: net.Server;
  private readonly connections = new Set<H2ServerConnection>();
  private readonly maxMessageBytes: number;
  private relaySession: http2.ClientHttp2Session | undefined;
  private closed = false;

  constructor(private readonly options: GrpcFrontOptions) {
    this.maxMessageBytes = options.maxMessageBytes ?? GRPC_FRONT_DEFAULTS.maxMessageBytes;
    this.server = net.createServer((socket) => {
      if (this.closed) {
        socket.destroy();
        return;
      }
      const peer = `${socket.remoteAddress}:${socket.remotePort}`;
      const connection: H2ServerConnection = new H2ServerConnection(socket, (stream, fields) => this.onStream(stream, fields),
        () => this.connections.delete(connection), (err) => this.options.onConnectionError?.(peer, err));
      this.connections.add(connection);
    });
  }

  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number> {
    return listen(this.server, this.options.port, this.options.host);
  }

  /** Stops accepting, lets calls in flight finish for up to `graceMs`, then cuts the rest. */
  close(graceMs: number = GRPC_FRONT_DEFAULTS.closeGraceMs): Promise<void> {
    this.closed = true;
    return new Promise((resolve) => {
      const force = setTimeout(() => {
        for (const c of this.connections) c.destroy();
      }, graceMs);
      this.server.close(() => {
        clearTimeout(force);
        this.relaySession?.close();
        resolve();
      });
      for (const c of this.connections) c.goAway();
    });
  }

  private onStream(stream: ServerStream, fields: Array<[string, string]>): void {
    let path = '';
    let contentType = '';
    let encoding = '';
    for (const [name, value] of fields) {
      if (name === ':path') path = value;
      else if (name === 'content-type') contentType = value;
      else if (name === 'grpc-encoding') encoding = value;
    }
    const handler = this.options.handlers.get(path);
    if (handler && contentType.startsWith('application/grpc') && (encoding === '' || encoding === 'identity')) this.fast(stream, handler);
    else this.relay(stream, fields);
  }

  /** A unary call answered here: the whole body is one frame, almost always in one DATA frame. */
  private fast(stream: ServerStream, handler: RawUnaryHandler): void {
    let body: Buffer | undefined;
    let parts: Buffer[] | undefined;
    let size = 0;
    stream.onData = (chunk) => {
      size += chunk.length;
      if (size > this.maxMessageBytes + 5) {
        stream.respond(statusBlock(grpc.status.RESOURCE_EXHAUSTED, `request larger than ${this.maxMessageBytes} bytes`), true);
        return;
      }
      if (body === undefined) body = chunk;
      else (parts ??= [body]).push(chunk);
    };
    stream.onEnd = () => {
      if (stream.localEnded) return;
      const message = parts ? Buffer.concat(parts) : body;
      body = undefined;
      parts = undefined;
      this.answer(stream, handler, message);
    };
  }

  private answer(stream: ServerStream, handler: RawUnaryHandler, body: Buffer | undefined): void {
    if (!body || body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
      stream.respond(statusBlock(grpc.status.INTERNAL, 'a unary call needs exactly one uncompressed message'), true);
      return;
    }
    let reply: Buffer;
    try {
      reply = handler(body.subarray(5));
    } catch (err) {
      const { code, message } = statusOf(err);
      stream.respond(statusBlock(code, message), true);
      return;
    }
    stream.replyAll(OK_HEADERS, reply, OK_TRAILERS);
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
   * body (within the client's flow-control windows) and trailers. A caller that cancels cancels
   * the relayed call too.
   */
  private relay(stream: ServerStream, fields: Array<[string, string]>): void {
    if (this.closed) {
      stream.respond(statusBlock(grpc.status.UNAVAILABLE, 'the master is stopping'), true);
      return;
    }
    const out: http2.OutgoingHttpHeaders = {};
    for (const [name, value] of fields) {
      if (name[0] === ':' && name !== ':method' && name !== ':path') continue;
      const prev = out[name];
      out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
    }
    let upstream: http2.ClientHttp2Stream;
    try {
      upstream = this.relayTo().request(out);
    } catch (err) {
      stream.respond(statusBlock(grpc.status.UNAVAILABLE, `the master's gRPC server is unreachable: ${(err as Error).message}`), true);
      return;
    }
    let trailers: http2.IncomingHttpHeaders | undefined;
    stream.onData = (chunk) => upstream.write(Buffer.from(chunk));
    stream.onEnd = () => upstream.end();
    stream.onCancel = () => {
      if (!upstream.closed) upstream.close(NGHTTP2_CANCEL);
    };
    stream.onDrain = () => upstream.resume();
    upstream.on('response', (head, flags) => {
      const block = encodeHeaderBlock(fieldsOf(head, true));
      const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
      stream.respond(block, endStream);
      if (endStream) upstream.resume();
    });
    upstream.on('data', (chunk: Buffer) => {
      stream.write(chunk);
      if (stream.queuedBytes > RELAY_HIGH_WATER) upstream.pause();
    });
    upstream.on('trailers', (t) => (trailers = t));
    upstream.on('end', () => {
      if (stream.localEnded) return;
      stream.end(trailers
        ? encodeHeaderBlock(fieldsOf(trailers, false))
        : encodeHeaderBlock([['grpc-status', String(grpc.status.INTERNAL)], ['grpc-message', 'relayed call ended without a status']]));
    });
    upstream.on('error', (err: Error) => {
      if (!stream.headersSent) stream.respond(statusBlock(grpc.status.UNAVAILABLE, `relayed call failed: ${err.message}`), true);
      else if (!stream.localEnded) stream.reset(H2_ERROR.INTERNAL_ERROR);
    });
  }
}
