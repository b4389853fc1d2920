/**
 * Agent sink → collector server → channel over real gRPC on 127.0.0.1: everything arrives once,
 * in order, and each mode resolves on the ack it promises.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, test } from 'node:test';
import { AgentSink } from '../../agent/sinks/agent-sink';
import { CollectorServer } from '../../collector/source/collector-server';
import { CollectorSource } from '../../collector/source/collector-source';
import { batchOf, inTransaction } from '../../core/channel';
import type { SourceOutput } from '../../core/component';
import { MemoryChannel } from '../../core/memory-channel';
import { checkExactlyOnceInOrder, Drain, eventNumbers, numberedBatches, pumpAll, waitFor, recorded, tierTls } from './helpers';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function collector(e2e: boolean) {
  const channel = new MemoryChannel('collector', { capacityBytes: 8 * 1024 * 1024 });
  const server = new CollectorServer(channel, { port: 0 }, { tls: tierTls.collector() });
  await server.start();
  const drain = new Drain(channel, { onStored: e2e ? (b) => server.ackEndToEnd(b.origin, b.seq) : undefined });
  cleanups.push(async () => {
    await drain.stop();
    await server.stop();
  });
  return { channel, server, drain };
}

for (const mode of ['DFO', 'E2E', 'BE'] as const) {
  test(`${mode}: 300 batches from two agents arrive once each, in order, and every append resolves`, async () => {
    const { server, drain } = await collector(mode === 'E2E');
    const sinks = ['a1', 'a2'].map(
      (agent) => new AgentSink({ collectors: [`127.0.0.1:${server.port}`], mode, agent, window: 8 }, { tls: tierTls.agent() }),
    );
    for (const s of sinks) await s.open();
    const batches = sinks.map((_, i) => numberedBatches(`web${i}`, 150, 200));
    await Promise.all(sinks.map((s, i) => pumpAll(s, batches[i])));
    await waitFor(() => drain.seen.length >= 300, 'all batches in the channel');
    for (let i = 0; i < 2; i++) assert.equal(checkExactlyOnceInOrder(drain.seen, recorded(`web${i}`), 150), null);
    assert.equal(drain.events, 300 * 200);
    // Event numbers within each origin run 0.. without a gap.
    for (let i = 0; i < 2; i++) {
      const nums = drain.seen.filter((b) => b.origin === recorded(`web${i}`)).flatMap((b) => eventNumbers(b.bytes));
      assert.deepEqual(
        nums,
        Array.from({ length: 150 * 200 }, (_, k) => k),
      );
    }
    const st = server.stats();
    assert.equal(st.acks_hop, 300);
    assert.equal(st.acks_e2e ?? 0, mode === 'E2E' ? 300 : 0);
    assert.equal(st.events_accepted, 300 * 200);
    for (const s of sinks) {
      assert.equal(s.stats().sink_batches_acked, 150);
      assert.equal(s.stats().batches_dropped ?? 0, 0);
      await s.close();
    }
  });
}

test('windowBytes: unacked bytes sent stay within it (one batch always goes), and all arrives in order once acked', async () => {
  const channel = new MemoryChannel('collector', { capacityBytes: 8 * 1024 * 1024 });
  const server = new CollectorServer(channel, { port: 0 }, { tls: tierTls.collector() });
  await server.start();
  const held: Array<{ origin: string; seq: number }> = [];
  const drain = new Drain(channel, { onStored: (b) => held.push({ origin: b.origin, seq: b.seq }) });
  cleanups.push(async () => {
    await drain.stop();
    await server.stop();
  });
  const batches = numberedBatches('web', 12, 100); // ~13 KB each
  const size = batches[0].bytes.length;
  const sink = new AgentSink(
    { collectors: [`127.0.0.1:${server.port}`], mode: 'E2E', agent: 'a', window: 12, windowBytes: 2 * size + 10 },
    { tls: tierTls.agent() },
  );
  await sink.open();
  const appends = batches.map((b) => sink.append(b));
  await waitFor(() => drain.seen.length >= 2, 'the first two batches at the collector');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(drain.seen.length, 2, 'a third batch would pass windowBytes while the first two wait for their end-to-end ack');
  while (drain.seen.length < 12 || held.length > 0) {
    for (const { origin, seq } of held.splice(0)) server.ackEndToEnd(origin, seq);
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(appends);
  assert.equal(checkExactlyOnceInOrder(drain.seen, recorded('web'), 12), null);

  const big = new AgentSink(
    { collectors: [`127.0.0.1:${server.port}`], mode: 'DFO', agent: 'b', windowBytes: 1 },
    { tls: tierTls.agent() },
  );
  await big.open();
  await big.append(numberedBatches('big', 1, 100)[0]); // larger than the window: goes alone
  await big.close();
  await sink.close();
});

test('E2E: append resolves only after the storage writer fires the end-to-end ack', async () => {
  const channel = new MemoryChannel('collector', { capacityBytes: 8 * 1024 * 1024 });
  const server = new CollectorServer(channel, { port: 0 }, { tls: tierTls.collector() });
  await server.start();
  cleanups.push(() => server.stop());
  const sink = new AgentSink({ collectors: [`127.0.0.1:${server.port}`], mode: 'E2E', window: 4 }, { tls: tierTls.agent() });
  await sink.open();
  cleanups.push(() => sink.close());
  const [batch] = numberedBatches('e2e', 1, 10);
  let resolved = false;
  const appended = sink.append(batch).then(() => (resolved = true));
  await waitFor(() => server.stats().acks_hop === 1, 'the hop ack');
  // Hop-acked and in the channel, but not stored: the append must still be pending.
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(resolved, false);
  assert.equal(channel.stats().batches, 1);
  server.ackEndToEnd(recorded('e2e'), 1);
  await appended;
  assert.equal(resolved, true);
  assert.equal(server.stats().acks_e2e, 1);
});

test('collectorSource through a SourceOutput (as a logical node runs it): batches arrive once, in order', async () => {
  const channel = new MemoryChannel('node', { capacityBytes: 8 * 1024 * 1024 });
  const out: SourceOutput = {
    origin: 'coll1',
    nextSeq: () => 0,
    put: (bytes) => inTransaction(channel, (tx) => tx.put(batchOf(bytes))),
  };
  const source = new CollectorSource({ port: 0 }, { tls: tierTls.collector() });
  await source.open(out);
  const drain = new Drain(channel, { onStored: (b) => source.ackEndToEnd(b.origin, b.seq) });
  cleanups.push(async () => {
    await drain.stop();
    await source.close();
  });
  const sink = new AgentSink({ collectors: [`127.0.0.1:${source.port}`], mode: 'E2E', window: 8 }, { tls: tierTls.agent() });
  await sink.open();
  cleanups.push(() => sink.close());
  await pumpAll(sink, numberedBatches('via-output', 120, 100));
  await waitFor(() => drain.seen.length >= 120, 'every batch');
  assert.equal(checkExactlyOnceInOrder(drain.seen, recorded('via-output'), 120), null);
  assert.equal(source.collector!.stats().acks_e2e, 120);
});

test('IPv6 loopback: a collector on ::1 and a sink to [::1]:port', async (t) => {
  const free = await new Promise<boolean>((resolve) => {
    const s = net
      .createServer()
      .once('error', () => resolve(false))
      .listen(0, '::1', () => s.close(() => resolve(true)));
  });
  if (!free) return t.skip('no IPv6 loopback on this machine');
  const channel = new MemoryChannel('collector6', { capacityBytes: 8 * 1024 * 1024 });
  const server = new CollectorServer(channel, { host: '::1', port: 0 }, { tls: tierTls.collector() });
  await server.start();
  const drain = new Drain(channel);
  cleanups.push(async () => {
    await drain.stop();
    await server.stop();
  });
  const sink = new AgentSink({ collectors: [`[::1]:${server.port}`], mode: 'DFO' }, { tls: tierTls.agent() });
  await sink.open();
  cleanups.push(() => sink.close());
  await pumpAll(sink, numberedBatches('v6', 20, 10));
  await waitFor(() => drain.seen.length >= 20, 'every batch');
  assert.equal(checkExactlyOnceInOrder(drain.seen, recorded('v6'), 20), null);
});
