/**
 * A chain of two collectors sharing one storage (as two collectors writing the same store do):
 * the first is cut mid-stream, the agent fails over to the second, the first comes back and the
 * agent fails back to it. Storage ends with every batch once, in order.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { AgentSink } from '../../agent/sinks/agent-sink';
import { CollectorServer } from '../../collector/source/collector-server';
import type { Batch } from '../../core/channel';
import { MemoryChannel } from '../../core/memory-channel';
import { checkExactlyOnceInOrder, Drain, numberedBatches, pumpAll, waitFor, recorded, tierTls } from './helpers';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

class SharedStorage {
  readonly kept: Batch[] = [];
  private readonly ids = new Set<string>();
  duplicates = 0;
  store(b: Batch): void {
    const id = `${b.origin}#${b.seq}`;
    if (this.ids.has(id)) this.duplicates++;
    else {
      this.ids.add(id);
      this.kept.push(b);
    }
  }
  lookup = async (origin: string, seqs: number[]): Promise<number[]> => seqs.filter((s) => this.ids.has(`${origin}#${s}`));
}

async function collector(port: number, storage: SharedStorage) {
  const channel = new MemoryChannel(`c${port}`, { capacityBytes: 2 * 1024 * 1024 });
  const server = new CollectorServer(channel, { port }, { tls: tierTls.collector(), isStored: storage.lookup });
  await server.start();
  const drain = new Drain(channel, {
    delayMs: 1,
    onStored: (b) => {
      storage.store(b);
      server.ackEndToEnd(b.origin, b.seq);
    },
  });
  const stop = async (): Promise<void> => {
    await drain.stop();
    await server.stop();
  };
  cleanups.push(stop);
  return { server, drain, stop };
}

test('E2E chain: fail over to the second collector when the first dies, fail back when it returns', async () => {
  const storage = new SharedStorage();
  let a = await collector(0, storage);
  const b = await collector(0, storage);
  const portA = a.server.port;
  const targets = [`127.0.0.1:${portA}`, `127.0.0.1:${b.server.port}`];
  const sink = new AgentSink(
    {
      collectors: targets,
      mode: 'E2E',
      window: 8,
      failbackMs: 200,
      connectTimeoutMs: 500,
      backoffInitialMs: 20,
      backoffMaxMs: 200,
    },
    { tls: tierTls.agent() },
  );
  await sink.open();
  cleanups.push(() => sink.close());
  const batches = numberedBatches('chain', 400, 50);
  const pumping = pumpAll(sink, batches);

  await waitFor(() => storage.kept.length >= 50 && sink.connectedTo === targets[0], 'streaming to the first collector');
  a.server.kill();
  await a.drain.stop();
  await waitFor(() => sink.connectedTo === targets[1], 'failed over to the second collector');
  const onSecond = storage.kept.length;
  await waitFor(() => storage.kept.length >= onSecond + 50, 'the second collector storing');

  a = await collector(portA, storage);
  await waitFor(() => sink.connectedTo === targets[0], 'failed back to the first collector');
  await pumping;
  await waitFor(() => storage.kept.length >= 400, 'every batch stored');
  assert.equal(checkExactlyOnceInOrder(storage.kept, recorded('chain'), 400), null);
  assert.ok(b.drain.seen.length > 0, 'the second collector carried part of the flow');
  assert.ok(a.drain.seen.length > 0, 'the first collector carried the rest after it came back');
  assert.ok(sink.stats().failovers >= 1);
  // Resends after a switch are limited to the batches that were in flight: at most two windows.
  assert.ok(storage.duplicates <= 16, `${storage.duplicates} duplicates reached storage`);
});

test('a new chain assignment moves the stream to the new first collector without loss or reordering', async () => {
  const storage = new SharedStorage();
  const a = await collector(0, storage);
  const b = await collector(0, storage);
  const targetA = `127.0.0.1:${a.server.port}`;
  const targetB = `127.0.0.1:${b.server.port}`;
  const sink = new AgentSink({ collectors: [targetA], mode: 'E2E', window: 8 }, { tls: tierTls.agent() });
  await sink.open();
  cleanups.push(() => sink.close());
  const batches = numberedBatches('moved', 200, 50);
  const pumping = pumpAll(sink, batches);
  await waitFor(() => storage.kept.length >= 50, 'streaming to the first assignment');
  sink.setCollectors([targetB, targetA]);
  await waitFor(() => sink.connectedTo === targetA, 'still on A: it is in the new chain');
  sink.setCollectors([targetB]);
  await waitFor(() => sink.connectedTo === targetB, 'moved to B');
  await pumping;
  await waitFor(() => storage.kept.length >= 200, 'every batch stored');
  assert.equal(checkExactlyOnceInOrder(storage.kept, recorded('moved'), 200), null);
  assert.ok(b.drain.seen.length > 0);
});
