/**
 * The whole system under kill -9, all real processes: masters, two collectors
 * (`autoCollectorSource(0) | collectorSink(...)`, both writing one storage directory) and three
 * agents (`tail(...) | autoE2EChain`), each agent's file growing with numbered lines the whole
 * time. Mid-stream a collector is killed -9 and restarted, an agent is killed -9 and restarted,
 * and a master is killed -9 and restarted. At the end storage holds every line of every agent
 * exactly once, each agent's lines in order within every file, and no file is left unfinished.
 *
 * Run once with one master (embedded store) and once with three masters on ZooKeeper, where the
 * master killed is the leader and the nodes fail over to the others.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { spawnFlume, tempDir, waitFor, type Proc } from '../harness/procs';
import { storageFiles } from '../harness/storage';
import { startZooKeeper, type ZooKeeper } from '../harness/zk';
import { AdminClient, startMasterProc, type MasterProc } from '../master/helpers';

const AGENTS = ['agentA', 'agentB', 'agentC'];
const COLLECTORS = ['coll1', 'coll2'];
/** Lines each agent's file grows by per tick. */
const LINES_PER_TICK = 40;
const TICK_MS = 25;

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const line = (agent: string, n: number): string => `${agent} ${String(n).padStart(7, '0')}`;

/** Appends numbered lines to each agent's file every tick until stopped. */
class Writers {
  readonly written = new Map<string, number>(AGENTS.map((a) => [a, 0]));
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly fileOf: (agent: string) => string) {
    for (const a of AGENTS) fs.writeFileSync(fileOf(a), '');
  }

  start(): void {
    this.timer = setInterval(() => {
      for (const a of AGENTS) {
        const from = this.written.get(a)! + 1;
        const lines: string[] = [];
        for (let n = from; n < from + LINES_PER_TICK; n++) lines.push(line(a, n));
        fs.appendFileSync(this.fileOf(a), lines.join('\n') + '\n');
        this.written.set(a, from + LINES_PER_TICK - 1);
      }
    }, TICK_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get total(): number {
    let n = 0;
    for (const v of this.written.values()) n += v;
    return n;
  }
}

interface Stored {
  count: number;
  byAgent: Map<string, number[]>;
  orderErrors: string[];
}

/** Lines in storage (every data file, finished or not) and the per-file order of each agent. */
function readStorage(root: string): Stored {
  for (;;) {
    try {
      return readOnce(root);
    } catch (err) {
      // A .tmp file renamed between the listing and the read: read again.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

function readOnce(root: string): Stored {
  const byAgent = new Map<string, number[]>(AGENTS.map((a) => [a, []]));
  const orderErrors: string[] = [];
  let count = 0;
  for (const file of storageFiles(root)) {
    const last = new Map<string, number>();
    for (const text of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!text) continue;
      count++;
      const [agent, num] = text.split(' ');
      const n = Number(num);
      byAgent.get(agent)?.push(n);
      if ((last.get(agent) ?? 0) >= n && orderErrors.length < 5)
        orderErrors.push(`${path.basename(file)}: ${agent} ${n} after ${last.get(agent)}`);
      last.set(agent, n);
    }
  }
  return { count, byAgent, orderErrors };
}

async function run(masterCount: 1 | 3): Promise<void> {
  const dir = tempDir(`flume-kill9-${masterCount}-`);
  const procs: Proc[] = [];
  let zk: ZooKeeper | undefined;
  let admins: AdminClient[] = [];
  cleanups.push(async () => {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    for (const a of admins) a.close();
    await zk?.stop();
    dir.remove();
  });
  const file = (...parts: string[]): string => path.join(dir.path, ...parts);
  const storage = file('storage');

  // Masters.
  const masterArgs = (i: number): string[] =>
    masterCount === 1
      ? ['--data', file('master'), '--heartbeat-ms', '200', '--lost-after', '5']
      : ['--zk', zkConnect!, '--id', `M${i}`, '--heartbeat-ms', '200', '--lost-after', '5', '--session-timeout-ms', '4000'];
  let zkConnect: string | undefined;
  if (masterCount === 3) {
    zk = await startZooKeeper();
    zkConnect = await zk.chroot();
  }
  const masters: MasterProc[] = [];
  for (let i = 0; i < masterCount; i++) {
    const m = await startMasterProc(masterArgs(i));
    procs.push(m.proc);
    masters.push(m);
  }
  // A restarted master takes its old port again: these addresses and clients stay valid.
  const masterList = masters.map((m) => m.address).join(',');
  admins = masters.map((m) => new AdminClient(m.address));
  /** An admin client of a master that is running. */
  const admin = (): AdminClient => admins[masters.findIndex((m) => m.proc.running)];
  const leaders = async (): Promise<boolean[]> =>
    Promise.all(
      admins.map((a) =>
        a.info().then(
          (i) => i.leader,
          () => false,
        ),
      ),
    );
  const execOk = async (command: string, ...args: string[]): Promise<void> => {
    const status = await admin().exec(command, ...args);
    assert.equal(status.state, 2, `${command} ${args.join(' ')} failed: ${status.message}`);
  };

  const nodes = new Map<string, Proc>();
  const startNode = (name: string, role: string): Proc => {
    const proc = spawnFlume(
      'node',
      ['--master', masterList, '-n', name, '--role', role, '--data', file('data', name), '--http-port', '0'],
      { env: { FLUME_LOG_LEVEL: 'info' }, label: name },
    );
    procs.push(proc);
    nodes.set(name, proc);
    return proc;
  };
  const registered = async (): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    for (const n of await admin().nodes()) {
      for (const l of n.logical) if (COLLECTORS.includes(l.name) && l.listen && l.state === 3) out.set(l.name, l.listen);
    }
    return out;
  };

  const writers = new Writers((a) => file(`${a}.log`));
  try {
    for (const c of COLLECTORS) {
      startNode(c, 'collector');
      // Both collectors write the same storage, as they would a shared file system.
      await execOk('config', c, 'autoCollectorSource(0)', `collectorSink("${storage}/", "data-", 1000)`);
    }
    await waitFor(async () => (await registered()).size === 2, 60_000, 'both collectors to register');
    for (const a of AGENTS) {
      startNode(a, 'agent');
      await execOk('config', a, `tail("${file(`${a}.log`)}")`, 'autoE2EChain');
    }
    for (const a of AGENTS) await nodes.get(a)!.waitForLine(/Streaming to collector/, 60_000);

    writers.start();
    const stored = (): number => readStorage(storage).count;
    /** Waits until each of `agents` has `by` more lines in storage. */
    const grows = async (by: number, what: string, agents = AGENTS): Promise<void> => {
      const before = readStorage(storage).byAgent;
      await waitFor(
        () => {
          const now = readStorage(storage).byAgent;
          return agents.every((a) => now.get(a)!.length >= before.get(a)!.length + by);
        },
        90_000,
        what,
      );
    };
    await grows(2_000, 'lines to reach storage');

    // The collector agentA streams to, killed -9 mid-stream: its agents fail over to the other
    // one. Restarted later.
    const addresses = await registered();
    const streamingTo = (agent: string): string =>
      [
        ...nodes
          .get(agent)!
          .output()
          .matchAll(/Streaming to collector\. collector=(\S+)/g),
      ].pop()![1];
    const victim = [...addresses].find(([, address]) => address === streamingTo('agentA'))![0];
    const survivor = COLLECTORS.find((c) => c !== victim)!;
    const moving = AGENTS.filter((a) => streamingTo(a) === addresses.get(victim));
    await nodes.get(victim)!.kill9();
    await grows(2_000, `lines to reach storage through ${survivor} alone`);
    for (const a of moving) assert.equal(streamingTo(a), addresses.get(survivor), `${a} moved to ${survivor}`);
    startNode(victim, 'collector');
    await waitFor(async () => (await registered()).size === 2, 60_000, `${victim} to register again`);
    await grows(2_000, `lines after ${victim} came back`);

    // An agent killed -9 mid-stream, its file still growing; restarted later.
    await nodes.get('agentA')!.kill9();
    await grows(2_000, 'the other agents to go on', ['agentB', 'agentC']);
    startNode('agentA', 'agent');
    await grows(2_000, 'agentA to deliver again', ['agentA']);

    // A master killed -9 (with ZooKeeper: the leader); data keeps flowing; restarted later.
    let deadMaster = 0;
    if (masterCount === 3) {
      deadMaster = (await leaders()).indexOf(true);
      assert.ok(deadMaster >= 0, 'one master leads');
    }
    await masters[deadMaster].proc.kill9();
    await grows(2_000, 'lines to reach storage with a master gone');
    const restarted = await startMasterProc([...masterArgs(deadMaster), '--port', String(masters[deadMaster].grpcPort)]);
    procs.push(restarted.proc);
    masters[deadMaster] = restarted;
    await grows(2_000, 'lines after the master came back');
    if (masterCount === 3) {
      await waitFor(async () => (await leaders()).filter(Boolean).length === 1, 30_000, 'exactly one leader');
    }

    writers.stop();
    const total = writers.total;
    await waitFor(() => stored() >= total, 120_000, `all ${total} lines in storage`);
    // Stop everything in order; collectors finish their files.
    for (const a of AGENTS) assert.equal((await nodes.get(a)!.stop(30_000)).code, 0, `${a} exits 0`);
    for (const c of COLLECTORS) assert.equal((await nodes.get(c)!.stop(30_000)).code, 0, `${c} exits 0`);

    const { count, byAgent, orderErrors } = readStorage(storage);
    for (const a of AGENTS) {
      const seen = byAgent.get(a)!;
      const want = writers.written.get(a)!;
      const counts = new Map<number, number>();
      for (const n of seen) counts.set(n, (counts.get(n) ?? 0) + 1);
      const dups = [...counts].filter(([, k]) => k > 1).map(([n]) => n);
      const missing: number[] = [];
      for (let n = 1; n <= want && missing.length < 10; n++) if (!counts.has(n)) missing.push(n);
      const where =
        dups.length === 0
          ? ''
          : storageFiles(storage)
              .filter((f) => fs.readFileSync(f, 'utf8').includes(`${line(a, dups[0])}\n`))
              .map((f) => path.basename(f))
              .join(', ');
      assert.deepEqual(dups.slice(0, 10), [], `${a}: no line stored twice (${dups.length} were; the first in ${where})`);
      assert.deepEqual(missing, [], `${a}: no line lost`);
      assert.equal(seen.length, want, `${a}: exactly its ${want} lines`);
    }
    assert.deepEqual(orderErrors, [], "each agent's lines in order within every file");
    assert.equal(count, total);
    const unfinished = storageFiles(storage).filter((f) => f.endsWith('.tmp'));
    assert.deepEqual(unfinished, [], 'every file finished');
  } catch (err) {
    writers.stop();
    const tails = [...nodes].map(([n, p]) => `--- ${n}\n${p.tail(12)}`).join('\n');
    throw new Error(`${(err as Error).message}\n${tails}`);
  }
}

test('kill -9 of a collector, an agent and the master: every line stored exactly once, in order per agent', { timeout: 280_000 }, () =>
  run(1),
);

test('the same with three masters on ZooKeeper, the leader killed', { timeout: 280_000 }, () => run(3));
