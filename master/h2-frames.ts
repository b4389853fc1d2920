/**
 * HTTP/2 frame layout (RFC 9113 section 4): type and flag numbers, error codes, and helpers that
 * write frame headers, shared by the master's server connection and its streams.
 */
import type * as net from 'node:net';

/** What every HTTP/2 client sends first. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
export const H2_ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9 } as const;

export class H2ProtocolError extends Error {
  constructor(message: string, readonly code: number = H2_ERROR.PROTOCOL_ERROR) {
    super(message);
  }
}

export function writeFrameHeader(buf: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
  buf[at] = length >>> 16;
  buf[at + 1] = (length >>> 8) & 0xff;
  buf[at + 2] = length & 0xff;
  buf[at + 3] = type;
  buf[at + 4] = flags;
  buf.writeUInt32BE(stream, at + 5);
}

export function frame(type: number, flags: number, stream: number, payload?: Buffer): Buffer {
  const length = payload?.length ?? 0;
  const buf = Buffer.allocUnsafe(9 + length);
  writeFrameHeader(buf, 0, length, type, flags, stream);
  payload?.copy(buf, 9);
  return buf;
}

export function u32Frame(type: number, stream: number, ...values: number[]): Buffer {
  const payload = Buffer.allocUnsafe(4 * values.length);
  values.forEach((v, i) => payload.writeUInt32BE(v, 4 * i));
  return frame(type, 0, stream, payload);
}

/** The payload of a PADDED frame without its padding. */
export function unpad(payload: Buffer): Buffer {
  const pad = payload[0];
  if (pad >= payload.length) throw new H2ProtocolError('padding exceeds the frame');
  return payload.subarray(1, payload.length - pad);
}

/** Writes to a socket, sending everything written within one event-loop turn together (cork until the next tick). */
export class TurnWriter {
  private corked = false;

  constructor(private readonly socket: net.Socket) {}

  write(buf: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(buf);
  }
}
