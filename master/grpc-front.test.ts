/**
 * The GrpcFront between real grpc-js clients (as flume-node and flume-shell use them) and a real
 * grpc-js server, all on loopback sockets: fast calls answered by the front, everything else
 * relayed with grpc-js's own behaviour (status codes, deadlines, compression, big messages).
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FlumeError } from '../core/errors';
import { decodeMessage, encodeMessage, serviceDefinition } from '../proto';
import { GrpcFront } from './grpc-front';

class StoreDownError extends FlumeError {
  override readonly grpcCode = grpc.status.UNAVAILABLE;
}

type Unary = (req: object, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: never) => void) => void;
type MasterStub = grpc.Client & Record<'Heartbeat' | 'GetConfigs' | 'GetChain', Unary>;
const MasterCtor = grpc.makeGenericClientConstructor(serviceDefinition('Master'), 'Master') as unknown as
  new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => MasterStub;

interface HbReply { logical: string[]; versions: Array<{ logical: string; version: number }>; heartbeatMs: number }

const calls = { fast: 0, grpcHeartbeat: 0 };
let failWith: Error | undefined;

/** Replies name the node and its logical nodes with version = number of logical nodes. */
function heartbeatReply(bytes: Buffer): Buffer {
  if (failWith) throw failWith;
  const req = decodeMessage<{ physical: string; logical: Array<{ name: string }> }>('HeartbeatRequest', bytes);
  const names = [req.physical, ...req.logical.map((l) => l.name)];
  return encodeMessage('HeartbeatReply', { logical: names, versions: names.map((logical) => ({ logical, version: names.length })), heartbeatMs: 1234 });
}

let server: grpc.Server;
let front: GrpcFront;
let address: string;
const clients: grpc.Client[] = [];

function client(options?: grpc.ChannelOptions): MasterStub {
  const c = new MasterCtor(address, grpc.credentials.createInsecure(), options);
  clients.push(c);
  return c;
}

function call<T>(stub: MasterStub, method: 'Heartbeat' | 'GetConfigs' | 'GetChain', req: object, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    stub[method].call(stub, req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as T)));
  });
}

const hb = (physical: string, ...logical: string[]): object => ({
  physical, host: 'h', role: 'agent', startedAt: 1, logical: logical.map((name) => ({ name, state: 3, configVersion: 0, message: '' })),
});

before(async () => {
  server = new grpc.Server();
  server.addService(serviceDefinition('Master', ['Heartbeat']), {
    Heartbeat: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      calls.grpcHeartbeat++;
      cb(null, heartbeatReply(c.request));
    },
    GetConfigs: (c: grpc.ServerUnaryCall<{ physical: string }, object>, cb: grpc.sendUnaryData<object>) => {
      // A reply of ~2 MB: well past HTTP/2's 64 KiB windows, so the relay must follow flow control.
      const source = 'x'.repeat(1000);
      cb(null, { configs: Array.from({ length: 2000 }, (_, i) => ({ logical: `${c.request.physical}-${i}`, version: i, flow: 'f', source, sink: 'k' })) });
    },
    GetChain: (c: grpc.ServerUnaryCall<{ logical: string }, object>, cb: grpc.sendUnaryData<object>) => {
      if (c.request.logical === 'slow') setTimeout(() => cb(null, { collectors: [], version: 0 }), 2_000);
      else if (c.request.logical === 'bad') cb({ code: grpc.status.NOT_FOUND, details: 'no such node: bad' });
      else cb(null, { collectors: ['c1:1', 'c2:2'], version: 9 });
    },
  });
  const inner = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
  const counted = (bytes: Buffer): Buffer => {
    calls.fast++;
    return heartbeatReply(bytes);
  };
  front = new GrpcFront({ host: '127.0.0.1', port: 0, upstream: `127.0.0.1:${inner}`, handlers: new Map([['/flume.Master/Heartbeat', counted]]) });
  address = `127.0.0.1:${await front.listen()}`;
});

after(async () => {
  for (const c of clients) c.close();
  await front.close(0);
  server.forceShutdown();
});

test('a grpc-js client heartbeats through the front: answered there, same reply as from grpc-js', async () => {
  const before = { ...calls };
  const stub = client();
  const reply = await call<HbReply>(stub, 'Heartbeat', hb('p1', 'a', 'b'));
  assert.deepEqual(reply, { logical: ['p1', 'a', 'b'], versions: [{ logical: 'p1', version: 3 }, { logical: 'a', version: 3 }, { logical: 'b', version: 3 }], heartbeatMs: 1234 });
  assert.equal(calls.fast, before.fast + 1);
  assert.equal(calls.grpcHeartbeat, before.grpcHeartbeat, 'grpc-js did not see it');
});

test('2,000 concurrent heartbeats on one connection are each answered with their own reply', async () => {
  const stub = client();
  const replies = await Promise.all(Array.from({ length: 2000 }, (_, i) => call<HbReply>(stub, 'Heartbeat', hb(`n${i}`))));
  replies.forEach((r, i) => assert.deepEqual(r.logical, [`n${i}`]));
});

test('a handler error reaches the client as its status code and message', async () => {
  const stub = client();
  failWith = new StoreDownError('the master is starting: try again at host:1');
  try {
    await assert.rejects(call(stub, 'Heartbeat', hb('p1')), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.equal(err.details, 'the master is starting: try again at host:1');
      return true;
    });
    failWith = new Error('boom');
    await assert.rejects(call(stub, 'Heartbeat', hb('p1')), (err: grpc.ServiceError) => err.code === grpc.status.INTERNAL && err.details === 'boom');
  } finally {
    failWith = undefined;
  }
  assert.deepEqual((await call<HbReply>(stub, 'Heartbeat', hb('p2'))).logical, ['p2'], 'the connection still works');
});

test('other methods are relayed to grpc-js: replies, big replies, error statuses', async () => {
  const stub = client();
  assert.deepEqual(await call(stub, 'GetChain', { logical: 'a', flow: '' }), { collectors: ['c1:1', 'c2:2'], version: 9 });
  await assert.rejects(call(stub, 'GetChain', { logical: 'bad', flow: '' }), (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND && err.details === 'no such node: bad');
  const { configs } = await call<{ configs: Array<{ logical: string; version: number; source: string }> }>(stub, 'GetConfigs', { physical: 'p', logical: [] });
  assert.equal(configs.length, 2000);
  assert.deepEqual(configs.map((c) => c.version), Array.from({ length: 2000 }, (_, i) => i));
  assert.ok(configs.every((c, i) => c.logical === `p-${i}` && c.source.length === 1000));
});

test('a deadline passes through the relay; an unknown method is UNIMPLEMENTED', async () => {
  const stub = client();
  const started = Date.now();
  await assert.rejects(call(stub, 'GetChain', { logical: 'slow', flow: '' }, 300), (err: grpc.ServiceError) => err.code === grpc.status.DEADLINE_EXCEEDED);
  assert.ok(Date.now() - started < 1_900, 'the caller did not wait for the slow handler');
  const unknown = new grpc.Client(address, grpc.credentials.createInsecure());
  clients.push(unknown);
  await assert.rejects(new Promise((resolve, reject) => {
    unknown.makeUnaryRequest('/flume.Master/NoSuchMethod', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err, res) => (err ? reject(err) : resolve(res)));
  }), (err: grpc.ServiceError) => err.code === grpc.status.UNIMPLEMENTED);
});

test('a compressed heartbeat goes to grpc-js, which decompresses and answers it', async () => {
  const before = { ...calls };
  const stub = client({ 'grpc.default_compression_algorithm': 2 }); // gzip
  const reply = await call<HbReply>(stub, 'Heartbeat', hb('gz', 'l'.repeat(5000)));
  assert.deepEqual(reply.logical, ['gz', 'l'.repeat(5000)]);
  assert.equal(calls.grpcHeartbeat, before.grpcHeartbeat + 1);
  assert.equal(calls.fast, before.fast);
});

test('after close() new calls fail UNAVAILABLE (the client may go to another master)', async () => {
  const inner = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
  const second = new GrpcFront({ host: '127.0.0.1', port: 0, upstream: `127.0.0.1:${inner}`, handlers: new Map([['/flume.Master/Heartbeat', heartbeatReply]]) });
  const port = await second.listen();
  const stub = new MasterCtor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  clients.push(stub);
  assert.deepEqual((await call<HbReply>(stub, 'Heartbeat', hb('c'))).logical, ['c']);
  await second.close();
  await assert.rejects(call(stub, 'Heartbeat', hb('c'), 2_000), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
});
