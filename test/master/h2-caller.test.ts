/**
 * The benchmark's lean HTTP/2 caller against real servers: node's http2 (nghttp2 encodes its
 * headers with Huffman strings and the dynamic table, so HPACK decoding is exercised for real),
 * and a GrpcFront in front of grpc-js, as the master runs them.
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { GrpcFront } from '../../master/grpc-front';
import { decodeMessage, encodeMessage, serviceDefinition } from '../../proto';
import { H2Caller } from './h2-caller';
import { encodeHeaderBlock, HpackDecoder } from '../../master/hpack';

const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

function callOnce(caller: H2Caller, path: string, message: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => caller.call(path, message, (err, reply) => (err ? reject(err) : resolve(reply!))));
}

/** A deterministic pseudo-random generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

test('HPACK: literal blocks we encode decode to the same fields; integers past their prefix', () => {
  const fields: Array<[string, string]> = [[':method', 'POST'], [':path', '/x'.repeat(100)], ['te', 'trailers'], ['x-long', 'v'.repeat(3000)]];
  const seen: Array<[string, string]> = [];
  new HpackDecoder().decode(encodeHeaderBlock(fields), (n, v) => seen.push([n, v]));
  assert.deepEqual(seen, fields);
});

test('replies, statuses and messages from node\'s http2 server: Huffman strings, dynamic table with evictions', async () => {
  const random = rng(42);
  const text = (n: number): string => Array.from({ length: n }, () => String.fromCharCode(0x20 + Math.floor(random() * 95))).join('');
  const server = http2.createServer();
  const expected = new Map<string, { status: number; message: string; extra: Record<string, string> }>();
  server.on('stream', (stream, headers) => {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      const id = headers[':path']!.slice(1);
      const e = expected.get(id)!;
      if (e.status === 0) {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...e.extra }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-trailer': e.message }));
        const body = Buffer.from(id);
        const framed = Buffer.alloc(5 + body.length);
        framed.writeUInt32BE(body.length, 1);
        body.copy(framed, 5);
        stream.end(framed);
      } else {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...e.extra, 'grpc-status': String(e.status), 'grpc-message': encodeURIComponent(e.message) }, { endStream: true });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise((r) => server.close(r)));
  const caller = new H2Caller('127.0.0.1', (server.address() as AddressInfo).port);
  cleanup.push(() => caller.close());

  // Repeated names and values get indexed by the server; 300 calls of up to ~1 KiB of headers
  // overflow its 4 KiB table many times over.
  const values = Array.from({ length: 20 }, () => text(1 + Math.floor(random() * 200)));
  for (let i = 0; i < 300; i++) {
    const extra: Record<string, string> = {};
    for (let k = 0; k < 5; k++) extra[`x-h${Math.floor(random() * 10)}`] = values[Math.floor(random() * values.length)];
    expected.set(`call${i}`, { status: i % 3 === 0 ? 0 : 1 + (i % 16), message: text(Math.floor(random() * 300)), extra });
  }
  const results = await Promise.allSettled([...expected.keys()].map((id) => callOnce(caller, `/${id}`, Buffer.from('q'))));
  results.forEach((r, i) => {
    const e = expected.get(`call${i}`)!;
    if (e.status === 0) {
      assert.equal(r.status, 'fulfilled', `call${i}`);
      assert.equal((r as PromiseFulfilledResult<Buffer>).value.toString(), `call${i}`);
    } else {
      assert.equal(r.status, 'rejected', `call${i}`);
      assert.equal((r as PromiseRejectedResult).reason.message, `grpc-status ${e.status}: ${e.message}`);
    }
  });
});

test('through a GrpcFront and grpc-js: fast heartbeats, relayed calls with big replies, 5,000 calls at once', async () => {
  const server = new grpc.Server();
  server.addService(serviceDefinition('Master', ['Heartbeat']), {
    Heartbeat: (_c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.INTERNAL, details: 'the front should answer' }),
    GetConfigs: (c: grpc.ServerUnaryCall<{ physical: string }, object>, cb: grpc.sendUnaryData<object>) => {
      cb(null, { configs: Array.from({ length: 1000 }, (_, i) => ({ logical: `${c.request.physical}${i}`, version: i, flow: '', source: 's'.repeat(1000), sink: 'k' })) });
    },
    GetChain: (_c: unknown, cb: grpc.sendUnaryData<object>) => cb({ code: grpc.status.NOT_FOUND, details: 'no chain: here' }),
  });
  const inner = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  cleanup.push(() => server.forceShutdown());
  const heartbeat = (bytes: Buffer): Buffer => {
    const req = decodeMessage<{ physical: string }>('HeartbeatRequest', bytes);
    return encodeMessage('HeartbeatReply', { logical: [req.physical], versions: [], heartbeatMs: 1000 });
  };
  const front = new GrpcFront({ host: '127.0.0.1', port: 0, upstream: `127.0.0.1:${inner}`, handlers: new Map([['/flume.Master/Heartbeat', heartbeat]]) });
  const port = await front.listen();
  cleanup.push(() => front.close(0));
  const caller = new H2Caller('127.0.0.1', port);
  cleanup.push(() => caller.close());

  const replies = await Promise.all(Array.from({ length: 5000 }, (_, i) => callOnce(caller, '/flume.Master/Heartbeat', encodeMessage('HeartbeatRequest', { physical: `n${i}`, logical: [] }))));
  replies.forEach((r, i) => assert.deepEqual(decodeMessage<{ logical: string[] }>('HeartbeatReply', r).logical, [`n${i}`]));
  assert.equal(caller.inFlight, 0);

  const configs = decodeMessage<{ configs: Array<{ logical: string; source: string }> }>('ConfigReply', await callOnce(caller, '/flume.Master/GetConfigs', encodeMessage('ConfigRequest', { physical: 'p', logical: [] }))).configs;
  assert.equal(configs.length, 1000);
  assert.ok(configs.every((c, i) => c.logical === `p${i}` && c.source.length === 1000));
  await assert.rejects(callOnce(caller, '/flume.Master/GetChain', encodeMessage('ChainRequest', { logical: 'a' })), /grpc-status 5: no chain: here/);
  await assert.rejects(callOnce(caller, '/flume.Master/Nope', Buffer.alloc(0)), /grpc-status 12/);
});
