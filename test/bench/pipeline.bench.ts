/**
 * The whole pipeline with real processes, side by side with the peer to beat.
 *
 *   pipeline-e2e         flume-node agent `tail(input) | agentE2ESink(collector)` → flume-node
 *                        collector `collectorSource | collectorSink(dir)` (raw files), WAL channels
 *                        on both tiers; the clock runs from the agent's start until every line is
 *                        end-to-end acked.
 *   pipeline-e2e-tls     pipeline-e2e with mutual TLS on both hops (certificates from a per-run CA,
 *                        test/harness/tls.ts); pipeline-e2e runs both tiers with tls.mode = insecure.
 *   pipeline-dfo         the same with agentDFOSink, until every line is written by the collector.
 *   pipeline-be          the same with agentBESink (memory channel at the agent).
 *   pipeline-4to1-e2e    four agents, a quarter of the lines each, into one collector (E2E).
 *   pipeline-e2e-latency lines appended at half the pipeline-e2e rate (or FLUME_BENCH_RATE) for
 *                        FLUME_BENCH_LATENCY_S (15) seconds; p50/p99 from source accept (tail's
 *                        timestamp on a batch's first line) to end-to-end ack, from the agent's
 *                        `flume_delivery_ms` histogram.
 *   agent-backlog        the collector down while FLUME_BENCH_BACKLOG_MB (100; 1000 for the issue's
 *                        1 GB backlog) of lines is written and tailed into the agent's WAL, then
 *                        up: the rate is the drain's, from the first event delivered to the last
 *                        end-to-end ack, and agent_rss_mb the agent's peak over both phases.
 *   rsyslog-relp         ../shared/peer-rsyslog/run.sh relp (RELPWIN=4096, BSYNC=on) on the same
 *                        input, when rsyslog is installed; the others then print ratio=ours/rsyslog.
 *
 * Input: FLUME_BENCH_LINES (default 1,000,000) numbered 100-byte lines, the peer's format; the
 * issue's "sustained for 60 s" is FLUME_BENCH_LINES=110000000 (an 11 GB input, a minute or more
 * each at up to ~1.8M events/s; the 4-agent scenario writes a second copy, split in four).
 * Each line reports the count stored; agent_rss_mb is the agents' peak RSS (VmHWM) and
 * collector_rss_mb the collector's.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, httpGet } from '../harness/procs';
import { TestCerts } from '../harness/tls';
import { peakRssMbOf, wanted } from './util';

const ROOT = path.join(__dirname, '..', '..', '..');
const LINES = Number(process.env.FLUME_BENCH_LINES ?? 1_000_000);
const PEER = path.join(ROOT, '..', 'shared', 'peer-rsyslog', 'run.sh');

type Mode = 'E2E' | 'DFO' | 'BE';

/** Whether the scenario running now uses mutual TLS (pipeline-e2e-tls); the others run insecure. */
let secure = false;

/** Numbered 100-byte lines `first`..`first+count-1`, the peer's format. */
function makeInput(file: string, first: number, count: number): void {
  const filler = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz01'.slice(0, 88);
  const fd = fs.openSync(file, 'w');
  const chunk: string[] = [];
  for (let i = first; i < first + count; i++) {
    chunk.push(`${String(i).padStart(10, '0')} ${filler}\n`);
    if (chunk.length === 10_000) {
      fs.writeSync(fd, chunk.join(''));
      chunk.length = 0;
    }
  }
  if (chunk.length > 0) fs.writeSync(fd, chunk.join(''));
  fs.closeSync(fd);
}

/** The node's /status, or null while it does not answer. */
async function status(port: number): Promise<{ nodes: Array<{ counters: Record<string, Record<string, number>> }> } | null> {
  try {
    return JSON.parse((await httpGet(`${secure ? 'https' : 'http'}://127.0.0.1:${port}/status`, 1000, { plain: !secure })).body);
  } catch {
    return null;
  }
}

async function driverEvents(port: number): Promise<number> {
  const s = await status(port);
  return Number(s?.nodes[0]?.counters?.driver?.events_accepted ?? 0);
}

function node(name: string, spec: string, data: string, httpPort: number): ChildProcess {
  // FLUME_BENCH_NODE_ARGS: extra node flags for the nodes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.FLUME_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return spawn(
    process.execPath,
    [
      ...nodeArgs,
      path.join(ROOT, 'bin', 'flume-node.js'),
      '--standalone',
      '-n',
      name,
      '-c',
      spec,
      '--data',
      data,
      '--http-port',
      String(httpPort),
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        FLUME_LOG_LEVEL: 'warn',
        // The collector's storage is beside its data dir, in the run's directory (node.write_paths).
        FLUME_NODE_WRITE_PATHS: path.dirname(path.resolve(data)),
        ...(secure ? TestCerts.shared().env(name === 'coll' ? 'collector' : 'agent', name) : { FLUME_TLS_MODE: 'insecure' }),
      },
    },
  );
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await done;
  clearTimeout(timer);
}

interface Nodes {
  collector: ChildProcess;
  collectorHttp: number;
  agents: ChildProcess[];
  agentHttp: number[];
  dir: string;
}

/** A collector writing raw files under `dir`/out, answering on `port`; resolves once it serves /status. */
async function startCollector(dir: string, port: number, httpPort: number): Promise<ChildProcess> {
  // FLUME_BENCH_COLLECTOR_SINK: another collector sink, to find which stage limits the rate (e.g. "null").
  const sink = process.env.FLUME_BENCH_COLLECTOR_SINK ?? `collectorSink("${dir}/out/", "data-", 60000)`;
  const collector = node('coll', `coll : collectorSource(${port}) | ${sink} ;`, path.join(dir, 'c'), httpPort);
  while ((await status(httpPort)) === null) await new Promise((r) => setTimeout(r, 100));
  return collector;
}

/** A collector writing raw files, and one agent per input tailing it into agent<mode>Sink. */
async function startPipeline(mode: Mode, inputs: string[], work: string): Promise<Nodes> {
  const dir = fs.mkdtempSync(path.join(work, `${mode}-`));
  const [collectorPort, collectorHttp] = [await freePort(), await freePort()];
  const collector = await startCollector(dir, collectorPort, collectorHttp);
  const agents: ChildProcess[] = [];
  const agentHttp: number[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const port = await freePort();
    agentHttp.push(port);
    agents.push(
      node(
        `agent${i}`,
        `agent${i} : tail("${inputs[i]}") | agent${mode}Sink("127.0.0.1", ${collectorPort}) ;`,
        path.join(dir, `a${i}`),
        port,
      ),
    );
  }
  return { collector, collectorHttp, agents, agentHttp, dir };
}

/** Events delivered so far: end-to-end acked at the agents (E2E), or written by the collector. */
async function delivered(mode: Mode, n: Nodes): Promise<number> {
  if (mode !== 'E2E') return driverEvents(n.collectorHttp);
  let sum = 0;
  for (const port of n.agentHttp) sum += await driverEvents(port);
  return sum;
}

/**
 * Waits until `total` events are delivered, or nothing moved for 20 s; returns the count. Polls
 * every 5 ms over the last tenth, so the end is known within a few ms (the peer's end is the
 * mtime of its last write), and every 50 ms before, to stay out of the nodes' way.
 */
async function waitDelivered(mode: Mode, n: Nodes, total: number): Promise<number> {
  let done = 0;
  let last = -1;
  let lastMove = Date.now();
  while (done < total && Date.now() - lastMove < 20_000) {
    await new Promise((r) => setTimeout(r, done < 0.9 * total ? 50 : 5));
    done = await delivered(mode, n);
    if (done !== last) lastMove = Date.now();
    last = done;
  }
  return done;
}

async function stopPipeline(n: Nodes): Promise<{ agentRss: number; collectorRss: number; stored: string }> {
  const agentRss = Math.max(...n.agents.map((a) => peakRssMbOf(a.pid!)));
  const collectorRss = peakRssMbOf(n.collector.pid!);
  for (const a of n.agents) await stop(a);
  await stop(n.collector);
  const stored = spawnSync('sh', ['-c', `cat "${n.dir}"/out/* | wc -l`], { encoding: 'utf8' }).stdout.trim();
  fs.rmSync(n.dir, { recursive: true, force: true });
  return { agentRss, collectorRss, stored };
}

/** Every line of `inputs` through the pipeline as fast as it goes; returns the rate. */
async function throughput(name: string, mode: Mode, inputs: string[], total: number, work: string, peerRate: number): Promise<number> {
  const n = await startPipeline(mode, inputs, work);
  // The clock starts once every agent process is up (its tail starts reading then), so process
  // start-up (~0.4 s of node and module loading) does not count against a rate of a few seconds.
  for (const port of n.agentHttp) while ((await status(port)) === null) await new Promise((r) => setTimeout(r, 10));
  const began = process.hrtime.bigint();
  const done = await waitDelivered(mode, n, total);
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  const { agentRss, collectorRss, stored } = await stopPipeline(n);
  const rate = done / seconds;
  const parts = [
    `bench ${name}`,
    `events/s=${Math.round(rate)}`,
    `MB/s=${((done * 100) / seconds / 1e6).toFixed(1)}`,
    `agent_rss_mb=${agentRss}`,
    `collector_rss_mb=${collectorRss}`,
    `agents=${inputs.length}`,
    `lines=${total}`,
    `stored=${stored}`,
  ];
  if (done < total) parts.push(`INCOMPLETE=${done}`);
  if (peerRate > 0) parts.push(`ratio=${(rate / peerRate).toFixed(2)}`);
  console.log(parts.join(' '));
  return rate;
}

/**
 * Latency at a steady offered rate: lines appended to the agent's file at `rate` for
 * FLUME_BENCH_LATENCY_S seconds; p50/p99 of the agent's delivery histogram (age of a batch's
 * first line, stamped when tail read it, at its end-to-end ack), interpolated within buckets.
 */
async function latency(name: string, mode: Mode, rate: number, work: string): Promise<void> {
  const seconds = Number(process.env.FLUME_BENCH_LATENCY_S ?? 15);
  const input = path.join(work, `paced-${mode}.log`);
  fs.writeFileSync(input, '');
  const n = await startPipeline(mode, [input], work);
  while ((await status(n.agentHttp[0])) === null) await new Promise((r) => setTimeout(r, 50));
  const block = Buffer.from(Array.from({ length: 10_000 }, (_, i) => `${String(i).padStart(10, '0')} ${'x'.repeat(88)}\n`).join(''));
  const fd = fs.openSync(input, 'a');
  const began = Date.now();
  let written = 0;
  while (Date.now() - began < seconds * 1000) {
    let due = Math.floor(((Date.now() - began) / 1000) * rate) - written;
    written += due;
    while (due > 0) {
      const k = Math.min(due, 10_000);
      fs.writeSync(fd, block, 0, k * 100);
      due -= k;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  fs.closeSync(fd);
  const offered = written / ((Date.now() - began) / 1000);
  const done = await waitDelivered(mode, n, written);
  const metrics = await httpGet(`http://127.0.0.1:${n.agentHttp[0]}/metrics`, 5_000, { plain: true }).then(
    (a) => a.body,
    () => '',
  );
  const { agentRss, collectorRss } = await stopPipeline(n);
  const q = (p: number): string => quantile(metrics, 'flume_delivery_ms', p).toFixed(1);
  const parts = [
    `bench ${name}`,
    `events/s=${Math.round(offered)}`,
    `MB/s=${((offered * 100) / 1e6).toFixed(1)}`,
    `agent_rss_mb=${agentRss}`,
    `p50_ms=${q(0.5)}`,
    `p99_ms=${q(0.99)}`,
    `collector_rss_mb=${collectorRss}`,
    `seconds=${seconds}`,
  ];
  if (done < written) parts.push(`INCOMPLETE=${done}/${written}`);
  console.log(parts.join(' '));
}

/** The `p` quantile of a Prometheus histogram (all series summed), interpolated within its bucket. */
function quantile(text: string, name: string, p: number): number {
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}_bucket\\{.*le="([^"]+)".*\\} (\\d+)`).exec(line);
    if (m)
      buckets.set(m[1] === '+Inf' ? Infinity : Number(m[1]), (buckets.get(m[1] === '+Inf' ? Infinity : Number(m[1])) ?? 0) + Number(m[2]));
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= p * total) {
      if (!Number.isFinite(le)) return prevLe;
      return prevLe + ((p * total - prevCount) / Math.max(1, count - prevCount)) * (le - prevLe);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/**
 * A backlog drained: the agent tails `input` (`total` lines) into its WAL while its collector
 * is down, until the tail has put every line or the WAL is full (it holds the tail back then,
 * and the rest follows during the drain); then the collector starts and everything is delivered.
 */
async function backlog(name: string, input: string, total: number, work: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(work, 'backlog-'));
  const [collectorPort, collectorHttp, agentHttp] = [await freePort(), await freePort(), await freePort()];
  const agent = node(
    'agent0',
    `agent0 : tail("${input}") | agentE2ESink("127.0.0.1", ${collectorPort}) ;`,
    path.join(dir, 'a0'),
    agentHttp,
  );
  let collector: ChildProcess | null = null;
  try {
    const filled = process.hrtime.bigint();
    let held = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      const node0 = (await status(agentHttp))?.nodes[0] as
        { counters: Record<string, Record<string, number>>; channel: { bytes: number; capacityBytes: number } | null } | undefined;
      held = Number(node0?.counters?.channel?.events_accepted ?? 0);
      const ch = node0?.channel;
      // Full: less room left than a tail batch (4 MB) needs.
      if (held >= total || (ch && ch.bytes + 4 * 1024 * 1024 > ch.capacityBytes)) break;
    }
    const fillSeconds = Number(process.hrtime.bigint() - filled) / 1e9;
    const backlogRss = peakRssMbOf(agent.pid!);
    collector = await startCollector(dir, collectorPort, collectorHttp);
    const agentOnly: Nodes = { collector, collectorHttp, agents: [agent], agentHttp: [agentHttp], dir };
    while ((await driverEvents(agentHttp)) === 0) await new Promise((r) => setTimeout(r, 5));
    const began = process.hrtime.bigint();
    const first = await driverEvents(agentHttp);
    const done = await waitDelivered('E2E', agentOnly, total);
    const seconds = Number(process.hrtime.bigint() - began) / 1e9;
    collector = null;
    const { agentRss, collectorRss, stored } = await stopPipeline(agentOnly);
    const rate = (done - first) / seconds;
    const parts = [
      `bench ${name}`,
      `events/s=${Math.round(rate)}`,
      `MB/s=${(((done - first) * 100) / seconds / 1e6).toFixed(1)}`,
      `agent_rss_mb=${agentRss}`,
      `collector_rss_mb=${collectorRss}`,
      `backlog_events=${held}`,
      `backlog_rss_mb=${backlogRss}`,
      `fill_s=${fillSeconds.toFixed(1)}`,
      `lines=${total}`,
      `stored=${stored}`,
    ];
    if (done < total) parts.push(`INCOMPLETE=${done}`);
    console.log(parts.join(' '));
  } finally {
    await stop(agent);
    if (collector) await stop(collector);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function peer(): number {
  const has = spawnSync('sh', ['-c', 'command -v rsyslogd'], { encoding: 'utf8' }).status === 0;
  if (!has || !fs.existsSync(PEER)) {
    console.log('bench rsyslog-relp skipped: rsyslog or ../shared/peer-rsyslog is missing (apt-get install -y rsyslog rsyslog-relp)');
    return 0;
  }
  const r = spawnSync('bash', [PEER, 'relp', String(LINES)], { encoding: 'utf8', env: { ...process.env, RELPWIN: '4096', BSYNC: 'on' } });
  const counts = /unique=(\d+) dup=(\d+) missing=(\d+)/.exec(r.stdout);
  const elapsed = /elapsed=([\d.]+)s/.exec(r.stdout);
  const rss = /maxrss A=([\d.]+) MiB B=([\d.]+) MiB/.exec(r.stdout);
  if (!counts || !elapsed) {
    console.log(`bench rsyslog-relp failed: ${r.stdout.slice(-400)}${r.stderr.slice(-400)}`);
    return 0;
  }
  const [unique, dup, missing] = counts.slice(1).map(Number);
  const seconds = Number(elapsed[1]);
  // The script's own rate counts every input line; a run that stalled and lost some (it happens
  // about one run in six) is rated on the lines it delivered, up to its last write.
  const rate = unique / seconds;
  const parts = [
    `bench rsyslog-relp events/s=${Math.round(rate)}`,
    `MB/s=${((unique * 100) / seconds / 1e6).toFixed(1)}`,
    `rss_mb=${rss ? Math.round(Number(rss[1])) : 0}`,
    `collector_rss_mb=${rss ? Math.round(Number(rss[2])) : 0}`,
    `complete=${dup === 0 && missing === 0}`,
  ];
  if (dup > 0 || missing > 0) parts.push(`dup=${dup}`, `missing=${missing}`);
  console.log(parts.join(' '));
  return rate;
}

export async function run(filter?: string): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-pipeline-'));
  try {
    if (wanted(filter, 'agent-backlog')) {
      const lines = Math.round((Number(process.env.FLUME_BENCH_BACKLOG_MB ?? 100) * 1e6) / 100);
      const backlogInput = path.join(work, 'backlog.log');
      makeInput(backlogInput, 1, lines);
      await backlog('agent-backlog', backlogInput, lines, work);
      fs.rmSync(backlogInput, { force: true });
    }
    const onInput = [
      'rsyslog-relp',
      'pipeline-e2e',
      'pipeline-e2e-tls',
      'pipeline-dfo',
      'pipeline-be',
      'pipeline-4to1-e2e',
      'pipeline-e2e-latency',
    ];
    if (!onInput.some((s) => wanted(filter, s))) return;
    const input = path.join(work, 'input.log');
    makeInput(input, 1, LINES);
    const peerRate = wanted(filter, 'rsyslog-relp') ? peer() : 0;
    let e2eRate = 0;
    if (wanted(filter, 'pipeline-e2e')) e2eRate = await throughput('pipeline-e2e', 'E2E', [input], LINES, work, peerRate);
    if (wanted(filter, 'pipeline-e2e-tls')) {
      secure = true;
      const tlsRate = await throughput('pipeline-e2e-tls', 'E2E', [input], LINES, work, peerRate);
      secure = false;
      if (e2eRate > 0) console.log(`bench pipeline-e2e-tls vs plaintext: ${(tlsRate / e2eRate).toFixed(2)}`);
    }
    if (wanted(filter, 'pipeline-dfo')) await throughput('pipeline-dfo', 'DFO', [input], LINES, work, peerRate);
    if (wanted(filter, 'pipeline-be')) await throughput('pipeline-be', 'BE', [input], LINES, work, peerRate);
    if (wanted(filter, 'pipeline-4to1-e2e')) {
      const quarter = Math.floor(LINES / 4);
      const inputs = [0, 1, 2, 3].map((i) => {
        const f = path.join(work, `input-${i}.log`);
        makeInput(f, i * quarter + 1, quarter);
        return f;
      });
      await throughput('pipeline-4to1-e2e', 'E2E', inputs, quarter * 4, work, peerRate);
    }
    if (wanted(filter, 'pipeline-e2e-latency')) {
      const rate = Number(process.env.FLUME_BENCH_RATE ?? 0) || Math.round((e2eRate || 500_000) / 2);
      await latency('pipeline-e2e-latency', 'E2E', rate, work);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
