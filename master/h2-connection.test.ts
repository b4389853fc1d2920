/**
 * The master's own HTTP/2 server at the frame level, driven by a hand-written client on a real
 * socket: flow control with tiny client windows, CONTINUATION and padding, PING, protocol errors,
 * cancellation, graceful close. (grpc-front.test.ts covers it with real grpc-js clients.)
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { after, before, test } from 'node:test';
import { decodeMessage, encodeMessage, serviceDefinition } from '../proto';
import { GrpcFront } from './grpc-front';
import { FLAG, FRAME, H2_ERROR, writeFrameHeader } from './h2-connection';
import { encodeHeaderBlock, HpackDecoder } from './hpack';

interface Frame { type: number; flags: number; stream: number; payload: Buffer }

/** A bare client: writes frames as told, records every frame received. */
class RawClient {
  readonly frames: Frame[] = [];
  readonly socket: net.Socket;
  closed = false;
  private inbox = Buffer.alloc(0);
  private readonly decoder = new HpackDecoder();

  constructor(port: number, settings: Array<[number, number]> = [], preface = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n') {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => {
      this.inbox = Buffer.concat([this.inbox, chunk]);
      while (this.inbox.length >= 9 && this.inbox.length >= 9 + this.inbox.readUIntBE(0, 3)) {
        const length = this.inbox.readUIntBE(0, 3);
        this.frames.push({ type: this.inbox[3], flags: this.inbox[4], stream: this.inbox.readUInt32BE(5), payload: Buffer.from(this.inbox.subarray(9, 9 + length)) });
        this.inbox = this.inbox.subarray(9 + length);
      }
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
    this.socket.write(preface);
    const payload = Buffer.alloc(6 * settings.length);
    settings.forEach(([id, value], i) => {
      payload.writeUInt16BE(id, 6 * i);
      payload.writeUInt32BE(value, 6 * i + 2);
    });
    this.send(FRAME.SETTINGS, 0, 0, payload);
  }

  send(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): void {
    const buf = Buffer.alloc(9 + payload.length);
    writeFrameHeader(buf, 0, payload.length, type, flags, stream);
    payload.copy(buf, 9);
    this.socket.write(buf);
  }

  request(stream: number, path: string, message: Buffer, port: number): void {
    this.send(FRAME.HEADERS, FLAG.END_HEADERS, stream, requestBlock(path, port));
    this.send(FRAME.DATA, FLAG.END_STREAM, stream, grpcFrame(message));
  }

  /** Decodes every HEADERS frame received so far (in order, as HPACK requires). */
  headers(stream: number): Array<Array<[string, string]>> {
    const out: Array<Array<[string, string]>> = [];
    for (const f of this.frames) {
      if (f.type !== FRAME.HEADERS) continue;
      const fields: Array<[string, string]> = [];
      this.decoder.decode(f.payload, (n, v) => fields.push([n, v]));
      if (f.stream === stream) out.push(fields);
    }
    return out;
  }

  data(stream: number): Buffer {
    return Buffer.concat(this.frames.filter((f) => f.type === FRAME.DATA && f.stream === stream).map((f) => f.payload));
  }

  async until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

const requestBlock = (path: string, port: number): Buffer => encodeHeaderBlock([
  [':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', `127.0.0.1:${port}`], ['content-type', 'application/grpc'], ['te', 'trailers'],
]);

function grpcFrame(message: Buffer): Buffer {
  const b = Buffer.alloc(5 + message.length);
  b.writeUInt32BE(message.length, 1);
  message.copy(b, 5);
  return b;
}

const u32 = (...values: number[]): Buffer => {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v, 4 * i));
  return b;
};

const status = (fields: Array<[string, string]> | undefined): string | undefined => fields?.find(([n]) => n === 'grpc-status')?.[1];

let server: grpc.Server;
let front: GrpcFront;
let port: number;
let cancelled = 0;
const BIG = 'x'.repeat(1000);

before(async () => {
  server = new grpc.Server();
  server.addService(serviceDefinition('Master', ['Heartbeat']), {
    Heartbeat: (_c: unknown, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.INTERNAL, details: 'answered by the front' }),
    GetConfigs: (c: grpc.ServerUnaryCall<{ physical: string }, object>, cb: grpc.sendUnaryData<object>) => {
      cb(null, { configs: Array.from({ length: 200 }, (_, i) => ({ logical: `${c.request.physical}${i}`, version: i, flow: '', source: BIG, sink: 'k' })) });
    },
    GetChain: (c: grpc.ServerUnaryCall<{ logical: string }, object>, cb: grpc.sendUnaryData<object>) => {
      c.on('cancelled', () => cancelled++);
      setTimeout(() => cb(null, { collectors: ['late:1'], version: 1 }), Number(c.request.logical));
    },
  });
  const inner = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const heartbeat = (bytes: Buffer): Buffer => {
    const req = decodeMessage<{ physical: string }>('HeartbeatRequest', bytes);
    return encodeMessage('HeartbeatReply', { logical: [req.physical], versions: [], heartbeatMs: 1000 });
  };
  front = new GrpcFront({ host: '127.0.0.1', port: 0, upstream: `127.0.0.1:${inner}`, handlers: new Map([['/flume.Master/Heartbeat', heartbeat]]) });
  port = await front.listen();
});

after(async () => {
  await front.close(0);
  server.forceShutdown();
});

test('a relayed reply of ~200 kB to a client with 100-byte windows comes within the windows, whole and in order', async () => {
  const c = new RawClient(port, [[4, 100]]); // SETTINGS_INITIAL_WINDOW_SIZE = 100
  c.request(1, '/flume.Master/GetConfigs', encodeMessage('ConfigRequest', { physical: 'p', logical: [] }), port);
  let granted = 100;
  let connectionGranted = 65_535;
  // Open the windows 50 kB at a time, only when the server has used what it had.
  for (;;) {
    await c.until('DATA or the end of the stream', () => c.data(1).length === granted || c.frames.some((f) => f.stream === 1 && f.flags & FLAG.END_STREAM), 10_000);
    const got = c.data(1).length;
    assert.ok(got <= granted && got <= connectionGranted, `server sent ${got} bytes with ${granted} granted`);
    if (c.frames.some((f) => f.stream === 1 && f.type === FRAME.HEADERS && f.flags & FLAG.END_STREAM)) break;
    c.send(FRAME.WINDOW_UPDATE, 0, 1, u32(50_000));
    c.send(FRAME.WINDOW_UPDATE, 0, 0, u32(50_000));
    granted += 50_000;
    connectionGranted += 50_000;
  }
  const body = c.data(1);
  assert.equal(body.readUInt32BE(1), body.length - 5);
  const reply = decodeMessage<{ configs: Array<{ logical: string; source: string }> }>('ConfigReply', body.subarray(5));
  assert.equal(reply.configs.length, 200);
  assert.ok(reply.configs.every((cfg, i) => cfg.logical === `p${i}` && cfg.source === BIG));
  const [head, trailers] = c.headers(1);
  assert.equal(head.find(([n]) => n === ':status')?.[1], '200');
  assert.equal(status(trailers), '0');
  c.socket.destroy();
});

test('a request split over HEADERS + CONTINUATION with padded frames; PING is answered', async () => {
  const c = new RawClient(port);
  const block = requestBlock('/flume.Master/Heartbeat', port);
  const padded = Buffer.concat([Buffer.from([3]), block.subarray(0, 10), Buffer.alloc(3)]);
  c.send(FRAME.HEADERS, FLAG.PADDED, 1, padded);
  c.send(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, block.subarray(10));
  const msg = grpcFrame(encodeMessage('HeartbeatRequest', { physical: 'split', logical: [] }));
  c.send(FRAME.DATA, FLAG.PADDED | FLAG.END_STREAM, 1, Buffer.concat([Buffer.from([5]), msg, Buffer.alloc(5)]));
  c.send(FRAME.PING, 0, 0, Buffer.from('12345678'));
  await c.until('the reply and the PING ACK', () => c.frames.some((f) => f.stream === 1 && f.flags & FLAG.END_STREAM) && c.frames.some((f) => f.type === FRAME.PING));
  assert.deepEqual(decodeMessage<{ logical: string[] }>('HeartbeatReply', c.data(1).subarray(5)).logical, ['split']);
  const ping = c.frames.find((f) => f.type === FRAME.PING)!;
  assert.equal(ping.flags & FLAG.ACK, FLAG.ACK);
  assert.equal(ping.payload.toString(), '12345678');
  c.socket.destroy();
});

test('protocol errors end the connection: a bad preface, an even stream id (with GOAWAY)', async () => {
  const bad = new RawClient(port, [], 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await bad.until('the socket to close', () => bad.closed);
  const c = new RawClient(port);
  c.send(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 2, requestBlock('/flume.Master/Heartbeat', port));
  await c.until('the socket to close', () => c.closed);
  const goaway = c.frames.find((f) => f.type === FRAME.GOAWAY);
  assert.ok(goaway, 'GOAWAY sent');
  assert.equal(goaway.payload.readUInt32BE(4), H2_ERROR.PROTOCOL_ERROR);
  // The server is fine for everyone else.
  const ok = new RawClient(port);
  ok.request(1, '/flume.Master/Heartbeat', encodeMessage('HeartbeatRequest', { physical: 'after', logical: [] }), port);
  await ok.until('a reply', () => ok.frames.some((f) => f.stream === 1 && f.flags & FLAG.END_STREAM));
  assert.equal(status(ok.headers(1)[1]), '0');
  ok.socket.destroy();
});

test('RST_STREAM from the client cancels the relayed call', async () => {
  const c = new RawClient(port);
  const before = cancelled;
  c.request(1, '/flume.Master/GetChain', encodeMessage('ChainRequest', { logical: '5000' }), port);
  await new Promise((r) => setTimeout(r, 200));
  c.send(FRAME.RST_STREAM, 0, 1, u32(H2_ERROR.CANCEL));
  await c.until('grpc-js to see the cancellation', () => cancelled > before);
  c.socket.destroy();
});

test('close(): GOAWAY, the call in flight still completes, a new stream is refused, then the socket ends', async () => {
  const inner = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const second = new GrpcFront({ host: '127.0.0.1', port: 0, upstream: `127.0.0.1:${inner}`, handlers: new Map() });
  const secondPort = await second.listen();
  const c = new RawClient(secondPort);
  c.request(1, '/flume.Master/GetChain', encodeMessage('ChainRequest', { logical: '300' }), secondPort);
  await new Promise((r) => setTimeout(r, 100));
  const closing = second.close(5_000);
  await c.until('GOAWAY', () => c.frames.some((f) => f.type === FRAME.GOAWAY));
  c.request(3, '/flume.Master/GetChain', encodeMessage('ChainRequest', { logical: '0' }), secondPort);
  await closing;
  await c.until('the socket to close', () => c.closed);
  assert.equal(status(c.headers(1)[1]), '0', 'the call in flight got its reply');
  const refused = c.frames.find((f) => f.type === FRAME.RST_STREAM && f.stream === 3);
  assert.equal(refused?.payload.readUInt32BE(0), H2_ERROR.REFUSED_STREAM);
});

test('a client that shrinks its HPACK table gets the size update first, and nghttp2 accepts the replies', async () => {
  const c = new RawClient(port, [[1, 0]]); // SETTINGS_HEADER_TABLE_SIZE = 0
  await c.until('the SETTINGS ACK', () => c.frames.some((f) => f.type === FRAME.SETTINGS && f.flags & FLAG.ACK));
  c.request(1, '/flume.Master/Heartbeat', encodeMessage('HeartbeatRequest', { physical: 't0', logical: [] }), port);
  await c.until('a reply', () => c.frames.some((f) => f.stream === 1 && f.flags & FLAG.END_STREAM));
  assert.equal(c.frames.find((f) => f.type === FRAME.HEADERS && f.stream === 1)!.payload[0], 0x20, 'table size update to 0');
  assert.equal(status(c.headers(1)[1]), '0');
  c.socket.destroy();

  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { headerTableSize: 0 } });
  try {
    for (let i = 0; i < 3; i++) {
      const req = session.request({ ':method': 'POST', ':path': '/flume.Master/Heartbeat', 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        req.on('trailers', resolve);
        req.on('error', reject);
        req.end(grpcFrame(encodeMessage('HeartbeatRequest', { physical: `n${i}`, logical: [] })));
      });
      assert.equal(trailers['grpc-status'], '0');
      await new Promise((r) => req.on('close', r));
      assert.deepEqual(decodeMessage<{ logical: string[] }>('HeartbeatReply', Buffer.concat(chunks).subarray(5)).logical, [`n${i}`]);
    }
  } finally {
    session.close();
  }
});
