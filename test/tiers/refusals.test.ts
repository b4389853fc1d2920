/**
 * What the collector refuses, and that a refusal touches only the stream it concerns: bad
 * checksums (REJECTED, DATA_LOSS, counted), garbage and oversized gRPC messages from a rogue
 * client, raw bytes that are not HTTP/2 at all — while a good agent keeps streaming.
 */
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { BatchRejectedError, AgentSink } from '../../agent/sinks/agent-sink';
import { CollectorServer } from '../../collector/source/collector-server';
import type { Batch } from '../../core/channel';
import { APPEND_PATH, encodeHello } from '../../core/grpc/append';
import { channelCredentialsFor } from '../../core/tls';
import { MemoryChannel } from '../../core/memory-channel';
import { checkExactlyOnceInOrder, Drain, numberedBatches, pumpAll, waitFor, recorded, tierTls } from './helpers';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
});

async function collector(options: { maxBatchBytes?: number } = {}) {
  const channel = new MemoryChannel('collector', { capacityBytes: 8 * 1024 * 1024 });
  const server = new CollectorServer(channel, { port: 0, ...options }, { tls: tierTls.collector() });
  await server.start();
  const drain = new Drain(channel);
  cleanups.push(async () => {
    await drain.stop();
    await server.stop();
  });
  return { server, drain, target: `127.0.0.1:${server.port}` };
}

function corrupt(b: Batch): Batch {
  const bytes = Buffer.from(b.bytes);
  bytes[bytes.length - 3] ^= 0xff; // inside the last event's body: the CRC no longer matches
  return { ...b, bytes };
}

for (const mode of ['DFO', 'BE'] as const) {
  test(`${mode}: a batch with a bad checksum is rejected and counted; the others go through`, async () => {
    const { server, drain, target } = await collector();
    const sink = new AgentSink({ collectors: [target], mode, window: 16 }, { tls: tierTls.agent() });
    await sink.open();
    cleanups.push(() => sink.close());
    const batches = numberedBatches('crc', 10, 20);
    batches[4] = corrupt(batches[4]);
    const results = await Promise.allSettled(batches.map((b) => sink.append(b)));
    if (mode === 'DFO') {
      assert.equal(results[4].status, 'rejected');
      const err = (results[4] as PromiseRejectedResult).reason;
      assert.ok(err instanceof BatchRejectedError);
      assert.equal(err.code, grpc.status.DATA_LOSS);
      assert.equal(err.retriable, false);
    } else {
      assert.equal(results[4].status, 'fulfilled');
      assert.equal(sink.stats().batches_dropped, 1);
      assert.equal(sink.stats().events_dropped, 20);
    }
    assert.deepEqual(
      results.filter((r, i) => i !== 4 && r.status !== 'fulfilled'),
      [],
    );
    await waitFor(() => drain.seen.length >= 9, 'the nine good batches');
    assert.deepEqual(
      drain.seen.map((b) => b.seq),
      [1, 2, 3, 4, 6, 7, 8, 9, 10],
    );
    assert.equal(server.stats().checksum_failures, 1);
    assert.equal(sink.stats().batches_rejected, 1);
  });
}

const identity = (b: Buffer): Buffer => b;

/**
 * Sends raw messages on an Append stream; resolves with the status the server ended it with. The
 * rogue holds an agent certificate of the cluster: what it sends is checked after who it is.
 */
function rogueStream(target: string, messages: Buffer[]): Promise<grpc.StatusObject | grpc.ServiceError> {
  const client = new grpc.Client(target, channelCredentialsFor(tierTls.agent(), ['collector']), {
    'grpc.max_send_message_length': -1,
    'grpc.use_local_subchannel_pool': 1,
  });
  cleanups.push(() => client.close());
  return new Promise((resolve) => {
    const call = client.makeBidiStreamRequest(APPEND_PATH, identity, identity);
    call.on('data', () => undefined);
    call.on('error', (err: grpc.ServiceError) => resolve(err));
    call.on('status', (s: grpc.StatusObject) => resolve(s));
    for (const m of messages) call.write(m);
  });
}

/** A raw HTTP/2 request on the Append path carrying `body` as-is (gRPC framing included or not). */
function rawGrpcRequest(port: number, body: Buffer): Promise<string | undefined> {
  const agentTls = tierTls.agent();
  return new Promise((resolve) => {
    const session = agentTls
      ? http2.connect(`https://127.0.0.1:${port}`, agentTls.clientOptions(['collector']))
      : http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => resolve('session-error'));
    const req = session.request({ ':method': 'POST', ':path': APPEND_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    let status: string | undefined;
    req.on('response', (h) => (status = h['grpc-status'] as string | undefined));
    req.on('trailers', (t) => (status = t['grpc-status'] as string | undefined));
    req.on('data', () => undefined);
    req.on('error', () => undefined);
    req.on('close', () => {
      session.close();
      resolve(status);
    });
    req.end(body);
  });
}

test('a rogue client sending garbage and oversized messages is refused and counted; a good agent keeps flowing', async () => {
  const { server, drain, target } = await collector({ maxBatchBytes: 256 * 1024 });
  const sink = new AgentSink({ collectors: [target], mode: 'DFO', window: 8 }, { tls: tierTls.agent() });
  await sink.open();
  cleanups.push(() => sink.close());
  const good = numberedBatches('good', 300, 100);
  const pumping = pumpAll(sink, good);
  await waitFor(() => drain.seen.length >= 20, 'the good agent streaming');

  const hello = encodeHello({ agent: 'rogue', flow: 'x', endToEnd: false });
  const [noHello, garbageAfterHello, notABatch, oversized, twoHellos] = await Promise.all([
    rogueStream(target, [Buffer.from('definitely not protobuf')]),
    rogueStream(target, [hello, Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02])]),
    rogueStream(target, [hello, Buffer.from([0x0a, 0x05, 0x01])]),
    rogueStream(target, [hello, Buffer.alloc(1024 * 1024, 0x7a)]),
    rogueStream(target, [hello, hello]),
  ]);
  assert.equal(noHello.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(garbageAfterHello.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(notABatch.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(oversized.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(twoHellos.code, grpc.status.INVALID_ARGUMENT);

  // Below gRPC: a frame claiming a 2 GiB message, and bytes that are not HTTP/2 at all.
  const huge = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xff]), Buffer.alloc(1000, 1)]);
  assert.equal(await rawGrpcRequest(server.port, huge), String(grpc.status.RESOURCE_EXHAUSTED));
  // With TLS, the bytes that are not HTTP/2 come inside a TLS session (plain bytes would not pass its handshake).
  const agentTls = tierTls.agent();
  const socketClosed = await new Promise<boolean>((resolve) => {
    const garbage = (): void => void s.write(Buffer.alloc(4096, 0x42));
    const s = agentTls
      ? tls.connect({ port: server.port, host: '127.0.0.1', ALPNProtocols: ['h2'], ...agentTls.clientOptions(['collector']) }, garbage)
      : net.connect(server.port, '127.0.0.1', garbage);
    s.on('error', () => undefined);
    s.on('close', () => resolve(true));
    s.on('data', () => undefined);
  });
  assert.ok(socketClosed);
  await waitFor(() => (server.stats().connections_refused ?? 0) >= 1, 'the non-HTTP/2 connection counted');

  await pumping;
  await waitFor(() => drain.seen.length >= 300, 'every good batch');
  assert.equal(checkExactlyOnceInOrder(drain.seen, recorded('good'), 300), null);
  assert.equal(sink.stats().reconnects ?? 0, 0, 'the good stream was never disturbed');
  const st = server.stats();
  assert.equal(st.malformed_messages, 4);
  assert.ok(st.streams_aborted >= 2, `aborted streams counted: ${st.streams_aborted}`);
  assert.equal(st.events_accepted, 300 * 100);
});
