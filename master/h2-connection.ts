/**
 * The server side of one HTTP/2 connection (RFC 9113) on a plain socket: what the master's gRPC
 * port needs and nothing more.
 *
 * Why not node:http2: every call there builds an Http2Stream (a Duplex with its states, event
 * listeners, a native handle) and a headers object whose values are external strings; at 10,000
 * heartbeats/s those objects outlived the young generation (node keeps closed streams reachable
 * until a full GC) and the master paused 40-70 ms for a mark-compact every few seconds. Here a
 * call is one small `ServerStream`, header fields come from the HPACK tables as shared strings,
 * and a reply is one socket write.
 *
 * What it does: the connection preface; SETTINGS both ways (ours: the largest receive windows,
 * so a client never waits on us; theirs: initial window, max frame size honoured); HEADERS and
 * CONTINUATION decoded in order (one HPACK context per connection); DATA delivered per stream,
 * the connection receive window topped up as data arrives; our DATA sent within the client's
 * connection and stream windows, queued until WINDOW_UPDATE otherwise; PING answered;
 * RST_STREAM and GOAWAY both ways. Left out: server push, priorities (ignored, as allowed), TLS.
 *
 * Concurrency: everything on the event loop; frames written in one turn go out in one write.
 * Stream callbacks (`onData`, `onEnd`, `onCancel`) run from the socket's data handler.
 */
import type * as net from 'node:net';
import { FLAG, FRAME, H2_ERROR, H2ProtocolError, PREFACE, TurnWriter, frame, u32Frame, unpad, writeFrameHeader } from './h2-frames';
import { ServerStream } from './h2-stream';
import { HpackDecoder, HpackError, tableSizeUpdate } from './hpack';

export { FLAG, FRAME, H2_ERROR, writeFrameHeader } from './h2-frames';
export { ServerStream } from './h2-stream';

const SETTING = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5 } as const;

/** Our receive windows: the largest HTTP/2 allows; the connection's is topped up at half. */
const WINDOW = 2 ** 31 - 1;
/** Largest frame we accept (our SETTINGS_MAX_FRAME_SIZE is the default) and largest header block. */
const MAX_FRAME = 16_384;
const MAX_HEADER_BLOCK = 256 * 1024;

/** One client connection. `onStream` is called once per new request stream with its header fields. */
export class H2ServerConnection {
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, ServerStream>();
  private readonly blocked = new Set<ServerStream>();
  private inbox: Buffer | undefined;
  private prefaceSeen = false;
  private lastStreamId = 0;
  private headerBlock: { stream: number; flags: number; parts: Buffer[]; size: number } | undefined;
  private sendWindow = 65_535;
  private peerInitialWindow = 65_535;
  private peerMaxFrame = 16_384;
  /** Our encoder's dynamic table size (always empty: we never index), lowered when the client asks. */
  private encoderTableSize = 4096;
  private tableSizeUpdatePending = false;
  private received = 0;
  private readonly out: TurnWriter;
  private goingAway = false;
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly onStream: (stream: ServerStream, fields: Array<[string, string]>) => void,
    private readonly onClose: () => void,
    /** A connection error (not HTTP/2, a protocol violation): the connection is closed after it. */
    private readonly onError: (err: Error) => void = () => undefined,
  ) {
    socket.setNoDelay(true);
    this.out = new TurnWriter(socket);
    const settings = Buffer.allocUnsafe(12);
    settings.writeUInt16BE(SETTING.INITIAL_WINDOW_SIZE, 0);
    settings.writeUInt32BE(WINDOW, 2);
    settings.writeUInt16BE(SETTING.MAX_CONCURRENT_STREAMS, 6);
    settings.writeUInt32BE(2 ** 31 - 1, 8);
    this.write(frame(FRAME.SETTINGS, 0, 0, settings));
    this.write(u32Frame(FRAME.WINDOW_UPDATE, 0, WINDOW - 65_535));
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => this.teardown());
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** Graceful close: GOAWAY (no new streams), the socket ends once open streams are done. */
  goAway(): void {
    if (this.goingAway || this.closed) return;
    this.goingAway = true;
    this.write(u32Frame(FRAME.GOAWAY, 0, this.lastStreamId, H2_ERROR.NO_ERROR));
    if (this.streams.size === 0) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  sendHeaders(stream: ServerStream, block: Buffer, endStream: boolean): void {
    if (stream.localEnded) return;
    stream.headersSent = true;
    block = this.withTableSizeUpdate(block);
    // One HEADERS frame, CONTINUATIONs past the client's frame size.
    let at = 0;
    let first = true;
    do {
      const n = Math.min(block.length - at, this.peerMaxFrame);
      const last = at + n >= block.length;
      const flags = (last ? FLAG.END_HEADERS : 0) | (first && endStream ? FLAG.END_STREAM : 0);
      const buf = Buffer.allocUnsafe(9 + n);
      writeFrameHeader(buf, 0, n, first ? FRAME.HEADERS : FRAME.CONTINUATION, flags, stream.id);
      block.copy(buf, 9, at, at + n);
      this.write(buf);
      at += n;
      first = false;
    } while (at < block.length);
    if (endStream) this.localEnd(stream);
  }

  replyAll(stream: ServerStream, headers: Buffer, message: Buffer, trailers: Buffer): void {
    const data = 5 + message.length;
    if (this.tableSizeUpdatePending || stream.headersSent || data > this.sendWindow || data > stream.sendWindow || data > this.peerMaxFrame
      || headers.length > this.peerMaxFrame || trailers.length > this.peerMaxFrame) {
      const framed = Buffer.allocUnsafe(data);
      framed[0] = 0;
      framed.writeUInt32BE(message.length, 1);
      message.copy(framed, 5);
      stream.respond(headers, false);
      stream.write(framed);
      stream.end(trailers);
      return;
    }
    const buf = Buffer.allocUnsafe(27 + headers.length + data + trailers.length);
    let at = 0;
    writeFrameHeader(buf, at, headers.length, FRAME.HEADERS, FLAG.END_HEADERS, stream.id);
    headers.copy(buf, at + 9);
    at += 9 + headers.length;
    writeFrameHeader(buf, at, data, FRAME.DATA, 0, stream.id);
    buf[at + 9] = 0;
    buf.writeUInt32BE(message.length, at + 10);
    message.copy(buf, at + 14);
    at += 9 + data;
    writeFrameHeader(buf, at, trailers.length, FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, stream.id);
    trailers.copy(buf, at + 9);
    this.sendWindow -= data;
    stream.sendWindow -= data;
    stream.headersSent = true;
    this.write(buf);
    this.localEnd(stream);
  }

  flush(stream: ServerStream): void {
    if (stream.localEnded) return;
    const before = stream.queuedBytes;
    const done = stream.pump(this.peerMaxFrame, (n) => Math.min(n, this.sendWindow), (b) => {
      this.sendWindow -= b.length - 9;
      this.write(b);
    });
    if (done) this.blocked.delete(stream);
    else this.blocked.add(stream);
    if (before > 0 && stream.queuedBytes === 0) stream.onDrain();
  }

  resetStream(stream: ServerStream, code: number): void {
    if (!this.streams.has(stream.id)) return;
    this.write(u32Frame(FRAME.RST_STREAM, stream.id, code));
    stream.localEnded = true;
    stream.remoteEnded = true;
    this.forget(stream);
  }

  private withTableSizeUpdate(block: Buffer): Buffer {
    if (!this.tableSizeUpdatePending) return block;
    this.tableSizeUpdatePending = false;
    return Buffer.concat([tableSizeUpdate(this.encoderTableSize), block]);
  }

  private localEnd(stream: ServerStream): void {
    stream.localEnded = true;
    this.blocked.delete(stream);
    // A reply complete before the request is: tell the client to stop sending (RFC 9113 8.1).
    if (!stream.remoteEnded) {
      this.write(u32Frame(FRAME.RST_STREAM, stream.id, H2_ERROR.NO_ERROR));
      stream.remoteEnded = true;
    }
    this.forget(stream);
  }

  private forget(stream: ServerStream): void {
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    if (this.goingAway && this.streams.size === 0) this.socket.end();
  }

  private write(buf: Buffer): void {
    if (!this.closed) this.out.write(buf);
  }

  private onSocketData(chunk: Buffer): void {
    if (this.closed) return; // after a connection error: the rest is not read
    const buf = this.inbox ? Buffer.concat([this.inbox, chunk]) : chunk;
    let at = 0;
    try {
      if (!this.prefaceSeen) {
        if (buf.length < PREFACE.length) {
          if (!PREFACE.subarray(0, buf.length).equals(buf)) throw new H2ProtocolError('not an HTTP/2 connection preface');
          this.inbox = buf;
          return;
        }
        if (!PREFACE.equals(buf.subarray(0, PREFACE.length))) throw new H2ProtocolError('not an HTTP/2 connection preface');
        this.prefaceSeen = true;
        at = PREFACE.length;
      }
      while (buf.length - at >= 9) {
        const length = (buf[at] << 16) | (buf[at + 1] << 8) | buf[at + 2];
        if (length > MAX_FRAME) throw new H2ProtocolError(`frame of ${length} bytes`, H2_ERROR.FRAME_SIZE_ERROR);
        if (buf.length - at < 9 + length) break;
        const id = buf.readUInt32BE(at + 5) & 0x7fffffff;
        this.onFrame(buf[at + 3], buf[at + 4], id, buf.subarray(at + 9, at + 9 + length));
        at += 9 + length;
      }
    } catch (err) {
      const code = err instanceof H2ProtocolError ? err.code : err instanceof HpackError ? H2_ERROR.COMPRESSION_ERROR : H2_ERROR.INTERNAL_ERROR;
      this.onError(err as Error);
      this.write(u32Frame(FRAME.GOAWAY, 0, this.lastStreamId, code));
      this.socket.end();
      this.teardown();
      return;
    }
    this.inbox = at < buf.length ? Buffer.from(buf.subarray(at)) : undefined;
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.headerBlock && type !== FRAME.CONTINUATION) throw new H2ProtocolError('header block interrupted');
    switch (type) {
      case FRAME.DATA: {
        if (id === 0) throw new H2ProtocolError('DATA on stream 0');
        this.received += payload.length;
        if (this.received > WINDOW / 2) {
          this.write(u32Frame(FRAME.WINDOW_UPDATE, 0, this.received));
          this.received = 0;
        }
        const stream = this.streams.get(id);
        if (!stream || stream.remoteEnded) return; // reset or finished by us: dropped
        const data = flags & FLAG.PADDED ? unpad(payload) : payload;
        if (data.length > 0) stream.onData(data);
        if (flags & FLAG.END_STREAM) this.remoteEnd(stream);
        return;
      }
      case FRAME.HEADERS: {
        if (id === 0) throw new H2ProtocolError('HEADERS on stream 0');
        let block = flags & FLAG.PADDED ? unpad(payload) : payload;
        if (flags & FLAG.PRIORITY) block = block.subarray(5);
        if (flags & FLAG.END_HEADERS) this.onHeaderBlock(id, flags, block);
        else this.headerBlock = { stream: id, flags, parts: [Buffer.from(block)], size: block.length };
        return;
      }
      case FRAME.CONTINUATION: {
        const h = this.headerBlock;
        if (!h || h.stream !== id) throw new H2ProtocolError('CONTINUATION without HEADERS');
        h.size += payload.length;
        if (h.size > MAX_HEADER_BLOCK) throw new H2ProtocolError('header block too large');
        h.parts.push(Buffer.from(payload));
        if (flags & FLAG.END_HEADERS) {
          this.headerBlock = undefined;
          this.onHeaderBlock(id, h.flags, Buffer.concat(h.parts));
        }
        return;
      }
      case FRAME.RST_STREAM: {
        const stream = this.streams.get(id);
        if (!stream) return;
        stream.localEnded = true;
        stream.remoteEnded = true;
        this.forget(stream);
        stream.onCancel();
        return;
      }
      case FRAME.SETTINGS:
        if (id !== 0) throw new H2ProtocolError('SETTINGS on a stream');
        if (flags & FLAG.ACK) return;
        if (payload.length % 6 !== 0) throw new H2ProtocolError('bad SETTINGS length', H2_ERROR.FRAME_SIZE_ERROR);
        for (let i = 0; i < payload.length; i += 6) this.setting(payload.readUInt16BE(i), payload.readUInt32BE(i + 2));
        this.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
        this.flushBlocked();
        return;
      case FRAME.PING:
        if (payload.length !== 8) throw new H2ProtocolError('bad PING length', H2_ERROR.FRAME_SIZE_ERROR);
        if (!(flags & FLAG.ACK)) this.write(frame(FRAME.PING, FLAG.ACK, 0, payload));
        return;
      case FRAME.GOAWAY:
        // The client opens no more streams; those open finish normally.
        return;
      case FRAME.WINDOW_UPDATE: {
        const increment = payload.readUInt32BE(0) & 0x7fffffff;
        if (id === 0) {
          this.sendWindow += increment;
          if (this.sendWindow > WINDOW) throw new H2ProtocolError('connection window overflow', H2_ERROR.FLOW_CONTROL_ERROR);
          this.flushBlocked();
        } else {
          const stream = this.streams.get(id);
          if (stream) {
            stream.sendWindow += increment;
            this.flush(stream);
          }
        }
        return;
      }
      case FRAME.PUSH_PROMISE:
        throw new H2ProtocolError('PUSH_PROMISE from a client');
      default:
        return; // PRIORITY and unknown types are ignored (RFC 9113 5.3.2, 5.5)
    }
  }

  private setting(id: number, value: number): void {
    if (id === SETTING.INITIAL_WINDOW_SIZE) {
      if (value > WINDOW) throw new H2ProtocolError('initial window too large', H2_ERROR.FLOW_CONTROL_ERROR);
      const delta = value - this.peerInitialWindow;
      this.peerInitialWindow = value;
      for (const s of this.streams.values()) s.sendWindow += delta;
    } else if (id === SETTING.MAX_FRAME_SIZE) {
      if (value < 16_384 || value > 16_777_215) throw new H2ProtocolError('bad max frame size');
      this.peerMaxFrame = value;
    } else if (id === SETTING.HEADER_TABLE_SIZE && value < this.encoderTableSize) {
      // Our table is empty, but a decoder that lowered its size expects the change signalled.
      this.encoderTableSize = value;
      this.tableSizeUpdatePending = true;
    }
    // ENABLE_PUSH, MAX_CONCURRENT_STREAMS: we never push.
  }

  private onHeaderBlock(id: number, flags: number, block: Buffer): void {
    const fields: Array<[string, string]> = [];
    // Every block is decoded, wanted or not: the HPACK table is the connection's.
    this.decoder.decode(block, (name, value) => fields.push([name, value]));
    const existing = this.streams.get(id);
    if (existing) {
      // Request trailers: gRPC clients send none; they only end the request.
      if (!(flags & FLAG.END_STREAM)) throw new H2ProtocolError('second HEADERS without END_STREAM');
      this.remoteEnd(existing);
      return;
    }
    if (id % 2 === 0 || id <= this.lastStreamId) {
      if (id % 2 === 0) throw new H2ProtocolError(`client stream id ${id} is even`);
      return; // a stream we already closed: its late trailers are dropped
    }
    this.lastStreamId = id;
    const stream = new ServerStream(this, id, this.peerInitialWindow);
    if (this.goingAway) {
      this.write(u32Frame(FRAME.RST_STREAM, id, H2_ERROR.REFUSED_STREAM));
      return;
    }
    this.streams.set(id, stream);
    this.onStream(stream, fields);
    if (flags & FLAG.END_STREAM) this.remoteEnd(stream);
  }

  private remoteEnd(stream: ServerStream): void {
    if (stream.remoteEnded) return;
    stream.remoteEnded = true;
    stream.onEnd();
  }

  private flushBlocked(): void {
    for (const s of [...this.blocked]) {
      if (this.sendWindow <= 0) return;
      this.flush(s);
    }
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    const open = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    for (const s of open) {
      s.localEnded = true;
      s.remoteEnded = true;
      s.onCancel();
    }
    this.onClose();
  }
}
