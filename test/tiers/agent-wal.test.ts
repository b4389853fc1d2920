/**
 * The agent side over its WAL, driven the way a logical node drives a sink (`window` workers,
 * one take transaction per batch, committed once `append` resolves): in E2E mode a batch leaves
 * the agent's WAL only after its end-to-end ack. The agent is stopped mid-stream (sink closed,
 * WAL closed) and reopened from its directory while the collector keeps running; storage ends
 * with every batch once, in order, and nothing the collector had already stored is sent again.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { AgentSink } from '../../agent/sinks/agent-sink';
import { CollectorServer } from '../../collector/source/collector-server';
import { type Batch, type Channel, inTransaction } from '../../core/channel';
import { MemoryChannel } from '../../core/memory-channel';
import { openWal } from '../../core/wal/wal';
import { checkExactlyOnceInOrder, Drain, numberedBatches, waitFor, recorded, tierTls } from './helpers';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** What a logical node's driver does: `window` workers taking from the channel into the sink. */
function drive(channel: Channel, sink: AgentSink): { stop(): Promise<void> } {
  let running = true;
  const worker = async (): Promise<void> => {
    while (running) {
      const tx = channel.transaction();
      tx.begin();
      try {
        const b = await tx.take(20);
        if (b) await sink.append(b);
        await tx.commit();
      } catch {
        if (tx.state === 'OPEN') tx.rollback();
        await new Promise((r) => setTimeout(r, 20));
      } finally {
        tx.close();
      }
    }
  };
  const workers = Array.from({ length: sink.window }, worker);
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

test('E2E from an agent WAL: agent stopped mid-stream and reopened; storage exactly once, in order', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-agent-wal-'));
  cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));

  // Collector with a slow writer, so batches are in flight end to end when the agent stops.
  const kept: Batch[] = [];
  const ids = new Set<string>();
  const channel = new MemoryChannel('collector', { capacityBytes: 4 * 1024 * 1024 });
  const server = new CollectorServer(
    channel,
    { port: 0 },
    { tls: tierTls.collector(), isStored: async (o, seqs) => seqs.filter((s) => ids.has(`${o}#${s}`)) },
  );
  await server.start();
  const drain = new Drain(channel, {
    delayMs: 3,
    onStored: (b) => {
      const id = `${b.origin}#${b.seq}`;
      if (!ids.has(id)) {
        ids.add(id);
        kept.push(b);
      }
      server.ackEndToEnd(b.origin, b.seq);
    },
  });
  cleanups.push(async () => {
    await drain.stop();
    await server.stop();
  });

  const total = 150;
  let wal = await openWal(dir, { capacityBytes: 32 * 1024 * 1024 });
  for (const b of numberedBatches('agent', total, 100)) await inTransaction(wal, (tx) => tx.put(b));
  const target = `127.0.0.1:${server.port}`;
  let sink = new AgentSink({ collectors: [target], mode: 'E2E', window: 8, closeGraceMs: 0 }, { tls: tierTls.agent() });
  await sink.open();
  let driver = drive(wal, sink);

  await waitFor(() => kept.length >= 40, '40 batches in storage');
  // The agent stops: appends in flight fail, their takes roll back into the WAL.
  await sink.close();
  await driver.stop();
  await wal.stop();
  assert.ok(kept.length < total, 'stopped mid-stream');
  const receivedBefore = server.stats().batches;

  wal = await openWal(dir, { capacityBytes: 32 * 1024 * 1024 });
  sink = new AgentSink({ collectors: [target], mode: 'E2E', window: 8 }, { tls: tierTls.agent() });
  await sink.open();
  driver = drive(wal, sink);
  cleanups.push(async () => {
    await sink.close();
    await driver.stop();
    await wal.stop();
  });
  await waitFor(
    () => kept.length >= total && wal.stats().batches === 0 && wal.stats().inFlight === 0,
    'everything stored and gone from the WAL',
  );
  assert.equal(checkExactlyOnceInOrder(kept, recorded('agent'), total), null);
  // What reached the collector twice is at most what was in flight when the agent stopped.
  assert.ok(server.stats().batches - receivedBefore <= total - 40 + 8);
});
