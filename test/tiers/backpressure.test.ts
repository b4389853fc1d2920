/**
 * A slow or stalled storage writer slows the agent down; nothing piles up in between: the
 * channel never holds more than its capacity, a stream never has more than its window of
 * batches waiting, and a channel full for too long turns into RETRY / RESOURCE_EXHAUSTED that
 * the agent recovers from without loss, duplicate or reordering.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { AgentSink } from '../../agent/sinks/agent-sink';
import { CollectorServer } from '../../collector/source/collector-server';
import { type Batch, type Channel, inTransaction } from '../../core/channel';
import { MemoryChannel } from '../../core/memory-channel';
import { checkExactlyOnceInOrder, numberedBatches, pumpAll, waitFor, recorded, tierTls } from './helpers';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** A consumer that can be stalled and released, and that watches the channel's fill. */
class GatedConsumer {
  readonly seen: Batch[] = [];
  maxFill = 0;
  open = false;
  private running = true;
  private readonly done: Promise<void>;
  constructor(
    private readonly channel: Channel,
    private readonly delayMs = 0,
  ) {
    this.done = this.run();
  }
  private async run(): Promise<void> {
    while (this.running) {
      this.maxFill = Math.max(this.maxFill, this.channel.stats().bytes);
      if (!this.open) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      const b = await inTransaction(this.channel, (tx) => tx.take(20)).catch(() => null);
      if (!b) continue;
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
      this.seen.push(b);
    }
  }
  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

test('a stalled then slow consumer holds the agent back; channel and stream windows are never exceeded', async () => {
  const capacity = 256 * 1024;
  const channel = new MemoryChannel('collector', { capacityBytes: capacity });
  const serverWindow = 4;
  const server = new CollectorServer(channel, { port: 0, window: serverWindow }, { tls: tierTls.collector() });
  await server.start();
  const consumer = new GatedConsumer(channel, 2);
  const sink = new AgentSink({ collectors: [`127.0.0.1:${server.port}`], mode: 'DFO', window: 16 }, { tls: tierTls.agent() });
  await sink.open();
  cleanups.push(async () => {
    await sink.close();
    await consumer.stop();
    await server.stop();
  });
  const batches = numberedBatches('slow', 200, 200); // ~22 KB each: the channel holds about 11
  const batchBytes = batches[0].bytes.length;
  const pumping = pumpAll(sink, batches);

  // Stalled: the channel fills, the server stops reading, the agent's window fills and waits.
  await waitFor(() => server.stats().stream_pauses >= 1 && sink.inFlight === 16, 'the stream paused with a full agent window');
  const fitting = Math.floor(capacity / batchBytes);
  const received = server.stats().batches ?? 0;
  assert.ok(received <= fitting + serverWindow, `the server took ${received} batches with room for ${fitting} + window ${serverWindow}`);
  assert.ok(channel.stats().bytes <= capacity);

  consumer.open = true;
  await pumping;
  await waitFor(() => consumer.seen.length >= 200, 'every batch consumed');
  assert.equal(checkExactlyOnceInOrder(consumer.seen, recorded('slow'), 200), null);
  assert.ok(consumer.maxFill <= capacity, `channel held ${consumer.maxFill} bytes, capacity ${capacity}`);
  assert.ok(server.stats().maxUnanswered <= serverWindow, `a stream had ${server.stats().maxUnanswered} batches waiting`);
});

test('a channel full past putTimeoutMs answers RETRY and ends the stream; the agent resends in order once it drains', async () => {
  const capacity = 128 * 1024;
  const channel = new MemoryChannel('collector', { capacityBytes: capacity });
  const server = new CollectorServer(channel, { port: 0, window: 4, putTimeoutMs: 150 }, { tls: tierTls.collector() });
  await server.start();
  const consumer = new GatedConsumer(channel);
  const sink = new AgentSink(
    { collectors: [`127.0.0.1:${server.port}`], mode: 'DFO', window: 8, backoffInitialMs: 50, backoffMaxMs: 200 },
    { tls: tierTls.agent() },
  );
  await sink.open();
  cleanups.push(async () => {
    await sink.close();
    await consumer.stop();
    await server.stop();
  });
  const batches = numberedBatches('full', 60, 200);
  const pumping = pumpAll(sink, batches);
  await waitFor(() => (server.stats().batches_retry ?? 0) >= 2, 'the server refusing with RETRY');
  assert.ok(sink.stats().sink_batches_retried >= 1);
  assert.ok(sink.stats().reconnects >= 1, 'the sink reconnected after RESOURCE_EXHAUSTED');
  consumer.open = true;
  await pumping;
  await waitFor(() => consumer.seen.length >= 60, 'every batch consumed');
  assert.equal(checkExactlyOnceInOrder(consumer.seen, recorded('full'), 60), null);
});
