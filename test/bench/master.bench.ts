/**
 * One master (a real `flume-master` process, embedded store), 10,000 simulated nodes
 * heartbeating once a second from this one load process over several gRPC channels.
 *
 * Heartbeat requests are encoded once per node and sent by a lean HTTP/2 gRPC caller
 * (test/master/h2-caller.ts: the frames a grpc-js client sends, written on a plain socket), so
 * the load process, which shares the machine's two cores with the master, spends a few us per
 * call instead of the ~50 us of node's http2 client. Latency is the round trip seen by the
 * caller, from the call to its parsed reply and trailers.
 * Prints `bench master-heartbeat events/s=N MB/s=0 rss_mb=N p50_ms=N p99_ms=N`, where events
 * are heartbeats answered and rss_mb is the master's peak RSS (VmHWM), plus the load process's
 * own as load_rss_mb. After the run one config change is timed from its submission until its
 * node is told about it (config_seen_ms, which includes the command's execution and the
 * AdminClient's polling for its end) and counted in heartbeats sent after the command succeeded
 * (config_seen_beats=1: seen on the next heartbeat).
 */
import * as fs from 'node:fs';
import { decodeMessage, encodeMessage } from '../../proto';
import { tempDir } from '../harness/procs';
import { startZooKeeper } from '../harness/zk';
import { H2Caller } from '../master/h2-caller';
import { AdminClient, startMasterProc } from '../master/helpers';
import { peakRssMb, peakRssMbOf, percentile, wanted } from './util';

const NODES = Number(process.env.BENCH_MASTER_NODES ?? 10_000);
/** Connections the simulated nodes share (real nodes have one each: try BENCH_MASTER_CHANNELS=10000). */
const CHANNELS = Number(process.env.BENCH_MASTER_CHANNELS ?? 8);
const WARMUP_S = 3;
const MEASURE_S = 10;
/** Calls in flight at most: past it the load falls behind schedule rather than pile up. */
const MAX_IN_FLIGHT = 2_048;

const HEARTBEAT = '/flume.Master/Heartbeat';

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export async function run(filter?: string): Promise<void> {
  if (wanted(filter, 'master-heartbeat')) await heartbeats('master-heartbeat', false);
  // The same against a master on ZooKeeper, which shares node status through znodes.
  if (filter !== undefined && wanted(filter, 'master-heartbeat-zk')) await heartbeats('master-heartbeat-zk', true);
}

async function heartbeats(name: string, onZooKeeper: boolean): Promise<void> {
  const dir = tempDir('flume-bench-master-');
  const zk = onZooKeeper ? await startZooKeeper() : undefined;
  const master = await startMasterProc(zk ? ['--zk', await zk.chroot()] : ['--data', dir.path]);
  // Connections are opened 200 at a time: 10,000 at once would overflow the listen backlog.
  const clients: H2Caller[] = [];
  while (clients.length < CHANNELS) {
    const batch = Array.from({ length: Math.min(200, CHANNELS - clients.length) }, () => new H2Caller('127.0.0.1', master.grpcPort));
    await Promise.all(batch.map((c) => c.connected()));
    clients.push(...batch);
  }
  const requests = Array.from({ length: NODES }, (_, i) => encodeMessage('HeartbeatRequest', {
    physical: `sim${i}`, host: `host${i}`, role: 'agent', startedAt: Date.now(),
    logical: [{ name: `sim${i}`, state: 3, configVersion: 0, message: '' }],
  }));
  const latencies = new Float64Array(NODES * (MEASURE_S + 2));
  let answered = 0;
  let failed = 0;
  let measuring = false;
  let inFlight = 0;
  const send = (i: number): void => {
    const start = performance.now();
    inFlight++;
    clients[i % CHANNELS].call(HEARTBEAT, requests[i], (err) => {
      inFlight--;
      if (err) {
        failed++;
        return;
      }
      if (measuring && answered < latencies.length) latencies[answered++] = performance.now() - start;
    });
  };

  // Each node beats once a second at its own offset in the second.
  const t0 = performance.now();
  let measureStart = t0;
  let masterCpu0 = 0;
  let loadCpu0 = process.cpuUsage();
  let sent = 0;
  const totalBeats = NODES * (WARMUP_S + MEASURE_S);
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(totalBeats, Math.floor(((performance.now() - t0) / 1000) * NODES));
      while (sent < due && inFlight < MAX_IN_FLIGHT) send(sent++ % NODES);
      if (!measuring && sent >= NODES * WARMUP_S) {
        measuring = true;
        measureStart = performance.now();
        masterCpu0 = cpuSeconds(master.proc.pid);
        loadCpu0 = process.cpuUsage();
      }
      if (sent >= totalBeats) resolve();
      else setTimeout(tick, 5);
    };
    tick();
  });
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 10));
  const seconds = (performance.now() - measureStart) / 1000;
  const masterCpuUs = ((cpuSeconds(master.proc.pid) - masterCpu0) * 1e6) / Math.max(1, answered);
  const loadUsage = process.cpuUsage(loadCpu0);
  const loadCpuUs = (loadUsage.user + loadUsage.system) / Math.max(1, answered);

  // A config change: timed from its submission until its node's heartbeat reply names the new
  // version, and counted in heartbeats sent after the command succeeded (1: the very next one).
  const admin = new AdminClient(master.address);
  const changeStart = performance.now();
  const done = await admin.exec('config', 'sim0', 'text("/tmp/x")', 'console');
  if (done.state !== 2) throw new Error(`the config command did not succeed: ${done.message}`);
  let configSeenMs = -1;
  let configSeenBeats = 0;
  while (configSeenMs < 0 && configSeenBeats < 100) {
    configSeenBeats++;
    const reply = await new Promise<Buffer>((resolve, reject) => clients[0].call(HEARTBEAT, requests[0], (err, res) => (err ? reject(err) : resolve(res!))));
    const decoded = decodeMessage<{ versions: Array<{ version: number }> }>('HeartbeatReply', reply);
    if (decoded.versions[0]?.version > 0) configSeenMs = performance.now() - changeStart;
    else await new Promise((r) => setTimeout(r, 20));
  }
  admin.close();

  const masterRss = peakRssMbOf(master.proc.pid);
  for (const c of clients) c.close();
  await master.proc.stop();
  await zk?.stop();
  dir.remove();
  const sorted = Array.from(latencies.subarray(0, answered).sort());
  console.log([
    `bench ${name}`,
    `events/s=${Math.round(answered / seconds)}`,
    'MB/s=0',
    `rss_mb=${masterRss}`,
    `p50_ms=${percentile(sorted, 50).toFixed(2)}`,
    `p99_ms=${percentile(sorted, 99).toFixed(2)}`,
    `nodes=${NODES}`,
    `connections=${CHANNELS}`,
    `failed=${failed}`,
    `load_rss_mb=${peakRssMb()}`,
    `config_seen_ms=${Math.round(configSeenMs)}`,
    `config_seen_beats=${configSeenBeats}`,
    `master_cpu_us_per_hb=${Math.round(masterCpuUs)}`,
    `load_cpu_us_per_hb=${Math.round(loadCpuUs)}`,
  ].join(' '));
}

if (require.main === module) void run(process.argv[2]);
