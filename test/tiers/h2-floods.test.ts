/**
 * The collector's gRPC port under HTTP/2 floods, in a real collector process: PINGs whose
 * answers the client never reads, a header block over the limit, and far more streams than the
 * limit, each half sent. The collector closes each connection (counted by name), stays within a memory
 * bound, and a good agent meanwhile stores every batch exactly once. With mutual TLS, as by
 * default: the flooding client holds an agent certificate of the cluster (a compromised agent),
 * since without one it would not get past the TLS handshake to HTTP/2 at all.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { AgentSink } from '../../agent/sinks/agent-sink';
import { freePort, nodeMetric, rssMb, spawnFlume, tempDir, waitFor } from '../harness/procs';
import { oversizedHeaders, pingFlood } from '../security/floods';
import { storageLines } from '../harness/storage';
import { numberedBatches, tierTls } from './helpers';

/** A connection to the collector's port as a flooding client: TLS with an agent certificate, or plain TCP without TLS; `ready` once it may write. */
function floodSocket(port: number, ready: () => void): net.Socket {
  const agentTls = tierTls.agent();
  return agentTls
    ? tls.connect({ port, host: '127.0.0.1', ALPNProtocols: ['h2'], ...agentTls.clientOptions(['collector']) }, ready)
    : net.connect(port, '127.0.0.1', ready);
}

/** An HTTP/2 session to the collector's port (https with an agent certificate, or http without TLS). */
function h2Session(port: number): http2.ClientHttp2Session {
  const agentTls = tierTls.agent();
  return agentTls
    ? http2.connect(`https://127.0.0.1:${port}`, agentTls.clientOptions(['collector']))
    : http2.connect(`http://127.0.0.1:${port}`);
}

const closed = (s: http2.ClientHttp2Session): Promise<void> =>
  new Promise((resolve) => (s.closed || s.destroyed ? resolve() : s.once('close', () => resolve())));

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
});

test('collector gRPC port: a PING flood, a header flood and a stream flood each lose their connection and are counted, memory stays bounded, a good agent stores everything once', async () => {
  const dir = tempDir();
  cleanups.push(() => dir.remove());
  const port = await freePort();
  const storage = path.join(dir.path, 'store');
  const collector = spawnFlume('node', [
    '--standalone',
    '-n',
    'coll',
    '--data',
    path.join(dir.path, 'coll'),
    '--http-port',
    '0',
    '--channel',
    'wal',
    '-c',
    `coll : collectorSource(${port}) | collectorSink("file://${storage}/", "data-", 500) ;`,
  ]);
  cleanups.push(async () => {
    await collector.stop();
  });
  await collector.waitForLine(/collector source listening/);

  const sink = new AgentSink({ collectors: [`127.0.0.1:${port}`], mode: 'E2E', window: 8 }, { tls: tierTls.agent() });
  await sink.open();
  cleanups.push(() => sink.close());
  const batches = numberedBatches('agentF', 60, 50, 60);
  const delivered = Promise.all(batches.map((b) => sink.append(b)));

  // PINGs never read: the session's queued answers pass its memory limit and it is ended.
  const outcome = await pingFlood((ready) => floodSocket(port, ready), 160, 60_000);
  assert.equal(outcome, 'closed', 'the PING flood connection was closed by the collector');
  await waitFor(async () => ((await nodeMetric(collector, 'flume_connections_refused_total')) ?? 0) >= 1, 20_000, 'the flood counted');

  // A header block over the limit: the request is refused, not served, and its connection closed
  // and counted.
  const client = h2Session(port);
  client.on('error', () => undefined);
  cleanups.push(() => client.destroy());
  await new Promise((resolve) => client.once('remoteSettings', resolve));
  const big = await oversizedHeaders(client, '/flume.Collector/Stored');
  assert.doesNotMatch(big, /^response/, `the oversized header block was refused (${big})`);
  await closed(client);
  assert.equal(await nodeMetric(collector, 'flume_connections_closed_headers_total'), 1, 'the header flood counted by name');

  // 300 Append streams each half sent: nghttp2 lets the client open 128, the collector closes the
  // connection once more than 64 are open.
  const flood = h2Session(port);
  flood.on('error', () => undefined);
  const settings = new Promise<http2.Settings>((resolve) => flood.once('remoteSettings', resolve));
  cleanups.push(() => flood.destroy());
  const half = Buffer.alloc(512 * 1024, 1);
  half.writeUInt8(0, 0);
  half.writeUInt32BE(4 * 1024 * 1024, 1); // a 4 MB message, of which 512 KB is sent
  for (let i = 0; i < 300; i++) {
    const s = flood.request({ ':method': 'POST', ':path': '/flume.Collector/Append', 'content-type': 'application/grpc', te: 'trailers' });
    s.on('error', () => undefined);
    s.write(half);
  }
  const limit = (await settings).maxConcurrentStreams;
  assert.equal(limit, 128, 'nghttp2 allows twice the stream limit, so the guard sees a client over it');
  await closed(flood);
  assert.equal(await nodeMetric(collector, 'flume_connections_closed_streams_total'), 1, 'the stream flood counted by name');

  await delivered;
  const expected = batches.length * 50;
  await waitFor(() => storageLines(storage).length >= expected, 60_000, `${expected} lines stored`);
  const lines = storageLines(storage);
  assert.equal(lines.length, expected);
  assert.equal(new Set(lines).size, expected, 'no duplicate');
  assert.equal(collector.child.exitCode, null, 'the collector is still running');
  const rss = rssMb(collector.pid);
  assert.ok(rss < 400, `collector RSS ${rss.toFixed(0)} MB after the floods`);
  console.log(`collector RSS after the floods: ${rss.toFixed(0)} MB`);
});
