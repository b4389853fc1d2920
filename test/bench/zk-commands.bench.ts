/**
 * `zk-commands`: what one config command costs when the masters share a fleet-sized state. A
 * three-server ZooKeeper ensemble, three masters (each on its own server, through a relay that
 * counts the bytes), BENCH_ZK_CONFIGS configs (default 10,000, set up by multiconfig commands of
 * 1,000 nodes each) and a history of BENCH_ZK_HISTORY finished commands (default 1,000, written
 * before the masters start); then BENCH_ZK_COMMANDS config commands (default 60), one after the
 * other, each submitted to the leader and waited for.
 *
 *   bench zk-commands events/s=<commands/s> MB/s=<leader's bytes to ZooKeeper /s> rss_mb=<leader peak>
 *     p50_ms p99_ms (submit to finished: the record's finishedAt - submittedAt)
 *     zk_writes_per_cmd   ZooKeeper transactions per command (zxids the ensemble issued, less the
 *                         rate of a quiet IDLE_S before: the masters' status beats)
 *     leader_up_bytes_per_cmd, follower_down_bytes_per_cmd   bytes through the relays per command
 *     leader_cpu_ms_per_cmd, follower_cpu_ms_per_cmd          CPU of the master processes per command,
 *                                 less their rate in the quiet IDLE_S before (probes running too)
 *     leader_block_p99_ms/max_ms, follower_block_p99_ms/max_ms   latency of GetMasterInfo (answered
 *                                 from memory) asked every PROBE_MS during the commands: how long
 *                                 each master's event loop was held (idle_block_p99_ms: the same,
 *                                 every master, in the quiet IDLE_S before)
 * A follower's figures are the mean of the two. The leader is also polled for the command's status
 * every POLL_MS (its CPU includes that). The masters inherit this process's environment (NODE_OPTIONS
 * with a --require that profiles, for instance).
 */
import type { WireCommandStatus } from '../../proto/messages';
import { ZkClient } from '../../master/store/zk';
import { COMMANDS as COMMAND_LOG, commandPath } from '../../master/store/zk-commands';
import { tcpRelay, type TcpRelay } from '../harness/tcp-relay';
import { startEnsemble } from '../harness/zk';
import { waitFor } from '../harness/procs';
import { AdminClient, startMasterProc, type MasterProc } from '../master/helpers';
import { cpuSeconds, peakRssMbOf, percentile, report, wanted, zxid } from './util';

const CONFIGS = Number(process.env.BENCH_ZK_CONFIGS ?? 10_000);
/** Finished commands already in the history when the masters start, as in a cluster that has run a while. */
const HISTORY = Number(process.env.BENCH_ZK_HISTORY ?? 1_000);
const COMMANDS = Number(process.env.BENCH_ZK_COMMANDS ?? 60);
const PER_MULTICONFIG = 1_000;
const PROBE_MS = 10;
const POLL_MS = 10;
const IDLE_S = 5;
export async function run(filter?: string): Promise<void> {
  if (wanted(filter, 'zk-commands')) await zkCommands();
}

/** Asks `admin` GetMasterInfo every PROBE_MS until stopped; the answer times in ms. */
function probe(admin: AdminClient): { stop(): Promise<number[]> } {
  const times: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t0 = performance.now();
      await admin.info();
      times.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, PROBE_MS));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return times.sort((a, b) => a - b);
    },
  };
}

async function waitDone(admin: AdminClient, id: number): Promise<WireCommandStatus> {
  return waitFor(
    async () => {
      const s = await admin.status(id);
      return s.state >= 2 ? s : undefined;
    },
    120_000,
    `command ${id}`,
    POLL_MS,
  );
}

/** HISTORY finished commands in the command log, as masters of this version write them. */
async function writeHistory(connect: string): Promise<void> {
  const zk = new ZkClient({ connect, sessionTimeoutMs: 10_000, connectTimeoutMs: 20_000 });
  await zk.connect();
  try {
    await zk.mkdirp(COMMAND_LOG);
    await zk.setData(COMMAND_LOG, Buffer.from(JSON.stringify({ nextId: HISTORY + 1 })), -1);
    for (let from = 1; from <= HISTORY; from += 200) {
      const ids = Array.from({ length: Math.min(200, HISTORY + 1 - from) }, (_, i) => from + i);
      await Promise.all(
        ids.map((id) => {
          const args = [`old${id}`, 'text("/var/log/old.log")', 'null'];
          const record = { id, command: 'config', args, state: 'SUCCEEDED', message: `configured old${id}`, submittedAt: 1, finishedAt: 2 };
          return zk.create(commandPath(id), Buffer.from(JSON.stringify(record)));
        }),
      );
    }
  } finally {
    zk.close();
  }
}

function specOf(from: number, count: number): string {
  let text = '';
  for (let i = from; i < from + count; i++)
    text += `n${String(i).padStart(6, '0')} : text("/var/log/app-${i}.log") | agentSink("collector-${i % 16}", 35853) ;\n`;
  return text;
}

async function zkCommands(): Promise<void> {
  const zk = await startEnsemble(3);
  const relays: TcpRelay[] = [];
  const masters: MasterProc[] = [];
  const admins: AdminClient[] = [];
  try {
    const connect = await zk.chroot();
    await writeHistory(connect);
    const chroot = connect.replace(/^[^/]*/, '');
    for (const [i, id] of ['m1', 'm2', 'm3'].entries()) {
      const relay = await tcpRelay(zk.servers[i].clientPort);
      relays.push(relay);
      const m = await startMasterProc(['--zk', `127.0.0.1:${relay.port}${chroot}`, '--id', id]);
      masters.push(m);
      admins.push(new AdminClient(m.address));
    }
    const leader = await waitFor(
      async () => {
        const infos = await Promise.all(admins.map((a) => a.info()));
        const i = infos.findIndex((info) => info.leader);
        return i >= 0 ? i + 1 : undefined;
      },
      60_000,
      'a leader',
    ).then((n) => n - 1);
    const followers = [0, 1, 2].filter((i) => i !== leader);
    const admin = admins[leader];

    const setupStart = performance.now();
    for (let from = 0; from < CONFIGS; from += PER_MULTICONFIG) {
      const done = await waitDone(admin, await admin.submit('multiconfig', specOf(from, Math.min(PER_MULTICONFIG, CONFIGS - from))));
      if (done.state !== 2) throw new Error(`multiconfig failed: ${done.message}`);
    }
    const setupS = (performance.now() - setupStart) / 1000;
    for (const a of admins) await waitFor(async () => (await a.configs()).length >= CONFIGS, 60_000, 'every master to have the configs');
    // Warm-up: a few commands, so that what the measured ones cost is not the first time's.
    for (let i = 0; i < 5; i++) await waitDone(admin, await admin.submit('config', `n${String(i).padStart(6, '0')}`, 'text("/w")', 'null'));

    // The writes of a quiet ensemble (each master's status beat): subtracted from the commands' count.
    const pids = masters.map((m) => m.proc.child.pid!);
    const idleProbes = admins.map((a) => probe(a));
    const idle0 = await zxid(zk.servers[0].clientPort);
    const idleCpu0 = pids.map(cpuSeconds);
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const idlePerS = ((await zxid(zk.servers[0].clientPort)) - idle0) / IDLE_S;
    const idleCpuPerS = pids.map((pid, i) => (cpuSeconds(pid) - idleCpu0[i]) / IDLE_S);
    const idleBlocks = await Promise.all(idleProbes.map((p) => p.stop()));
    const cpu0 = pids.map(cpuSeconds);
    const up0 = relays.map((r) => r.up());
    const down0 = relays.map((r) => r.down());
    const zx0 = await zxid(zk.servers[0].clientPort);
    const probes = admins.map((a) => probe(a));
    const latencies: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < COMMANDS; i++) {
      const node = `n${String((i * 7919) % CONFIGS).padStart(6, '0')}`;
      const id = await admin.submit('config', node, `text("/var/log/changed-${i}.log")`, 'agentSink("collector-0", 35853)');
      const done = await waitDone(admin, id);
      if (done.state !== 2) throw new Error(`command ${id} did not succeed: ${done.message}`);
      latencies.push(Number(done.finishedAt) - Number(done.submittedAt));
    }
    const seconds = (performance.now() - t0) / 1000;
    const blocks = await Promise.all(probes.map((p) => p.stop()));
    const zkWrites = (await zxid(zk.servers[0].clientPort)) - zx0 - idlePerS * seconds;
    const cpuMs = pids.map((pid, i) => ((cpuSeconds(pid) - cpu0[i] - idleCpuPerS[i] * seconds) * 1000) / COMMANDS);
    const upBytes = relays.map((r, i) => (r.up() - up0[i]) / COMMANDS);
    const downBytes = relays.map((r, i) => (r.down() - down0[i]) / COMMANDS);
    const mean = (f: (i: number) => number): number => (f(followers[0]) + f(followers[1])) / 2;
    latencies.sort((a, b) => a - b);
    const leaderRss = peakRssMbOf(pids[leader]);
    report('zk-commands', {
      events: COMMANDS,
      bytes: upBytes[leader] * COMMANDS,
      seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      extra: {
        configs: CONFIGS,
        setup_s: setupS.toFixed(1),
        leader_rss_mb: leaderRss,
        zk_writes_per_cmd: (zkWrites / COMMANDS).toFixed(2),
        leader_up_bytes_per_cmd: Math.round(upBytes[leader]),
        leader_down_bytes_per_cmd: Math.round(downBytes[leader]),
        follower_up_bytes_per_cmd: Math.round(mean((i) => upBytes[i])),
        follower_down_bytes_per_cmd: Math.round(mean((i) => downBytes[i])),
        leader_cpu_ms_per_cmd: cpuMs[leader].toFixed(1),
        follower_cpu_ms_per_cmd: mean((i) => cpuMs[i]).toFixed(1),
        leader_block_p99_ms: percentile(blocks[leader], 99).toFixed(1),
        leader_block_max_ms: (blocks[leader].at(-1) ?? 0).toFixed(1),
        follower_block_p99_ms: mean((i) => percentile(blocks[i], 99)).toFixed(1),
        follower_block_max_ms: mean((i) => blocks[i].at(-1) ?? 0).toFixed(1),
        idle_block_p99_ms: (idleBlocks.reduce((sum, b) => sum + percentile(b, 99), 0) / idleBlocks.length).toFixed(1),
      },
    });
  } finally {
    for (const a of admins) a.close();
    for (const m of masters) await m.proc.stop();
    for (const r of relays) r.close();
    await zk.stop();
  }
}
