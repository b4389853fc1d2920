/**
 * The tier transport alone: agent sink → gRPC → collector server → memory channel → a consumer
 * that fires the end-to-end acks. Batches of 1,000 × 100-byte events.
 *
 * Scenarios (each runs for RUN_MS):
 *   grpc-e2e / grpc-hop                 one process, HTTP/2 window raised (core/grpc/tuning.ts)
 *   grpc-e2e-win64k / grpc-hop-win64k   one process, Node's default 64 KiB server window (before)
 *   grpc-e2e-2proc / grpc-hop-2proc     collector in a child process, window raised
 *   grpc-hop-2proc-win64k               the same with the default window
 * Latency is append → resolve (the ack the mode waits for). rss_mb is this (agent) process's
 * peak; 2proc lines add collector_rss_mb. Run alone: `node dist/test/bench/tiers.bench.js`.
 */
import { fork } from 'node:child_process';
import { CollectorSink } from '../../agent/sinks/collector-sink';
import { CollectorServer } from '../../collector/source/collector-server';
import { type Batch, inTransaction } from '../../core/channel';
import { BatchBuilder, encodeBatch, parseBatchHeader } from '../../core/event';
import { MemoryChannel } from '../../core/memory-channel';

const RUN_MS = Number(process.env.FLUME_BENCH_MS ?? 4_000);
const EVENTS = 1_000;
const BODY = 100;
const WINDOW = 16;

interface Collector {
  port: number;
  stop(): Promise<number>; // resolves with the collector's peak RSS in MB
}

/** A collector (server + memory channel + acking consumer) in this process. */
async function inProcessCollector(raiseWindow: boolean): Promise<Collector & { peakRss(): number }> {
  const channel = new MemoryChannel('bench', { capacityBytes: 64 * 1024 * 1024 });
  const server = new CollectorServer(channel, { port: 0, window: 32, grpc: { raiseWindow } });
  await server.start();
  let running = true;
  let peak = 0;
  const consumer = (async () => {
    while (running) {
      const b = await inTransaction(channel, (tx) => tx.take(50)).catch(() => null);
      if (b) server.ackEndToEnd(b.origin, b.seq);
    }
  })();
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  return {
    port: server.port,
    peakRss: () => peak / 1e6,
    async stop() {
      running = false;
      clearInterval(sampler);
      await consumer;
      await server.stop();
      return peak / 1e6;
    },
  };
}

/** The same collector in a child process (this file, run with --collector). */
async function childCollector(raiseWindow: boolean): Promise<Collector> {
  const child = fork(__filename, ['--collector', raiseWindow ? 'raise' : 'default'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`collector child exited with ${code}`)));
  });
  return {
    port,
    stop: () =>
      new Promise<number>((resolve) => {
        child.once('message', (m: { rssMb: number }) => {
          child.kill('SIGKILL');
          resolve(m.rssMb);
        });
        child.send('stop');
      }),
  };
}

/** One template batch's events, re-wrapped per seq: a fresh batch (new bytes, CRC) each time. */
function batchSource(origin: string): (seq: number) => Batch {
  const builder = new BatchBuilder(origin);
  const body = Buffer.alloc(BODY, 0x61);
  const now = Date.now();
  for (let i = 0; i < EVENTS; i++) builder.append(body, now + i);
  const template = builder.finish(1);
  const h = parseBatchHeader(template);
  const events = template.subarray(h.eventsStart, h.eventsEnd);
  return (seq) => ({ origin, seq, count: EVENTS, bytes: encodeBatch(origin, seq, EVENTS, events) });
}

async function drive(name: string, mode: 'E2E' | 'DFO', collector: Collector, peakOfCollector?: () => number): Promise<void> {
  const sink = new CollectorSink({ collectors: [`127.0.0.1:${collector.port}`], mode, window: WINDOW, agent: 'bench' });
  await sink.open();
  const make = batchSource('bench-agent');
  const latencies: number[] = [];
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  const inFlight = new Set<Promise<void>>();
  let seq = 0;
  let bytes = 0;
  // Warm-up: the connection and JIT, not measured.
  for (let i = 0; i < 20; i++) await sink.append(make(++seq));
  const start = process.hrtime.bigint();
  const end = Date.now() + RUN_MS;
  let batches = 0;
  while (Date.now() < end) {
    const b = make(++seq);
    const t0 = process.hrtime.bigint();
    const p: Promise<void> = sink.append(b).then(() => {
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      inFlight.delete(p);
    });
    inFlight.add(p);
    batches++;
    bytes += b.bytes.length;
    if (inFlight.size >= WINDOW) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  clearInterval(sampler);
  await sink.close();
  const collectorRss = await collector.stop();
  latencies.sort((a, b) => a - b);
  const pct = (q: number): string => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(1);
  const rss = Math.max(peak / 1e6, peakOfCollector ? peakOfCollector() : 0);
  const extra = peakOfCollector ? '' : ` collector_rss_mb=${Math.round(collectorRss)}`;
  console.log(
    `bench ${name} events/s=${Math.round((batches * EVENTS) / seconds)} MB/s=${(bytes / seconds / 1e6).toFixed(1)} rss_mb=${Math.round(rss)}${extra} p50_ms=${pct(0.5)} p99_ms=${pct(0.99)}`,
  );
}

export async function run(): Promise<void> {
  for (const [raise, suffix] of [[true, ''], [false, '-win64k']] as const) {
    for (const mode of ['E2E', 'DFO'] as const) {
      const c = await inProcessCollector(raise);
      await drive(`grpc-${mode === 'E2E' ? 'e2e' : 'hop'}${suffix}`, mode, c, c.peakRss);
    }
  }
  for (const mode of ['E2E', 'DFO'] as const) {
    await drive(`grpc-${mode === 'E2E' ? 'e2e' : 'hop'}-2proc`, mode, await childCollector(true));
  }
  await drive('grpc-hop-2proc-win64k', 'DFO', await childCollector(false));
}

async function collectorMain(raiseWindow: boolean): Promise<void> {
  const c = await inProcessCollector(raiseWindow);
  process.send!({ port: c.port });
  process.on('message', async (m) => {
    if (m !== 'stop') return;
    const rssMb = await c.stop();
    process.send!({ rssMb });
  });
}

if (require.main === module) {
  if (process.argv[2] === '--collector') void collectorMain(process.argv[3] === 'raise');
  else run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
