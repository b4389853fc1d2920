/**
 * The session guard's accounting against a real tuned grpc-js server and plain Node HTTP/2
 * clients: a client over the stream limit, or sending a header block over the limit, has its
 * connection closed and counted by name while another client is served; a client with many
 * sequential calls and large but legal headers is never counted or closed; idle connections are
 * closed and counted.
 */
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CONNECTIONS_CLOSED_HEADERS, CONNECTIONS_CLOSED_IDLE, CONNECTIONS_CLOSED_STREAMS } from '../metrics';
import { TierCounters } from './counters';
import { advertisedStreams } from './session-guard';
import { bindTuned, type GrpcTuning } from './tuning';

const ECHO = '/test.Guard/Echo';
const echoService: grpc.ServiceDefinition = {
  Echo: {
    path: ECHO,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};

const cleanups: Array<() => void> = [];
after(() => {
  for (const c of cleanups.reverse()) c();
});

async function tunedServer(tuning: Partial<GrpcTuning> = {}): Promise<{ port: number; counters: TierCounters }> {
  const server = new grpc.Server();
  server.addService(echoService, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request),
  });
  const counters = new TierCounters();
  const port = await bindTuned(server, '127.0.0.1', 0, { tuning: { raiseWindow: false, ...tuning }, counters });
  cleanups.push(() => server.forceShutdown());
  return { port, counters };
}

function connect(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  cleanups.push(() => session.destroy());
  return session;
}

const closed = (s: http2.ClientHttp2Session): Promise<void> =>
  new Promise((resolve) => (s.closed || s.destroyed ? resolve() : s.once('close', resolve)));

function grpcMessage(body: string): Buffer {
  const bytes = Buffer.from(body);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

/** One unary Echo call on a raw HTTP/2 session: resolves with its grpc-status. */
function call(session: http2.ClientHttp2Session, extra: http2.OutgoingHttpHeaders = {}): Promise<string> {
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': ECHO, 'content-type': 'application/grpc', te: 'trailers', ...extra });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    req.on('trailers', (t) => resolve(String(t['grpc-status'])));
    req.on('data', () => undefined);
    req.on('close', () => resolve(`closed ${req.rstCode}`));
    req.end(grpcMessage('hello'));
  });
}

/** A good client that connects after the flood gets its answer. */
async function goodCallSucceeds(port: number): Promise<void> {
  const good = connect(port);
  assert.equal(await call(good), '0', 'a good client is served');
  good.destroy();
}

test('a client with more streams open than the limit has its connection closed and counted; the server goes on serving', async () => {
  const { port, counters } = await tunedServer({ maxConcurrentStreams: 8 });
  const flood = connect(port);
  const settings = new Promise<http2.Settings>((resolve) => flood.once('remoteSettings', resolve));
  // Sent before the connection is up, all 40 go out in one burst and reach the server in one read.
  for (let i = 0; i < 40; i++) {
    // Half-sent calls, each open on the server; every other one with a content type grpc-js
    // answers at once (415), which it must not try on a stream the guard has destroyed.
    const type = i % 2 ? 'application/grpc' : 'text/plain';
    const s = flood.request({ ':method': 'POST', ':path': ECHO, 'content-type': type, te: 'trailers' });
    s.on('error', () => undefined);
    s.write(Buffer.from([0, 0, 0, 0, 100]));
  }
  assert.equal((await settings).maxConcurrentStreams, advertisedStreams(8));
  await closed(flood);
  assert.equal(counters.get(CONNECTIONS_CLOSED_STREAMS), 1);
  await goodCallSucceeds(port);
  assert.equal(counters.get(CONNECTIONS_CLOSED_HEADERS), 0);
});

test('a header block over the limit closes its connection, counted as headers; the server goes on serving', async () => {
  const { port, counters } = await tunedServer();
  const bad = connect(port);
  assert.equal(await call(bad), '0', 'a first call is served');
  const refused = await call(bad, { 'x-big': 'b'.repeat(32 * 1024) });
  assert.match(refused, /closed 11|error/, 'the oversized block is reset by nghttp2');
  await closed(bad);
  assert.equal(counters.get(CONNECTIONS_CLOSED_HEADERS), 1);
  await goodCallSucceeds(port);
  assert.equal(counters.get(CONNECTIONS_CLOSED_STREAMS), 0);
});

test("a header block over the limit in the client's first flight, before nghttp2 applies the limit, closes its connection too", async () => {
  const { port, counters } = await tunedServer();
  const bad = connect(port);
  // Sent before the server's SETTINGS arrive: nghttp2 lets it through to grpc-js, the guard does not.
  const answer = call(bad, { 'x-big': 'b'.repeat(32 * 1024) });
  await closed(bad);
  await answer;
  assert.equal(counters.get(CONNECTIONS_CLOSED_HEADERS), 1);
  await goodCallSucceeds(port);
});

test('a header block over the limit from a client that leaves at once is still counted', async () => {
  const { port, counters } = await tunedServer();
  const bad = connect(port);
  await new Promise((resolve) => bad.once('remoteSettings', resolve));
  const req = bad.request({ ':method': 'POST', ':path': ECHO, 'content-type': 'application/grpc', 'x-big': 'b'.repeat(32 * 1024) });
  req.on('error', () => undefined);
  await new Promise((resolve) => req.once('close', resolve));
  bad.destroy();
  const deadline = Date.now() + 5_000;
  while (counters.get(CONNECTIONS_CLOSED_HEADERS) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(counters.get(CONNECTIONS_CLOSED_HEADERS), 1);
});

test('a grpc-js client with 300 sequential calls and 12 KB of metadata, and calls at the stream limit, is never counted or closed', async () => {
  const { port, counters } = await tunedServer({ maxConcurrentStreams: 16 });
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  cleanups.push(() => client.close());
  const unary = (metadata: grpc.Metadata): Promise<Buffer> =>
    new Promise((resolve, reject) =>
      client.makeUnaryRequest(
        ECHO,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from('x'),
        metadata,
        (err, reply) => (err ? reject(err) : resolve(reply!)),
      ),
    );
  const big = new grpc.Metadata();
  for (let i = 0; i < 12; i++) big.set(`x-meta-${i}`, 'm'.repeat(1000));
  for (let i = 0; i < 300; i++) await unary(big);
  // 16 calls at once (the limit), three times over, spread across sweeps.
  for (let round = 0; round < 3; round++) {
    await Promise.all(Array.from({ length: 16 }, () => unary(big)));
    await new Promise((r) => setTimeout(r, 600));
  }
  for (let i = 0; i < 50; i++) await unary(big);
  assert.equal(counters.get(CONNECTIONS_CLOSED_HEADERS), 0);
  assert.equal(counters.get(CONNECTIONS_CLOSED_STREAMS), 0);
  assert.equal(counters.get(CONNECTIONS_CLOSED_IDLE), 0);
  assert.equal(client.getChannel().getConnectivityState(false), grpc.connectivityState.READY, 'the connection is still up');
});

test('a connection that never calls, and one whose calls have ended, are closed after their timeouts and counted as idle', async () => {
  const { port, counters } = await tunedServer({ handshakeTimeoutMs: 300, idleTimeoutMs: 1_000 });
  const mute = connect(port);
  const busy = connect(port);
  assert.equal(await call(busy), '0');
  const t0 = Date.now();
  await closed(mute);
  assert.equal(counters.get(CONNECTIONS_CLOSED_IDLE), 1, 'the mute connection');
  assert.ok(!busy.closed && !busy.destroyed, 'a connection that called is held to the idle timeout, not the first-call one');
  await closed(busy);
  assert.ok(Date.now() - t0 >= 600, 'closed after its idle timeout');
  assert.equal(counters.get(CONNECTIONS_CLOSED_IDLE), 2, 'the connection whose calls ended');
});

test('an idle connection whose client never closes its side is closed all the same', { timeout: 20_000 }, async () => {
  const { port, counters } = await tunedServer({ handshakeTimeoutMs: 300 });
  // The HTTP/2 preface and an empty SETTINGS frame, then nothing; the server's FIN is ignored.
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  cleanups.push(() => socket.destroy());
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
  // After the server's FIN, bytes to a socket the server has really closed are answered with a
  // reset; a server that only ended its side (a graceful close) would read them on.
  let poke: NodeJS.Timeout | undefined;
  socket.once('end', () => (poke = setInterval(() => socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])), 50)));
  await new Promise((resolve) => socket.once('close', resolve));
  clearInterval(poke);
  assert.equal(counters.get(CONNECTIONS_CLOSED_IDLE), 1);
});
