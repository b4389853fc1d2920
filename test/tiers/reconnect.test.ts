/**
 * A collector cut off mid-stream (every connection dropped at once, as a crash does) and
 * restarted on the same port: the agent sink reconnects and delivers everything; in E2E mode it
 * asks `Stored` first and does not resend what storage already holds.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { AgentSink } from '../../agent/sinks/agent-sink';
import { CollectorServer } from '../../collector/source/collector-server';
import { MemoryChannel } from '../../core/memory-channel';
import { checkExactlyOnceInOrder, Drain, numberedBatches, pumpAll, Storage, waitFor, recorded, tierTls } from './helpers';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** A storage-writer stand-in: keeps the first copy of each batch id, as writers do (dedup). */

async function startCollector(port: number, channel: MemoryChannel, storage: Storage, ackE2E: () => boolean) {
  const server = new CollectorServer(channel, { port }, { tls: tierTls.collector(), isStored: storage.lookup });
  await server.start();
  const drain = new Drain(channel, {
    onStored: (b) => {
      storage.store(b);
      if (ackE2E()) server.ackEndToEnd(b.origin, b.seq);
    },
  });
  cleanups.push(async () => {
    await drain.stop();
    await server.stop();
  });
  return { server, drain };
}

test('DFO: collector killed mid-stream and restarted on the same port; everything delivered, in order', async () => {
  const storage = new Storage();
  const channel = new MemoryChannel('collector', { capacityBytes: 4 * 1024 * 1024 });
  const first = await startCollector(0, channel, storage, () => false);
  const port = first.server.port;
  const sink = new AgentSink(
    {
      collectors: [`127.0.0.1:${port}`],
      mode: 'DFO',
      window: 8,
      backoffInitialMs: 20,
      backoffMaxMs: 200,
      connectTimeoutMs: 1_000,
    },
    { tls: tierTls.agent() },
  );
  await sink.open();
  cleanups.push(() => sink.close());
  const batches = numberedBatches('dfo', 400, 100);
  const pumping = pumpAll(sink, batches);
  await waitFor(() => storage.kept.length >= 100, '100 batches stored before the kill');
  first.server.kill();
  await first.drain.stop();
  const killedAt = storage.kept.length;
  assert.ok(killedAt < 400, 'the kill happened mid-stream');
  // The channel outlives the server here (a durable channel would be reopened from disk).
  const second = await startCollector(port, channel, storage, () => false);
  await pumping;
  await waitFor(() => storage.kept.length >= 400, 'every batch stored');
  assert.equal(checkExactlyOnceInOrder(storage.kept, recorded('dfo'), 400), null);
  assert.ok(sink.stats().reconnects >= 1, 'the sink reconnected');
  // Resent batches that had been committed before the cut are the only duplicates: at most a window.
  assert.ok(storage.duplicates <= 8, `${storage.duplicates} duplicates`);
  assert.ok(second.server.stats().batches > 0);
});

test('E2E: after a restart the sink asks Stored and does not resend batches already in storage', async () => {
  const storage = new Storage();
  let acking = false;
  const firstChannel = new MemoryChannel('collector-1', { capacityBytes: 4 * 1024 * 1024 });
  const first = await startCollector(0, firstChannel, storage, () => acking);
  const port = first.server.port;
  const window = 16;
  const sink = new AgentSink(
    {
      collectors: [`127.0.0.1:${port}`],
      mode: 'E2E',
      window,
      backoffInitialMs: 20,
      backoffMaxMs: 200,
      connectTimeoutMs: 1_000,
    },
    { tls: tierTls.agent() },
  );
  await sink.open();
  cleanups.push(() => sink.close());
  const batches = numberedBatches('e2e', 60, 50);
  const pumping = pumpAll(sink, batches);
  // The writer stores batches but its end-to-end acks are held back: the sink's window fills
  // with batches that are in storage and that the agent does not know are.
  await waitFor(() => storage.kept.length >= window, 'a window of batches stored');
  assert.equal(sink.inFlight, window);
  first.server.kill();
  await first.drain.stop();
  const storedBeforeKill = new Set(storage.kept.map((b) => b.seq));
  acking = true;
  const second = await startCollector(port, new MemoryChannel('collector-2', { capacityBytes: 4 * 1024 * 1024 }), storage, () => acking);
  await pumping;
  await waitFor(() => storage.kept.length >= 60, 'every batch stored');
  assert.equal(checkExactlyOnceInOrder(storage.kept, recorded('e2e'), 60), null);
  assert.equal(sink.stats().batches_found_stored, storedBeforeKill.size);
  const resent = second.drain.seen.filter((b) => storedBeforeKill.has(b.seq)).map((b) => b.seq);
  assert.deepEqual(resent, [], 'no batch already in storage was sent again');
  assert.equal(storage.duplicates, 0);
});

test('DFO: appends made while no collector answers wait, and drain when it comes back', async () => {
  const storage = new Storage();
  const channel = new MemoryChannel('collector', { capacityBytes: 4 * 1024 * 1024 });
  const first = await startCollector(0, channel, storage, () => false);
  const port = first.server.port;
  first.server.kill();
  await first.drain.stop();
  const sink = new AgentSink(
    {
      collectors: [`127.0.0.1:${port}`],
      mode: 'DFO',
      window: 8,
      backoffInitialMs: 20,
      backoffMaxMs: 200,
      connectTimeoutMs: 300,
    },
    { tls: tierTls.agent() },
  );
  await sink.open();
  cleanups.push(() => sink.close());
  let resolved = 0;
  const appends = numberedBatches('late', 8, 10).map((b) => sink.append(b).then(() => resolved++));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(resolved, 0, 'nothing resolves while no collector answers');
  await startCollector(port, channel, storage, () => false);
  await Promise.all(appends);
  await waitFor(() => storage.kept.length >= 8, 'the backlog stored');
  assert.equal(checkExactlyOnceInOrder(storage.kept, recorded('late'), 8), null);
});

test('BE: batches the connection cannot deliver are dropped and counted, never silently', async () => {
  const storage = new Storage();
  const channel = new MemoryChannel('collector', { capacityBytes: 4 * 1024 * 1024 });
  const first = await startCollector(0, channel, storage, () => false);
  const port = first.server.port;
  first.server.kill();
  await first.drain.stop();
  const sink = new AgentSink(
    {
      collectors: [`127.0.0.1:${port}`],
      mode: 'BE',
      window: 8,
      backoffInitialMs: 20,
      backoffMaxMs: 200,
      connectTimeoutMs: 300,
    },
    { tls: tierTls.agent() },
  );
  await sink.open();
  cleanups.push(() => sink.close());
  // No collector: every append resolves (best effort) and is counted as dropped.
  await Promise.all(numberedBatches('be', 5, 10).map((b) => sink.append(b)));
  assert.equal(sink.stats().batches_dropped, 5);
  assert.equal(sink.stats().events_dropped, 50);
  // A collector again: later batches are delivered.
  await startCollector(port, channel, storage, () => false);
  await waitFor(() => sink.connectedTo !== null, 'the sink reconnected', 30_000);
  await Promise.all(numberedBatches('be', 5, 10, 100, 6).map((b) => sink.append(b)));
  await waitFor(() => storage.kept.length >= 5, 'the later batches stored');
  assert.deepEqual(
    storage.kept.map((b) => b.seq),
    [6, 7, 8, 9, 10],
  );
  assert.equal(sink.stats().batches_dropped, 5);
  assert.equal(sink.stats().sink_batches_acked, 5);
});

test('E2E: a batch whose end-to-end ack never comes is resent after e2eTimeoutMs and then stored', async () => {
  const storage = new Storage();
  const channel = new MemoryChannel('collector', { capacityBytes: 4 * 1024 * 1024 });
  const server = new CollectorServer(channel, { port: 0, pendingDedupMs: 100 }, { tls: tierTls.collector(), isStored: storage.lookup });
  await server.start();
  let lost = false;
  // A writer that loses the first copy of batch 3 (takes it, never stores it, never acks it).
  const drain = new Drain(channel, {
    onStored: (b) => {
      if (b.seq === 3 && !lost) {
        lost = true;
        return;
      }
      storage.store(b);
      server.ackEndToEnd(b.origin, b.seq);
    },
  });
  cleanups.push(async () => {
    await drain.stop();
    await server.stop();
  });
  const sink = new AgentSink(
    { collectors: [`127.0.0.1:${server.port}`], mode: 'E2E', window: 1, e2eTimeoutMs: 300 },
    { tls: tierTls.agent() },
  );
  await sink.open();
  cleanups.push(() => sink.close());
  await pumpAll(sink, numberedBatches('lost', 6, 10));
  assert.ok(lost);
  assert.equal(checkExactlyOnceInOrder(storage.kept, recorded('lost'), 6), null);
  assert.ok(sink.stats().e2e_timeouts >= 1);
});
