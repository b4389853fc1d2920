/**
 * A lean gRPC unary caller over one HTTP/2 connection, written on a plain TCP socket, for the
 * master benchmark: 10,000 simulated nodes in one load process must not cost that process more
 * CPU than the master it measures (node's http2 client spent ~50 us per call, the master ~30).
 *
 * What goes on the wire is what a grpc-js client sends: the connection preface and SETTINGS,
 * per call a HEADERS frame with grpc-js's fields (`:method POST`, `:path`, `content-type:
 * application/grpc`, `te: trailers`, `grpc-timeout`, `user-agent`, ...) and a DATA frame with
 * END_STREAM carrying the length-prefixed message. Replies are parsed in full: HPACK-decoded headers and trailers
 * (`:status`, `grpc-status`, `grpc-message`), DATA reassembled, RST_STREAM and GOAWAY honoured,
 * PING answered, flow control kept on both sides. What it leaves out: TLS, server push (off),
 * priorities, requests over one DATA frame (16 KiB; refused).
 *
 * Concurrency: single-threaded; calls made in one turn of the event loop go out in one write.
 */
import * as net from 'node:net';
import { FLAG, FRAME, PREFACE, TurnWriter, frame, u32Frame, writeFrameHeader } from '../../master/h2-frames';
import { HpackDecoder, encodeHeaderBlock } from '../../master/hpack';

export type CallDone = (err: Error | null, reply?: Buffer) => void;

interface Pending {
  done: CallDone;
  headersSeen: boolean;
  httpStatus: string;
  grpcStatus: string | undefined;
  grpcMessage: string;
  body: Buffer | undefined;
  parts: Buffer[] | undefined;
}

const SETTING = { ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4 } as const;
/** Receive windows: the largest HTTP/2 allows, topped up once half is used. */
const WINDOW = 2 ** 31 - 1;
/** A request goes in one DATA frame: at most the smallest SETTINGS_MAX_FRAME_SIZE a peer may have. */
const MAX_DATA = 16_384;

export class H2Caller {
  private readonly socket: net.Socket;
  private readonly decoder = new HpackDecoder();
  private readonly pending = new Map<number, Pending>();
  private readonly blocks = new Map<string, Buffer>();
  private readonly queued: Array<{ path: string; message: Buffer; done: CallDone }> = [];
  private nextStream = 1;
  private sendWindow = 65_535;
  private streamSendWindow = 65_535;
  private maxStreams = Infinity;
  private received = 0;
  private inbox: Buffer | undefined;
  private headerBlock: { stream: number; flags: number; parts: Buffer[] } | undefined;
  private readonly out: TurnWriter;
  private failure: Error | undefined;

  constructor(private readonly host: string, private readonly port: number) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.out = new TurnWriter(this.socket);
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(SETTING.ENABLE_PUSH, 0);
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(SETTING.INITIAL_WINDOW_SIZE, 6);
    settings.writeUInt32BE(WINDOW, 8);
    this.socket.write(PREFACE);
    this.socket.write(frame(FRAME.SETTINGS, 0, 0, settings));
    this.socket.write(this.windowUpdate(WINDOW - 65_535));
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error('connection closed')));
  }

  /** Calls `path` with `message` (one protobuf message, not yet length-prefixed). */
  call(path: string, message: Buffer, done: CallDone): void {
    if (this.failure) {
      done(this.failure);
      return;
    }
    if (message.length + 5 > MAX_DATA) {
      done(new Error(`a request of ${message.length} bytes does not fit one DATA frame`));
      return;
    }
    if (this.queued.length > 0 || !this.canSend(message.length)) {
      this.queued.push({ path, message, done });
      return;
    }
    this.send(path, message, done);
  }

  /** Resolves once the TCP connection is up (calls made before are queued by the socket). */
  connected(): Promise<void> {
    if (!this.socket.connecting) return this.failure ? Promise.reject(this.failure) : Promise.resolve();
    return new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('close', () => reject(this.failure ?? new Error('connection closed')));
    });
  }

  /** Calls in flight or queued. */
  get inFlight(): number {
    return this.pending.size + this.queued.length;
  }

  close(): void {
    this.socket.end();
  }

  private canSend(length: number): boolean {
    return this.pending.size < this.maxStreams && this.sendWindow >= length + 5 && this.streamSendWindow >= length + 5;
  }

  private send(path: string, message: Buffer, done: CallDone): void {
    let block = this.blocks.get(path);
    if (!block) {
      // The fields grpc-js 1.14 sends (a node's master client), as literals: decoding them
      // costs the server more than the indexed fields a grpc-js client sends after its first call.
      block = encodeHeaderBlock([
        [':authority', `${this.host}:${this.port}`], [':method', 'POST'], [':path', path], [':scheme', 'http'],
        ['grpc-accept-encoding', 'identity,deflate,gzip'], ['accept-encoding', 'identity'], ['grpc-timeout', '5000m'],
        ['user-agent', 'grpc-node-js/1.14.7'], ['content-type', 'application/grpc'], ['te', 'trailers'],
      ]);
      this.blocks.set(path, block);
    }
    const stream = this.nextStream;
    this.nextStream += 2;
    const data = 5 + message.length;
    const buf = Buffer.allocUnsafe(9 + block.length + 9 + data);
    writeFrameHeader(buf, 0, block.length, FRAME.HEADERS, FLAG.END_HEADERS, stream);
    block.copy(buf, 9);
    let at = 9 + block.length;
    writeFrameHeader(buf, at, data, FRAME.DATA, FLAG.END_STREAM, stream);
    at += 9;
    buf[at] = 0;
    buf.writeUInt32BE(message.length, at + 1);
    message.copy(buf, at + 5);
    this.sendWindow -= data;
    this.pending.set(stream, { done, headersSeen: false, httpStatus: '', grpcStatus: undefined, grpcMessage: '', body: undefined, parts: undefined });
    this.write(buf);
  }

  private write(buf: Buffer): void {
    this.out.write(buf);
  }

  private windowUpdate(increment: number, stream = 0): Buffer {
    return u32Frame(FRAME.WINDOW_UPDATE, stream, increment);
  }

  private onData(chunk: Buffer): void {
    const buf = this.inbox ? Buffer.concat([this.inbox, chunk]) : chunk;
    let at = 0;
    while (buf.length - at >= 9) {
      const length = buf.readUIntBE(at, 3);
      if (buf.length - at < 9 + length) break;
      const type = buf[at + 3];
      const flags = buf[at + 4];
      const stream = buf.readUInt32BE(at + 5) & 0x7fffffff;
      try {
        this.onFrame(type, flags, stream, buf.subarray(at + 9, at + 9 + length));
      } catch (err) {
        this.fail(err as Error);
        this.socket.destroy();
        return;
      }
      at += 9 + length;
    }
    this.inbox = at < buf.length ? Buffer.from(buf.subarray(at)) : undefined;
  }

  private onFrame(type: number, flags: number, stream: number, payload: Buffer): void {
    if (this.headerBlock && type !== FRAME.CONTINUATION) throw new Error('expected CONTINUATION');
    switch (type) {
      case FRAME.DATA: {
        this.received += payload.length;
        if (this.received > WINDOW / 2) {
          this.write(this.windowUpdate(this.received));
          this.received = 0;
        }
        const p = this.pending.get(stream);
        if (!p) return;
        const data = flags & FLAG.PADDED ? payload.subarray(1, payload.length - payload[0]) : payload;
        if (p.body === undefined) p.body = data;
        else (p.parts ??= [p.body]).push(data);
        if (flags & FLAG.END_STREAM) this.finish(stream, p);
        return;
      }
      case FRAME.HEADERS: {
        let block = payload;
        if (flags & FLAG.PADDED) block = block.subarray(1, block.length - block[0]);
        if (flags & FLAG.PRIORITY) block = block.subarray(5);
        if (flags & FLAG.END_HEADERS) this.onHeaders(stream, flags, block);
        else this.headerBlock = { stream, flags, parts: [Buffer.from(block)] };
        return;
      }
      case FRAME.CONTINUATION: {
        const h = this.headerBlock;
        if (!h || h.stream !== stream) throw new Error('unexpected CONTINUATION');
        h.parts.push(Buffer.from(payload));
        if (flags & FLAG.END_HEADERS) {
          this.headerBlock = undefined;
          this.onHeaders(stream, h.flags, Buffer.concat(h.parts));
        }
        return;
      }
      case FRAME.RST_STREAM: {
        const p = this.pending.get(stream);
        if (p) {
          this.pending.delete(stream);
          p.done(new Error(`stream reset by the server (HTTP/2 error ${payload.readUInt32BE(0)})`));
          this.drain();
        }
        return;
      }
      case FRAME.SETTINGS:
        if (flags & FLAG.ACK) return;
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          const id = payload.readUInt16BE(i);
          const value = payload.readUInt32BE(i + 2);
          if (id === SETTING.MAX_CONCURRENT_STREAMS) this.maxStreams = value;
          if (id === SETTING.INITIAL_WINDOW_SIZE) this.streamSendWindow = value;
        }
        this.write(frame(FRAME.SETTINGS, FLAG.ACK, 0, Buffer.alloc(0)));
        this.drain();
        return;
      case FRAME.PING:
        if (!(flags & FLAG.ACK)) this.write(frame(FRAME.PING, FLAG.ACK, 0, payload));
        return;
      case FRAME.GOAWAY: {
        const last = payload.readUInt32BE(0) & 0x7fffffff;
        const err = new Error(`GOAWAY from the server (HTTP/2 error ${payload.readUInt32BE(4)})`);
        for (const [id, p] of this.pending) {
          if (id > last) {
            this.pending.delete(id);
            p.done(err);
          }
        }
        this.failure ??= err;
        return;
      }
      case FRAME.WINDOW_UPDATE:
        if (stream === 0) {
          this.sendWindow += payload.readUInt32BE(0) & 0x7fffffff;
          this.drain();
        }
        return;
      default:
        return; // PRIORITY, unknown types: ignored as RFC 9113 asks
    }
  }

  private onHeaders(stream: number, flags: number, block: Buffer): void {
    const p = this.pending.get(stream);
    const trailers = p?.headersSeen === true;
    // Every block is decoded, wanted or not: the dynamic table is the connection's.
    this.decoder.decode(block, (name, value) => {
      if (!p) return;
      if (name === ':status' && !trailers) p.httpStatus = value;
      else if (name === 'grpc-status') p.grpcStatus = value;
      else if (name === 'grpc-message') p.grpcMessage = value;
    });
    if (!p) return;
    p.headersSeen = true;
    if (flags & FLAG.END_STREAM) this.finish(stream, p);
  }

  private finish(stream: number, p: Pending): void {
    this.pending.delete(stream);
    this.drain();
    if (p.httpStatus !== '200') return p.done(new Error(`HTTP status ${p.httpStatus}`));
    if (p.grpcStatus !== '0') return p.done(new Error(`grpc-status ${p.grpcStatus ?? 'missing'}: ${decodeURIComponent(p.grpcMessage)}`));
    const body = p.parts ? Buffer.concat(p.parts) : p.body;
    if (!body || body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) return p.done(new Error('reply is not one uncompressed message'));
    p.done(null, body.subarray(5));
  }

  private drain(): void {
    while (this.queued.length > 0 && this.canSend(this.queued[0].message.length)) {
      const q = this.queued.shift()!;
      this.send(q.path, q.message, q.done);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const calls = [...this.pending.values(), ...this.queued];
    this.pending.clear();
    this.queued.length = 0;
    for (const c of calls) c.done(this.failure);
  }
}
