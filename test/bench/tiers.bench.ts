/**
 * The tier transport alone: agent sink → gRPC → collector server → memory channel → a consumer
 * that fires the end-to-end acks. Batches of 1,000 × 100-byte events.
 *
 * Scenarios (each runs RUN_MS per round):
 *   grpc-e2e / grpc-hop                 one process, HTTP/2 window raised (core/grpc/tuning.ts)
 *   grpc-e2e-win64k / grpc-hop-win64k   one process, Node's default 64 KiB server window (before)
 *   grpc-*-2proc[-win64k]               the same with the collector in a child process
 *   grpc-e2e-2proc-wal                  2proc, the collector's channel a WAL (fsync'd group commits)
 * Latency is append → resolve (the ack the mode waits for). rss_mb is the agent process's peak
 * (both tiers when in one process); 2proc lines add the collector's. cpu_s_per_mev is CPU
 * seconds per million events, steadier than events/s on a loaded machine.
 * Run alone: `node dist/test/bench/tiers.bench.js` (FLUME_BENCH_MS, FLUME_BENCH_ROUNDS).
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentSink } from '../../agent/sinks/agent-sink';
import { CollectorServer } from '../../collector/source/collector-server';
import { type Batch, type Channel, inTransaction } from '../../core/channel';
import { BatchBuilder, encodeBatch, parseBatchHeader } from '../../core/event';
import { MemoryChannel } from '../../core/memory-channel';
import { wanted } from './util';
import { openWal } from '../../core/wal/wal';

const RUN_MS = Number(process.env.FLUME_BENCH_MS ?? 2_500);
const ROUNDS = Number(process.env.FLUME_BENCH_ROUNDS ?? 3);
const EVENTS = 1_000;
const BODY = 100;
const WINDOW = 16;

interface Collector {
  port: number;
  /** Measurement starts now (the collector notes its CPU time). */
  mark(): void;
  /** Stops it; its peak RSS (MB) and CPU seconds since `mark`. */
  stop(): Promise<{ rssMb: number; cpuS: number }>;
  inProcess: boolean;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** A collector (server + memory channel + acking consumer) in this process. */
async function inProcessCollector(raiseWindow: boolean, inProcess = true, walDir?: string): Promise<Collector> {
  const channel: Channel = walDir
    ? await openWal(walDir, { capacityBytes: 256 * 1024 * 1024 })
    : new MemoryChannel('bench', { capacityBytes: 64 * 1024 * 1024 });
  const server = new CollectorServer(channel, { port: 0, window: 32, grpc: { raiseWindow } });
  await server.start();
  let running = true;
  let peak = 0;
  let cpuAtMark = cpuSeconds();
  // The storage-writer stand-in takes up to 16 batches per transaction (a durable channel's take
  // commit waits for a checkpoint fsync, so one batch per transaction would measure fsyncs) and
  // fires their end-to-end acks once the take is committed.
  const consumer = (async () => {
    while (running) {
      const taken = await inTransaction(channel, async (tx) => {
        const out: Batch[] = [];
        for (let b = await tx.take(50); b; b = out.length < 16 ? await tx.take(0) : null) out.push(b);
        return out;
      }).catch(() => [] as Batch[]);
      for (const b of taken) server.ackEndToEnd(b.origin, b.seq);
    }
  })();
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  return {
    port: server.port,
    inProcess,
    mark: () => (cpuAtMark = cpuSeconds()),
    async stop() {
      const cpuS = cpuSeconds() - cpuAtMark;
      running = false;
      clearInterval(sampler);
      await consumer;
      await server.stop();
      await channel.stop();
      if (walDir) fs.rmSync(walDir, { recursive: true, force: true });
      return { rssMb: peak / 1e6, cpuS };
    },
  };
}

/** The same collector in a child process (this file, run with --collector). */
async function childCollector(raiseWindow: boolean, wal = false): Promise<Collector> {
  const args = ['--collector', raiseWindow ? 'raise' : 'default', ...(wal ? ['wal'] : [])];
  const child = fork(__filename, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`collector child exited with ${code}`)));
  });
  return {
    port,
    inProcess: false,
    mark: () => child.send('mark'),
    stop: () =>
      new Promise((resolve) => {
        child.once('message', (m: { rssMb: number; cpuS: number }) => {
          child.kill('SIGKILL');
          resolve(m);
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

interface Result {
  eventsPerS: number;
  mbPerS: number;
  rssMb: number;
  collectorRssMb: number;
  p50: number;
  p99: number;
  /** CPU seconds per million events: the agent process (both tiers when in one process), the collector's. */
  cpuPerMev: number;
  collectorCpuPerMev: number;
}

async function drive(mode: 'E2E' | 'DFO', collector: Collector): Promise<Result> {
  const sink = new AgentSink({ collectors: [`127.0.0.1:${collector.port}`], mode, window: WINDOW, agent: 'bench' });
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
  collector.mark();
  const cpu0 = cpuSeconds();
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
  const cpu = cpuSeconds() - cpu0;
  clearInterval(sampler);
  await sink.close();
  const c = await collector.stop();
  latencies.sort((a, b) => a - b);
  const pct = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  const mev = (batches * EVENTS) / 1e6;
  return {
    eventsPerS: (batches * EVENTS) / seconds,
    mbPerS: bytes / seconds / 1e6,
    rssMb: Math.max(peak, collector.inProcess ? c.rssMb * 1e6 : 0) / 1e6,
    collectorRssMb: c.rssMb,
    p50: pct(0.5),
    p99: pct(0.99),
    cpuPerMev: cpu / mev,
    collectorCpuPerMev: c.cpuS / mev,
  };
}

interface Scenario {
  name: string;
  mode: 'E2E' | 'DFO';
  twoProc: boolean;
  raise: boolean;
  /** The collector's channel is a WAL (core/wal/) in a temp dir, not memory. */
  wal?: boolean;
}

const SCENARIOS: Scenario[] = [];
for (const twoProc of [false, true]) {
  for (const raise of [true, false]) {
    for (const mode of ['E2E', 'DFO'] as const) {
      const name = `grpc-${mode === 'E2E' ? 'e2e' : 'hop'}${twoProc ? '-2proc' : ''}${raise ? '' : '-win64k'}`;
      SCENARIOS.push({ name, mode, twoProc, raise });
    }
  }
}
SCENARIOS.push({ name: 'grpc-e2e-2proc-wal', mode: 'E2E', twoProc: true, raise: true, wal: true });

/**
 * Scenarios run in alternation, ROUNDS times, and each prints its median round: on a shared
 * machine the load moves from second to second, and alternating keeps "before" and "after"
 * under the same conditions.
 */
export async function run(filter?: string): Promise<void> {
  const results = new Map<string, Result[]>();
  const scenarios = SCENARIOS.filter((s) => wanted(filter, s.name));
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of scenarios) {
      const collector = s.twoProc ? await childCollector(s.raise, s.wal) : await inProcessCollector(s.raise);
      const r = await drive(s.mode, collector);
      results.set(s.name, [...(results.get(s.name) ?? []), r]);
    }
  }
  for (const s of scenarios) {
    const rs = results.get(s.name)!.sort((a, b) => a.eventsPerS - b.eventsPerS);
    const r = rs[Math.floor(rs.length / 2)];
    const collectorPart = s.twoProc
      ? ` collector_rss_mb=${Math.round(r.collectorRssMb)} collector_cpu_s_per_mev=${r.collectorCpuPerMev.toFixed(2)}`
      : '';
    console.log(
      `bench ${s.name} events/s=${Math.round(r.eventsPerS)} MB/s=${r.mbPerS.toFixed(1)} rss_mb=${Math.round(r.rssMb)} p50_ms=${r.p50.toFixed(1)} p99_ms=${r.p99.toFixed(1)}` +
        ` cpu_s_per_mev=${r.cpuPerMev.toFixed(2)}${collectorPart} rounds=${rs.map((x) => Math.round(x.eventsPerS / 1000)).join('/')}k`,
    );
  }
}

async function collectorMain(raiseWindow: boolean, wal: boolean): Promise<void> {
  const walDir = wal ? fs.mkdtempSync(path.join(os.tmpdir(), 'flume-bench-wal-')) : undefined;
  const c = await inProcessCollector(raiseWindow, false, walDir);
  process.send!({ port: c.port });
  process.on('message', async (m) => {
    if (m === 'mark') c.mark();
    if (m === 'stop') process.send!(await c.stop());
  });
}

if (require.main === module) {
  if (process.argv[2] === '--collector') void collectorMain(process.argv[3] === 'raise', process.argv[4] === 'wal');
  else
    run().catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
