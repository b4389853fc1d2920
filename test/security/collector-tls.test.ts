/**
 * A collector with mutual TLS, over real sockets with real certificates (openssl, per-run CA):
 * only agent and relay certificates from the cluster's CA may push batches, each refusal is
 * counted by reason, and a batch is recorded under its sender's certificate name, so a client
 * cannot make another agent's batches look already stored.
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, test } from 'node:test';
import { AgentSink } from '../../agent/sinks/agent-sink';
import { CollectorConnection } from '../../agent/sinks/connection';
import { CollectorServer } from '../../collector/source/collector-server';
import { APPEND_PATH, type Ack, decodeAck, encodeHello } from '../../core/grpc/append';
import { MemoryChannel } from '../../core/memory-channel';
import { rejectCounter, TlsContext, type RejectReason } from '../../core/tls';
import { TestCerts } from '../harness/tls';
import { Drain, numberedBatches, pumpAll, waitFor } from '../tiers/helpers';

const certs = TestCerts.shared();
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** Counts everything it is told, like a CounterSet. */
class Tally {
  readonly values = new Map<string, number>();
  add(name: string, n = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + n);
  }
  refused(reason: RejectReason): number {
    return this.values.get(rejectCounter(reason)) ?? 0;
  }
}

async function collector(e2e = true) {
  const channel = new MemoryChannel('collector', { capacityBytes: 8 * 1024 * 1024 });
  const tally = new Tally();
  const server = new CollectorServer(channel, { port: 0 }, { tls: TlsContext.load(certs.files('collector', 'coll1')), counters: tally });
  await server.start();
  const drain = new Drain(channel, { onStored: e2e ? (b) => server.ackEndToEnd(b.origin, b.seq) : undefined });
  cleanups.push(async () => {
    await drain.stop();
    await server.stop();
  });
  return { server, drain, tally, target: `127.0.0.1:${server.port}` };
}

/** Opens an Append stream with `credentials`, sends one batch; resolves with its first ack or the stream's error. */
function tryAppend(
  target: string,
  credentials: grpc.ChannelCredentials,
  origin = 'web',
): Promise<{ ack?: Ack; error?: grpc.ServiceError }> {
  const client = new grpc.Client(target, credentials);
  return new Promise((resolve) => {
    const id = (b: Buffer): Buffer => b;
    const call = client.makeBidiStreamRequest(APPEND_PATH, id, id, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    const done = (r: { ack?: Ack; error?: grpc.ServiceError }): void => {
      call.cancel();
      client.close();
      resolve(r);
    };
    call.on('data', (bytes: Buffer) => done({ ack: decodeAck(bytes) }));
    call.on('error', (error: grpc.ServiceError) => done({ error }));
    call.write(encodeHello({ agent: 'x', flow: '', endToEnd: false }));
    call.write(numberedBatches(origin, 1, 10)[0].bytes);
  });
}

function credentialsOf(files: { ca: string; cert: string; key: string }, ca = files.ca): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(fs.readFileSync(ca), fs.readFileSync(files.key), fs.readFileSync(files.cert), {
    checkServerIdentity: () => undefined,
  });
}

test('an agent certificate from the cluster CA pushes batches; they are recorded under its name and acked end to end under the origin it sent', async () => {
  const { drain, target, server } = await collector();
  const sink = new AgentSink(
    { collectors: [target], mode: 'E2E', agent: 'web01', window: 8 },
    { tls: TlsContext.load(certs.files('agent', 'web01')) },
  );
  await sink.open();
  await pumpAll(sink, numberedBatches('web01', 20, 50));
  await waitFor(() => drain.seen.length >= 20, 'twenty batches stored');
  assert.deepEqual([...new Set(drain.seen.map((b) => b.origin))], ['web01/web01']);
  assert.equal(sink.stats().sink_batches_acked, 20, 'every append resolved on its end-to-end ack');
  assert.equal(server.stats().acks_e2e, 20);
  await sink.close();
});

test("no certificate, another CA's certificate, an admin certificate and an expired one cannot push a batch, and each refusal is counted by reason", async () => {
  const { target, tally, drain } = await collector(false);
  const ca = certs.files('collector', 'coll1').ca;

  const none = await tryAppend(
    target,
    grpc.credentials.createSsl(fs.readFileSync(ca), null, null, { checkServerIdentity: () => undefined }),
  );
  assert.equal(none.error?.code, grpc.status.UNAUTHENTICATED, `no certificate: ${none.error?.details}`);
  assert.match(none.error!.details, /no client certificate/);

  const foreign = await tryAppend(target, credentialsOf(TestCerts.foreign().files('agent', 'web01'), ca));
  assert.equal(foreign.error?.code, grpc.status.UNAUTHENTICATED);
  assert.match(foreign.error!.details, /not from this cluster's CA/);

  const admin = await tryAppend(target, credentialsOf(certs.files('admin', 'alice')));
  assert.equal(admin.error?.code, grpc.status.PERMISSION_DENIED);
  assert.match(admin.error!.details, /admin "alice" may not send batches/);

  const expired = await tryAppend(
    target,
    credentialsOf(certs.filesAs('old', 'agent', 'web09', { notBefore: new Date('2020-01-01'), notAfter: new Date('2020-01-02') })),
  );
  assert.equal(expired.error?.code, grpc.status.UNAUTHENTICATED);
  assert.match(expired.error!.details, /expired/);

  assert.deepEqual(
    [tally.refused('no_certificate'), tally.refused('unknown_ca'), tally.refused('wrong_role'), tally.refused('expired')],
    [1, 1, 1, 1],
  );
  assert.equal(drain.seen.length, 0, 'nothing reached the channel');
});

test("a client with its own agent certificate cannot make another agent's batches look stored: both are stored, each under its sender", async () => {
  const { target, drain } = await collector();
  // The attacker sends seqs 1..5 under origin "web01" first.
  const attacker = await tryAppend(target, credentialsOf(certs.files('agent', 'mallory')), 'web01');
  assert.equal(attacker.ack?.status, 0, 'its own batch is accepted (in its own space)');
  const sink = new AgentSink(
    { collectors: [target], mode: 'E2E', agent: 'web01', window: 4 },
    { tls: TlsContext.load(certs.files('agent', 'web01')) },
  );
  await sink.open();
  await pumpAll(sink, numberedBatches('web01', 5, 10));
  await waitFor(() => drain.seen.filter((b) => b.origin === 'web01/web01').length >= 5, "the real agent's five batches stored");
  assert.deepEqual(drain.seen.map((b) => `${b.origin}#${b.seq}`).sort(), [
    'mallory/web01#1',
    'web01/web01#1',
    'web01/web01#2',
    'web01/web01#3',
    'web01/web01#4',
    'web01/web01#5',
  ]);
  await sink.close();
});

test("an agent refuses to send to a server whose certificate is not a collector's", async () => {
  const channel = new MemoryChannel('fake', { capacityBytes: 1024 * 1024 });
  const server = new CollectorServer(channel, { port: 0 }, { tls: TlsContext.load(certs.files('agent', 'impostor')) });
  await server.start();
  cleanups.push(() => server.stop());
  const conn = new CollectorConnection(`127.0.0.1:${server.port}`, {}, TlsContext.load(certs.files('agent', 'web01')));
  await assert.rejects(conn.ready(3_000));
  conn.close();
});
