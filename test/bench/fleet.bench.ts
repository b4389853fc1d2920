/**
 * A fleet on its masters: N simulated physical nodes (BENCH_FLEET_NODES, default 10,000), each
 * with its own mutual-TLS connection, certificate and control stream, reporting once a second,
 * spread over BENCH_FLEET_LOADS load processes. A node is by default a lean node (fleet-lean.ts:
 * the same bytes on the wire from a bare node:http2 session, failing over as MasterClient's own
 * MasterRotation says): a MasterClient (fleet-load.ts) costs its load process more CPU per status
 * and per handshake than the master spends on it, and on this machine's 2 shared cores the
 * simulator, not the masters, then set the delays and the failover time. BENCH_FLEET_CLIENT=grpc
 * runs MasterClients on grpc-js instead.
 *
 * `master-fleet`: one master (embedded store). After the fleet is up and a warm-up, a window
 * of MEASURE_S seconds gives the master's CPU per node per second and the p99 delay from a node
 * sending its status to the master handling it (from two scrapes of the master's
 * flume_master_status_delay_seconds histogram, interpolated within its bucket); during the
 * window, CONFIG_SAMPLES config changes, one after the other, are timed from their commit (the
 * command's finishedAt) until the node's MasterClient emits the new desired set.
 *   bench master-fleet events/s=<statuses/s> MB/s=0 rss_mb=<master peak> p50_ms p99_ms nodes=...
 * BENCH_FLEET_CONFIGURED=1: every simulated node is given a config (one multiconfig) before the
 * fleet starts, so the windows run on a fleet-sized state, as a real fleet's master does.
 *
 * `master-fleet-failover`: a three-server ZooKeeper ensemble, three masters, the fleet spread
 * over them; a config command is submitted every COMMAND_EVERY_MS to the masters in turn; the
 * leader master is killed -9 mid-run. Reports the time from the kill until every node streams
 * to a live master again, and checks that every command a master accepted succeeded and reached
 * its node (commands_lost must be 0).
 *
 * `store-commands`: no fleet, the master's embedded store and command executor in this process.
 * The store is filled with BENCH_STORE_CONFIGS configs (one multiconfig, default 10,000), then
 * BENCH_STORE_COMMANDS config commands (default 300) run one after the other, each timed from its
 * submit until it is finished (durable, published). The event loop's busy time per command
 * (eventLoopUtilization) and its longest delay (monitorEventLoopDelay) say what a command costs
 * every control stream of the master; `diff_ms_per_command` is the part spent in one ChangeIndex
 * (the master runs two: its node table's and its control streams').
 *   bench store-commands events/s=<commands/s> MB/s=<file bytes written/s> rss_mb p50_ms p99_ms ...
 *
 * TLS: the run's CA and master certificate (test/harness/tls.ts, as in the tests), the Admin calls
 * with its admin certificate, and a certificate per simulated node (fleet-certs.ts).
 * Load processes: BENCH_FLEET_LOADS (default one per 1,250 nodes), together opening
 * BENCH_FLEET_RAMP connections a second (default 150: faster, on this loaded 2-core machine,
 * handshakes outlast their timeout and are tried again, and the fleet ramps slower).
 * File descriptors: the master holds one per node; `ulimit -n` is checked against the fleet.
 *
 * The simulated fleet shares this machine's 2 cores with the masters, which a real fleet does
 * not (its nodes run elsewhere): the load processes run at nice BENCH_FLEET_LOAD_NICE (default
 * 10, 0 for equal priority, `idle` for SCHED_IDLE: they run only on a CPU nothing else wants),
 * so a master is not kept off a CPU by the nodes it serves.
 * `master_runq_wait_pct` says how much of the window the master's main thread still waited for
 * a CPU while runnable (other work on the machine): read the delays against it. A status's delay
 * runs from its load process stamping it to the master handling it, so it holds the load
 * process's own lateness too: `master_loop_delay_p99_ms` is the master's part (how late its event
 * loop ran a 10 ms timer), `load_loop_delay_p99_ms` the worst load process's. `probe_rtt_ms_*`
 * (one-master runs) are the round trips of HTTP/2 PINGs every 100 ms from one more node alone in
 * its own process at normal priority (Probe): how soon the master reads a node's frame and
 * answers, without a busy simulator's own delay.
 * BENCH_MASTER_NODE_ARGS: Node options for the master processes (`--cpu-prof --cpu-prof-dir=D`).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { httpGet, tempDir, waitFor } from '../harness/procs';
import { startEnsemble } from '../harness/zk';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { silentLogger } from '../../core/logger';
import { CommandExecutor } from '../../master/executor';
import { ChangeIndex } from '../../master/state-diff';
import { EmbeddedStore } from '../../master/store/embedded';
import { AdminClient, startMasterProc, type MasterProc } from '../master/helpers';
import { fleetCerts, simName, type FleetCerts } from './fleet-certs';
import { cpuSeconds, peakRssMb, peakRssMbOf, percentile, wanted, zxid } from './util';

const NODES = Number(process.env.BENCH_FLEET_NODES ?? 10_000);
const LOADS = Number(process.env.BENCH_FLEET_LOADS ?? Math.max(1, Math.ceil(NODES / 1_250)));
const RAMP_PER_S = Number(process.env.BENCH_FLEET_RAMP ?? 150);
/** Nice value of the load processes (see the header); 0 runs them beside the masters as equals, `idle` under SCHED_IDLE. */
const LOAD_NICE = process.env.BENCH_FLEET_LOAD_NICE ?? '10';
if (LOAD_NICE !== 'idle' && !/^-?\d+$/.test(LOAD_NICE)) throw new Error(`BENCH_FLEET_LOAD_NICE is a nice value or idle, not ${LOAD_NICE}`);
const WARMUP_S = 5;
const MEASURE_S = Number(process.env.BENCH_FLEET_SECONDS ?? 15);
const CONFIG_SAMPLES = Number(process.env.BENCH_FLEET_CONFIG_SAMPLES ?? 200);
const CONFIG_S = 20;
const COMMAND_EVERY_MS = 200;
/** A master's connection cap (limits.master.max_connections) above the fleet: one connection per node. */
const MASTER_ENV = { FLUME_LIMITS_MASTER_MAX_CONNECTIONS: String(NODES + 1_000) };
/** Configure every node before the fleet starts (see the header). */
const CONFIGURED = process.env.BENCH_FLEET_CONFIGURED === '1';
const STORE_CONFIGS = Number(process.env.BENCH_STORE_CONFIGS ?? 10_000);
const STORE_COMMANDS = Number(process.env.BENCH_STORE_COMMANDS ?? 300);
/** BENCH_FLEET_MASTER_LOG=1: the masters' log lines (info and above) go to stderr. */
const MASTER_LOG = process.env.BENCH_FLEET_MASTER_LOG === '1';
/** The simulated nodes (see the header): lean (fleet-lean.ts) or grpc (fleet-load.ts, MasterClient). */
const CLIENT = clientKind(process.env.BENCH_FLEET_CLIENT ?? 'lean');
type Client = 'lean' | 'grpc';

function clientKind(kind: string): Client {
  if (kind !== 'lean' && kind !== 'grpc') throw new Error(`BENCH_FLEET_CLIENT is lean or grpc, not ${kind}`);
  return kind;
}

export async function run(filter?: string): Promise<void> {
  // 'master-fleet' names the first only; 'failover' (or no filter) the second.
  const f = filter ?? '';
  if (wanted(f, 'master-fleet') && !f.includes('failover')) await oneMaster();
  if (!f || f.includes('failover') || f === 'fleet') await threeMasters();
  if (wanted(f, 'store-commands')) await storeCommands();
}

// -- parts -----------------------------------------------------------------------------------

function checkFds(): void {
  const soft = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim());
  if (soft < NODES + 1_000) throw new Error(`ulimit -n is ${soft}: the master needs one descriptor per node (${NODES}); raise it`);
}

/** One node's failover as a load process traced it (fleet-load.ts): [was, noticeMs, attempts, backMs, reasons]. */
type NodeTrace = [string, number, number, number, string[]];

interface Load {
  proc: ChildProcess;
  healthy: Record<string, number>;
  down: number;
  breaks: Record<string, number>;
  /** The p99 of the process's event-loop delay since the last `lagFrom`, ms (-1: not asked yet). */
  lagP99: number;
}

/** The fleet's load processes; `onDesired` hears every config a node is told. */
class Fleet {
  readonly loads: Load[] = [];
  readonly desiredAt = new Map<string, { version: number; at: number }>();
  private readonly waiters: Array<() => void> = [];
  private readonly traced: NodeTrace[][] = [];

  constructor(masters: string[], certs: FleetCerts, client: Client) {
    const script = path.join(__dirname, client === 'lean' ? 'fleet-lean.js' : 'fleet-load.js');
    const per = Math.ceil(NODES / LOADS);
    const ramp = String(Math.max(1, Math.round(RAMP_PER_S / LOADS)));
    for (let l = 0; l < LOADS; l++) {
      const first = l * per;
      const count = Math.min(per, NODES - first);
      const proc = fork(script, [masters.join(','), String(first), String(count), certs.ca, certs.key, certs.certsFile, ramp], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      if (LOAD_NICE === 'idle') execFileSync('chrt', ['--all-tasks', '--idle', '--pid', '0', String(proc.pid)]);
      else if (Number(LOAD_NICE)) os.setPriority(proc.pid!, Number(LOAD_NICE));
      const load: Load = { proc, healthy: {}, down: count, breaks: {}, lagP99: -1 };
      proc.on(
        'message',
        (m: {
          t: string;
          healthy?: Record<string, number>;
          down?: number;
          breaks?: Record<string, number>;
          node?: string;
          version?: number;
          at?: number;
          nodes?: NodeTrace[];
          p99?: number;
        }) => {
          if (m.t === 'trace') this.traced.push(m.nodes!);
          else if (m.t === 'lag') load.lagP99 = m.p99!;
          else if (m.t === 'stat') {
            load.healthy = m.healthy!;
            load.down = m.down!;
            load.breaks = m.breaks!;
          } else if (m.t === 'desired') {
            this.desiredAt.set(m.node!, { version: m.version!, at: m.at! });
            for (const w of this.waiters.splice(0)) w();
          }
        },
      );
      this.loads.push(load);
    }
  }

  /** One line on stderr while the fleet ramps: nodes streaming, and not, per load process. */
  progress(): string {
    const breaks = new Map<string, number>();
    for (const l of this.loads) for (const [why, n] of Object.entries(l.breaks)) breaks.set(why, (breaks.get(why) ?? 0) + n);
    const why = [...breaks].map(([w, n]) => `${n}× ${w}`).join('; ');
    return `fleet: ${this.on()} of ${NODES} streaming; without a master per load: ${this.loads.map((l) => l.down).join(' ')}; outages: ${why}`;
  }

  /** Nodes streaming to a master in `live` (all of them: undefined). */
  on(live?: Set<string>): number {
    let n = 0;
    for (const l of this.loads) for (const [m, c] of Object.entries(l.healthy)) if (!live || live.has(m)) n += c;
    return n;
  }

  async desired(node: string, version: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const d = this.desiredAt.get(node);
      if (d && d.version >= version) return d.at;
      if (Date.now() > deadline) throw new Error(`${node} was not told version ${version} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  /** Every node starts tracing its failover from `at` (ms since epoch). */
  mark(at: number): void {
    for (const l of this.loads) l.proc.send({ t: 'mark', at });
  }

  /** Every node's trace since the mark. */
  async traces(): Promise<NodeTrace[]> {
    this.traced.length = 0;
    for (const l of this.loads) l.proc.send({ t: 'trace' });
    await waitFor(() => this.traced.length === this.loads.length, 30_000, 'failover traces', 50);
    return this.traced.flat();
  }

  /** Every load process starts measuring its event-loop delay afresh. */
  lagFrom(): void {
    for (const l of this.loads) l.proc.send({ t: 'lag0' });
  }

  /** The worst p99 event-loop delay of the load processes since `lagFrom`, ms. */
  async lagP99(): Promise<number> {
    for (const l of this.loads) {
      l.lagP99 = -1;
      l.proc.send({ t: 'lag' });
    }
    await waitFor(() => this.loads.every((l) => l.lagP99 >= 0), 30_000, 'event-loop delays of the load processes', 20);
    return Math.max(...this.loads.map((l) => l.lagP99));
  }

  peakRssMb(): number {
    return Math.max(...this.loads.map((l) => peakRssMbOf(l.proc.pid!)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.loads.map((l) => stopLoadProcess(l.proc)));
  }
}

/** Asks a load process (fleet-load.ts, fleet-lean.ts) to stop, and kills it if it has not exited within 10 s. */
function stopLoadProcess(proc: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (proc.exitCode !== null) return resolve();
    const force = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    proc.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    proc.send({ t: 'stop' });
  });
}

/**
 * One more lean node, alone in its own process at normal priority, that pings its master every
 * 100 ms (fleet-lean.ts FLEET_PROBE): round trips with no simulator's lateness in them. It is
 * node NODES, so its certificate file must hold NODES + 1.
 */
class Probe {
  private readonly proc: ChildProcess;
  private pings: number[] | undefined;
  private streaming = false;

  constructor(master: string, certs: FleetCerts) {
    const argv = [master, String(NODES), '1', certs.ca, certs.key, certs.certsFile, '1'];
    this.proc = fork(path.join(__dirname, 'fleet-lean.js'), argv, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, FLEET_PROBE: '1' },
    });
    this.proc.on('message', (m: { t: string; pings?: number[]; down?: number }) => {
      if (m.t === 'pings') this.pings = m.pings;
      else if (m.t === 'stat') this.streaming = m.down === 0;
    });
  }

  /** Waits until the probe's stream is open. */
  async ready(): Promise<void> {
    await waitFor(() => this.streaming, 60_000, 'the probe streaming to its master', 50);
  }

  /** Starts keeping round trips afresh. */
  from(): void {
    this.proc.send({ t: 'lag0' });
  }

  /** Round trips since `from`, ms, sorted. */
  async rtts(): Promise<number[]> {
    this.pings = undefined;
    this.proc.send({ t: 'lag' });
    await waitFor(() => this.pings !== undefined, 30_000, "the probe's round trips", 20);
    return this.pings!.sort((a, b) => a - b);
  }

  stop(): Promise<void> {
    return stopLoadProcess(this.proc);
  }
}

/** Waits until every node streams, saying how far the fleet got every 10 s. */
async function rampUp(fleet: Fleet): Promise<void> {
  const say = setInterval(() => console.error(fleet.progress()), 10_000);
  try {
    await waitFor(() => fleet.on() === NODES, 900_000, `all ${NODES} nodes streaming`, 200);
  } finally {
    clearInterval(say);
  }
}

/** Seconds the process's main thread has waited for a CPU while runnable (/proc schedstat). */
function runqSeconds(pid: number): number {
  return Number(fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
}

function rssMbOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

/** The master's metrics page (one scrape serves every parser below: a scrape restarts the longest-delay gauge). */
async function scrape(master: MasterProc): Promise<string> {
  return (await httpGet(`http://127.0.0.1:${master.httpPort}/metrics`)).body;
}

/** Cumulative bucket counts of histogram `name` (default: the status delay) in a scrape: [le seconds, count]. */
function buckets(body: string, name = 'flume_master_status_delay_seconds'): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const m of body.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)`, 'gm'))) {
    out.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  }
  return out;
}

interface ProcessFigures {
  /** flume_master_event_loop_delay_seconds' buckets. */
  loopDelays: Array<[number, number]>;
  /** The longest delay since the scrape before. */
  loopDelayMaxMs: number;
  majorGcs: number;
  /** Every kind. */
  gcSeconds: number;
  majorGcSeconds: number;
  heapUsedMb: number;
}

/** The master's process figures (master/metrics.ts ProcessGauges) in a scrape. */
function processFigures(body: string): ProcessFigures {
  const value = (re: RegExp): number => Number(re.exec(body)?.[1] ?? NaN);
  return {
    loopDelays: buckets(body, 'flume_master_event_loop_delay_seconds'),
    loopDelayMaxMs: value(/^flume_master_event_loop_delay_max_seconds (\S+)/m) * 1000,
    majorGcs: value(/^flume_master_gcs_total\{kind="major"\} (\S+)/m) || 0,
    majorGcSeconds: value(/^flume_master_gc_seconds_total\{kind="major"\} (\S+)/m) || 0,
    gcSeconds: [...body.matchAll(/^flume_master_gc_seconds_total\{kind="[^"]+"\} (\S+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0),
    heapUsedMb: Math.round(value(/^flume_master_heap_used_bytes (\S+)/m) / 1048576),
  };
}

/** The q-quantile in ms of the observations between two scrapes, linear within its bucket. */
function quantileMs(before: Array<[number, number]>, after: Array<[number, number]>, q: number): number {
  const counts = after.map(([le, c], i) => [le, c - (before[i]?.[1] ?? 0)] as [number, number]);
  const total = counts[counts.length - 1][1];
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, c] of counts) {
    if (c >= rank) {
      if (le === Infinity) return lower * 1000;
      return (lower + ((rank - below) / Math.max(1, c - below)) * (le - lower)) * 1000;
    }
    lower = le;
    below = c;
  }
  return lower * 1000;
}

/** Where a failover's time went, from the nodes' traces (stderr), and the figures for the bench line. */
function failoverSummary(traces: NodeTrace[], killed: string): string[] {
  const moved = traces.filter((t) => t[0] === killed);
  const others = traces.filter((t) => t[0] !== killed && t[1] >= 0).length;
  const notice = moved.map((t) => t[1]).sort((a, b) => a - b);
  const back = moved.map((t) => (t[3] < 0 ? Infinity : t[3])).sort((a, b) => a - b);
  const attempts = new Map<number, number>();
  const reasons = new Map<string, number>();
  for (const t of moved) {
    attempts.set(Math.min(t[2], 5), (attempts.get(Math.min(t[2], 5)) ?? 0) + 1);
    for (const r of t[4]) reasons.set(r, (reasons.get(r) ?? 0) + 1);
  }
  const q = (xs: number[], p: number): string => String(percentile(xs, p));
  console.error(
    `failover: ${moved.length} nodes on the killed master; stream broke after ms p50 ${q(notice, 50)} max ${q(notice, 100)};` +
      ` on a live master after ms p50 ${q(back, 50)} p90 ${q(back, 90)} p99 ${q(back, 99)} max ${q(back, 100)};` +
      ` streams opened: ${[...attempts]
        .sort((a, b) => a[0] - b[0])
        .map(([n, c]) => `${n === 5 ? '5+' : n}:${c}`)
        .join(' ')};` +
      ` nodes of live masters that broke too: ${others}`,
  );
  console.error(
    `failover breaks: ${[...reasons]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([r, n]) => `${n}× ${r}`)
      .join('; ')}`,
  );
  return [
    `failover_back_ms_p50=${q(back, 50)}`,
    `failover_back_ms_p90=${q(back, 90)}`,
    `failover_attempts_max=${Math.max(0, ...attempts.keys())}`,
  ];
}

// -- scenarios -------------------------------------------------------------------------------

/** One config change to a random node: ms from its commit (and from its submission) until the node is told. */
async function configChange(admin: AdminClient, fleet: Fleet, k: number, seen: number[], fromSubmit: number[]): Promise<void> {
  const node = simName(Math.floor(Math.random() * NODES));
  const submitted = Date.now();
  const done = await admin.exec('config', node, `text("/tmp/${k}")`, 'console');
  if (done.state !== 2) throw new Error(`config ${node}: ${done.message}`);
  const version = Number(/ v(\d+)/.exec(done.message)?.[1] ?? 1);
  const at = await fleet.desired(node, version, 10_000);
  seen.push(at - done.finishedAt);
  fromSubmit.push(at - submitted);
}

/** One config per simulated node, in one multiconfig. */
async function configureFleet(admin: AdminClient): Promise<void> {
  const spec: string[] = [];
  for (let i = 0; i < NODES; i++) spec.push(`${simName(i)} : text("/tmp/fleet-${i}") | console ;\n`);
  const done = await admin.exec('multiconfig', spec.join(''));
  if (done.state !== 2) throw new Error(`multiconfig of the fleet: ${done.message.slice(0, 200)}`);
}

async function oneMaster(): Promise<void> {
  checkFds();
  const dir = tempDir('flume-bench-fleet-');
  const certs = fleetCerts(NODES + 1);
  const master = await startMasterProc(['--data', path.join(dir.path, 'master')], false, MASTER_ENV);
  const admin = new AdminClient(master.address);
  if (CONFIGURED) await configureFleet(admin);
  const fleet = new Fleet([master.address], certs, CLIENT);
  let probe: Probe | undefined;
  const rampStart = performance.now();
  try {
    await rampUp(fleet);
    const rampS = (performance.now() - rampStart) / 1000;
    probe = new Probe(master.address, certs);
    await probe.ready();
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));

    // Window 1, steady state: status delay and CPU with no commands.
    const loadPids = fleet.loads.map((l) => l.proc.pid!);
    fleet.lagFrom();
    probe.from();
    const page0 = await scrape(master);
    const proc0 = processFigures(page0);
    const before = buckets(page0);
    const cpu0 = cpuSeconds(master.proc.pid);
    const runq0 = runqSeconds(master.proc.pid);
    const loadCpu0 = loadPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, MEASURE_S * 1000));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(master.proc.pid) - cpu0;
    const runq = runqSeconds(master.proc.pid) - runq0;
    const loadCpu = loadPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - loadCpu0;
    const page1 = await scrape(master);
    const after = buckets(page1);
    const proc1 = processFigures(page1);
    const loadLagP99 = await fleet.lagP99();
    const rtt = await probe.rtts();
    probe.from();
    const statuses = after[after.length - 1][1] - before[before.length - 1][1];
    console.error(
      `fleet steady: p50 ${quantileMs(before, after, 0.5).toFixed(2)} ms, p99 ${quantileMs(before, after, 0.99).toFixed(2)} ms,` +
        ` master ${Math.round((cpu / seconds) * 100)}% CPU, ${rssMbOf(master.proc.pid)} MB; load processes ${Math.round((loadCpu / seconds) * 100)}% CPU`,
    );

    // Window 2: config changes spread evenly over CONFIG_S, each to a random node, without
    // waiting for the one before: how soon a node hears of a commit while the fleet reports.
    const seen: number[] = [];
    const fromSubmit: number[] = [];
    const changes: Array<Promise<void>> = [];
    let failed = 0;
    const t1 = performance.now();
    const every = (CONFIG_S * 1000) / (CONFIG_SAMPLES + 1);
    for (let k = 0; k < CONFIG_SAMPLES; k++) {
      const wait = t1 + (k + 1) * every - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      changes.push(
        configChange(admin, fleet, k, seen, fromSubmit).catch((err: Error) => {
          failed++;
          console.error(`config change ${k}: ${err.message}`);
        }),
      );
    }
    await Promise.all(changes);
    const during = buckets(await scrape(master));
    const rttDuring = await probe.rtts();
    seen.sort((a, b) => a - b);
    fromSubmit.sort((a, b) => a - b);
    console.log(
      [
        'bench master-fleet',
        `events/s=${Math.round(statuses / seconds)}`,
        'MB/s=0',
        `rss_mb=${peakRssMbOf(master.proc.pid)}`,
        `p50_ms=${quantileMs(before, after, 0.5).toFixed(2)}`,
        `p99_ms=${quantileMs(before, after, 0.99).toFixed(2)}`,
        `nodes=${NODES}`,
        `configured=${CONFIGURED ? NODES : 0}`,
        'tls=1',
        `connections=${fleet.on()}`,
        `master_rss_now_mb=${rssMbOf(master.proc.pid)}`,
        `master_cpu_us_per_node_s=${Math.round((cpu * 1e6) / NODES / seconds)}`,
        `master_cpu_pct=${Math.round((cpu / seconds) * 100)}`,
        `master_runq_wait_pct=${Math.round((runq / seconds) * 100)}`,
        `load_cpu_pct=${Math.round((loadCpu / seconds) * 100)}`,
        `master_loop_delay_p99_ms=${quantileMs(proc0.loopDelays, proc1.loopDelays, 0.99).toFixed(1)}`,
        `master_loop_delay_max_ms=${proc1.loopDelayMaxMs.toFixed(1)}`,
        `master_gc_pct=${(((proc1.gcSeconds - proc0.gcSeconds) / seconds) * 100).toFixed(1)}`,
        `master_gc_major=${proc1.majorGcs - proc0.majorGcs}`,
        `master_gc_major_ms=${Math.round((proc1.majorGcSeconds - proc0.majorGcSeconds) * 1000)}`,
        `master_heap_mb=${proc1.heapUsedMb}`,
        `load_loop_delay_p99_ms=${loadLagP99.toFixed(1)}`,
        `probe_rtt_ms_p50=${percentile(rtt, 50).toFixed(2)}`,
        `probe_rtt_ms_p99=${percentile(rtt, 99).toFixed(2)}`,
        `probe_rtt_ms_max=${(rtt[rtt.length - 1] ?? NaN).toFixed(2)}`,
        `probe_rtt_ms_p99_during_config=${percentile(rttDuring, 99).toFixed(2)}`,
        `probe_pings=${rtt.length + rttDuring.length}`,
        `client=${CLIENT}`,
        `config_seen_ms_p50=${percentile(seen, 50).toFixed(1)}`,
        `config_seen_ms_p99=${percentile(seen, 99).toFixed(1)}`,
        `config_seen_ms_max=${(seen[seen.length - 1] ?? NaN).toFixed(1)}`,
        `config_samples=${seen.length}`,
        `config_failed=${failed}`,
        `status_p99_ms_during_config=${quantileMs(after, during, 0.99).toFixed(2)}`,
        `config_submit_to_node_ms_p50=${percentile(fromSubmit, 50).toFixed(0)}`,
        `ramp_s=${rampS.toFixed(1)}`,
        `load_procs=${LOADS}`,
        `load_nice=${LOAD_NICE}`,
        `load_rss_mb=${fleet.peakRssMb()}`,
        `bench_rss_mb=${peakRssMb()}`,
      ].join(' '),
    );
  } finally {
    await probe?.stop();
    await fleet.stop();
    admin.close();
    await master.proc.stop();
    dir.remove();
  }
}

async function threeMasters(): Promise<void> {
  checkFds();
  const certs = fleetCerts(NODES);
  const zk = await startEnsemble(3);
  const connect = await zk.chroot();
  const masters: MasterProc[] = [];
  const admins: AdminClient[] = [];
  let fleet: Fleet | undefined;
  try {
    for (const id of ['m1', 'm2', 'm3']) {
      const m = await startMasterProc(['--zk', connect, '--id', id], MASTER_LOG, MASTER_ENV);
      masters.push(m);
      admins.push(new AdminClient(m.address));
    }
    fleet = new Fleet(
      masters.map((m) => m.address),
      certs,
      CLIENT,
    );
    const f = fleet;
    const rampStart = performance.now();
    await rampUp(f);
    const rampS = (performance.now() - rampStart) / 1000;
    // ZooKeeper writes a second in a steady fleet (no commands yet): zxids the ensemble issued.
    const zx0 = await zxid(zk.servers[0].clientPort);
    const zt0 = performance.now();
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    const zkWritesPerS = ((await zxid(zk.servers[0].clientPort)) - zx0) / ((performance.now() - zt0) / 1000);
    const infos = await Promise.all(admins.map((a) => a.info()));
    const leader = infos.findIndex((i) => i.leader);
    if (leader < 0) throw new Error('no leader among the masters');
    const onLeader = f.on(new Set([masters[leader].address]));

    // Commands throughout: accepted ones are remembered with the node they configure.
    const accepted: Array<{ admin: AdminClient; id: number; node: string }> = [];
    let refused = 0;
    let k = 0;
    let killed = false;
    const submitting = setInterval(() => {
      const i = k++;
      const a = i % 3;
      if (killed && a === leader) return;
      const node = simName((i * 7919) % NODES);
      admins[a].submit('config', node, `text("/tmp/c${i}")`, 'console').then(
        (id) => accepted.push({ admin: admins[a], id, node }),
        () => refused++,
      );
    }, COMMAND_EVERY_MS);

    await new Promise((r) => setTimeout(r, 3_000));
    const killAt = performance.now();
    killed = true;
    f.mark(performance.timeOrigin + killAt);
    await masters[leader].proc.kill9();
    const live = new Set(masters.filter((_, i) => i !== leader).map((m) => m.address));
    const survivors = masters.filter((_, i) => i !== leader).map((m) => m.proc.pid);
    const loadPids = f.loads.map((l) => l.proc.pid!);
    let cpu = [...survivors, ...loadPids].map(cpuSeconds);
    let runq = [...survivors, ...loadPids].map(runqSeconds);
    const timeline = setInterval(() => {
      const cpuNow = [...survivors, ...loadPids].map(cpuSeconds);
      const runqNow = [...survivors, ...loadPids].map(runqSeconds);
      const pct = (a: number[], b: number[]): string => a.map((x, i) => `${Math.round((x - b[i]) * 100)}%`).join('/');
      const sum = (a: number[], b: number[]): string => `${Math.round(a.slice(2).reduce((t, x, i) => t + x - b[i + 2], 0) * 100)}%`;
      console.error(
        `failover +${((performance.now() - killAt) / 1000).toFixed(0)} s: ${f.on(live)} on live masters;` +
          ` survivors cpu ${pct(cpuNow.slice(0, 2), cpu)} runq ${pct(runqNow.slice(0, 2), runq)};` +
          ` load processes cpu ${sum(cpuNow, cpu)} runq ${sum(runqNow, runq)}; load ${os.loadavg()[0].toFixed(1)}`,
      );
      cpu = cpuNow;
      runq = runqNow;
    }, 1_000);
    await waitFor(() => f.on(live) === NODES, 120_000, 'every node on a live master', 20).finally(() => clearInterval(timeline));
    const recoverS = (performance.now() - killAt) / 1000;
    const traceFields = failoverSummary(await f.traces(), masters[leader].address);
    await new Promise((r) => setTimeout(r, 5_000));
    clearInterval(submitting);
    await new Promise((r) => setTimeout(r, 500));

    // Every accepted command succeeded, and its node was told its config's version.
    const liveAdmin = admins[(leader + 1) % 3];
    let lost = 0;
    let failed = 0;
    const commandStart = performance.now();
    const latest = new Map<string, number>();
    for (const c of accepted) {
      const s = await liveAdmin.waitDone(c.id, 60_000).catch(() => undefined);
      if (!s) lost++;
      else if (s.state !== 2) failed++;
      else latest.set(c.node, Math.max(latest.get(c.node) ?? 0, Number(/ v(\d+)/.exec(s.message)?.[1] ?? 0)));
    }
    const drainS = (performance.now() - commandStart) / 1000;
    let notTold = 0;
    for (const [node, version] of latest) await f.desired(node, version, 10_000).catch(() => notTold++);
    const newLeader = (await Promise.all(admins.filter((_, i) => i !== leader).map((a) => a.info()))).find((i) => i.leader)?.id ?? 'none';
    console.log(
      [
        'bench master-fleet-failover',
        `events/s=${Math.round(NODES)}`,
        'MB/s=0',
        `rss_mb=${Math.max(...masters.filter((_, i) => i !== leader).map((m) => peakRssMbOf(m.proc.pid)))}`,
        `nodes=${NODES}`,
        'masters=3',
        'zk_servers=3',
        'tls=1',
        `nodes_on_killed_leader=${onLeader}`,
        `zk_writes_per_s=${zkWritesPerS.toFixed(1)}`,
        `all_on_live_master_s=${recoverS.toFixed(2)}`,
        ...traceFields,
        `client=${CLIENT}`,
        `commands_accepted=${accepted.length}`,
        `commands_refused=${refused}`,
        `commands_lost=${lost}`,
        `commands_failed=${failed}`,
        `configs_not_seen_by_node=${notTold}`,
        `commands_drained_s=${drainS.toFixed(1)}`,
        `new_leader=${newLeader}`,
        `ramp_s=${rampS.toFixed(1)}`,
        `load_rss_mb=${f.peakRssMb()}`,
      ].join(' '),
    );
  } finally {
    await fleet?.stop();
    for (const a of admins) a.close();
    for (const m of masters) await m.proc.stop();
    await zk.stop();
  }
}

/** Resolves once command `id` is finished in `store`. */
function finished(store: EmbeddedStore, id: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      void store.command(id).then((c) => {
        if (c?.state !== 'SUCCEEDED' && c?.state !== 'FAILED') return;
        store.off('commands', check);
        resolve();
      });
    };
    store.on('commands', check);
    check();
  });
}

/** Bytes in the files of `dir`. */
function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
}

/** Bytes this process has written with write(2) and the like, every thread (/proc/self/io wchar). */
function bytesWritten(): number {
  return Number(/wchar: (\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'))?.[1] ?? 0);
}

async function storeCommands(): Promise<void> {
  const dir = tempDir('flume-bench-store-');
  const logger = silentLogger();
  const store = new EmbeddedStore(dir.path, logger);
  await store.start();
  const executor = new CommandExecutor(store, { baseDir: dir.path }, { pollMs: 1_000 }, logger);
  executor.start();
  const changes = new ChangeIndex(store.view());
  let diffMs = 0;
  store.on('change', () => {
    const t = performance.now();
    changes.advance(store.view());
    diffMs += performance.now() - t;
  });
  try {
    const spec: string[] = [];
    for (let i = 0; i < STORE_CONFIGS; i++) spec.push(`${simName(i)} : text("/tmp/fleet-${i}") | console ;\n`);
    const fillStart = performance.now();
    const fill = await store.submit('multiconfig', [spec.join('')]);
    await finished(store, fill.record.id);
    const fillMs = performance.now() - fillStart;
    const failedFill = (await store.command(fill.record.id))?.state !== 'SUCCEEDED';
    if (failedFill) throw new Error('the multiconfig filling the store failed');

    diffMs = 0;
    const latencies: number[] = [];
    const delay = monitorEventLoopDelay({ resolution: 1 });
    const bytes0 = bytesWritten();
    const elu0 = performance.eventLoopUtilization();
    delay.enable();
    const t0 = performance.now();
    for (let k = 0; k < STORE_COMMANDS; k++) {
      const started = performance.now();
      const node = simName(Math.floor(Math.random() * STORE_CONFIGS));
      const { record } = await store.submit('config', [node, `text("/tmp/c${k}")`, 'console']);
      await finished(store, record.id);
      latencies.push(performance.now() - started);
    }
    const seconds = (performance.now() - t0) / 1000;
    delay.disable();
    const busyMs = performance.eventLoopUtilization(elu0).active;
    latencies.sort((a, b) => a - b);
    console.log(
      [
        'bench store-commands',
        `events/s=${Math.round(STORE_COMMANDS / seconds)}`,
        `MB/s=${((bytesWritten() - bytes0) / seconds / 1e6).toFixed(1)}`,
        `rss_mb=${peakRssMb()}`,
        `p50_ms=${percentile(latencies, 50).toFixed(2)}`,
        `p99_ms=${percentile(latencies, 99).toFixed(2)}`,
        `configs=${STORE_CONFIGS}`,
        `commands=${STORE_COMMANDS}`,
        `busy_ms_per_command=${(busyMs / STORE_COMMANDS).toFixed(2)}`,
        `loop_delay_p99_ms=${(delay.percentile(99) / 1e6).toFixed(1)}`,
        `loop_delay_max_ms=${(delay.max / 1e6).toFixed(1)}`,
        `diff_ms_per_command=${(diffMs / STORE_COMMANDS).toFixed(2)}`,
        `fill_ms=${Math.round(fillMs)}`,
        `files_kb=${Math.round(dirBytes(dir.path) / 1024)}`,
      ].join(' '),
    );
  } finally {
    await executor.stop();
    await store.stop();
    dir.remove();
  }
}

if (require.main === module) void run(process.argv[2]);
