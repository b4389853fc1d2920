/**
 * The tier transport over the durable channel (core/wal/): the collector's hop ack means the
 * batch is in its WAL, so a collector cut mid-stream and restarted from its WAL directory loses
 * nothing it acked, and the agent resends the rest. Storage (a dedup-by-id writer stand-in)
 * ends with every batch once, in order, in both DFO and E2E modes.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { AgentSink } from '../../agent/sinks/agent-sink';
import { CollectorServer } from '../../collector/source/collector-server';
import { openWal, type WalChannel } from '../../core/wal/wal';
import { checkExactlyOnceInOrder, Drain, numberedBatches, pumpAll, Storage, waitFor, recorded, tierTls } from './helpers';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function walCollector(dir: string, port: number, storage: Storage, delayMs = 0) {
  const wal: WalChannel = await openWal(dir, { capacityBytes: 16 * 1024 * 1024 });
  const server = new CollectorServer(wal, { port }, { tls: tierTls.collector(), isStored: storage.lookup });
  await server.start();
  const drain = new Drain(wal, {
    delayMs,
    onStored: (b) => {
      storage.store(b);
      server.ackEndToEnd(b.origin, b.seq);
    },
  });
  const crash = async (): Promise<void> => {
    server.kill();
    await drain.stop();
    await wal.stop();
  };
  cleanups.push(async () => {
    await drain.stop();
    await server.stop();
    await wal.stop();
  });
  return { server, wal, drain, crash };
}

for (const mode of ['DFO', 'E2E'] as const) {
  test(`${mode} over a WAL: collector cut mid-stream, reopened from its WAL; storage gets everything once, in order`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-tiers-wal-'));
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const storage = new Storage();
    // A slow writer at first, so that the WAL holds acked batches not yet stored when it crashes.
    const first = await walCollector(dir, 0, storage, 5);
    const port = first.server.port;
    const sink = new AgentSink(
      {
        collectors: [`127.0.0.1:${port}`],
        mode,
        window: 8,
        backoffInitialMs: 20,
        backoffMaxMs: 200,
        connectTimeoutMs: 1_000,
      },
      { tls: tierTls.agent() },
    );
    await sink.open();
    cleanups.push(() => sink.close());
    const batches = numberedBatches(`wal-${mode}`, 200, 100);
    const pumping = pumpAll(sink, batches);
    await waitFor(() => storage.kept.length >= 60, '60 batches stored');
    const ackedBeforeCrash = first.server.stats().acks_hop;
    await first.crash();
    const backlog = ackedBeforeCrash - storage.kept.length;
    assert.ok(backlog > 0, 'hop-acked batches were still only in the WAL at the crash');
    assert.ok(storage.kept.length < 200, 'the crash happened mid-stream');
    const second = await walCollector(dir, port, storage);
    await pumping;
    await waitFor(() => storage.kept.length >= 200, 'every batch stored');
    assert.equal(checkExactlyOnceInOrder(storage.kept, recorded(`wal-${mode}`), 200), null);
    assert.ok(ackedBeforeCrash > 0);
    assert.ok(sink.stats().reconnects >= 1);
    if (mode === 'DFO') {
      // The agent forgot every hop-acked batch: the backlog reached storage from the reopened WAL.
      assert.ok(second.drain.seen.length >= 200 - ackedBeforeCrash + backlog);
    }
  });
}
