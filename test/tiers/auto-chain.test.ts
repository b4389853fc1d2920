/**
 * Automatic chains end to end, all real processes: one flume-master, two collectors
 * (`autoCollectorSource(0) | collectorSink(...)`, so each registers the port it really bound),
 * three agents (`tail(...) | autoE2EChain`). Every agent gets a chain of both collectors from
 * the master, first choices spread over both, and events arrive. Then one collector is killed
 * with SIGKILL: the master drops it from the chains, the agents whose first choice it was move
 * to the other, and what they send next still arrives; every line is in storage exactly once.
 *
 * Two more: an agent started before any collector holds its batches (DFO, empty chain) until
 * one registers; and in standalone mode an auto chain refuses to open.
 *
 * The kill happens while the agents are idle and drained (every batch end-to-end acked), and
 * each collector writes storage of its own; kill9.test.ts kills mid-stream with both writing one
 * storage.
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { rank } from '../../master/chains';
import { serviceDefinition } from '../../proto';
import { nodeMetric, spawnFlume, tempDir, waitFor, type Proc } from '../harness/procs';
import { storageLines } from '../harness/storage';
import { AdminClient, startMasterProc, testCredentials, type MasterProc } from '../master/helpers';
import { startZooKeeper, type ZooKeeper } from '../harness/zk';

const dir = tempDir('flume-auto-chain-');
const procs: Proc[] = [];
let master: MasterProc | undefined;
const extraMasters: MasterProc[] = [];
let admin: AdminClient | undefined;
let masterStub: (grpc.Client & Record<string, Unary>) | undefined;
let zk: ZooKeeper | undefined;

after(async () => {
  for (const p of procs.reverse()) await p.stop().catch(() => undefined);
  masterStub?.close();
  admin?.close();
  await master?.proc.stop().catch(() => undefined);
  for (const m of extraMasters) await m.proc.stop().catch(() => undefined);
  await zk?.stop();
  dir.remove();
});

type Unary = (req: object, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;
const MasterCtor = grpc.makeGenericClientConstructor(serviceDefinition('Master'), 'Master') as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
) => grpc.Client & Record<string, Unary>;

function getChain(logical: string, stub = masterStub!): Promise<{ collectors: string[]; version: number }> {
  return new Promise((resolve, reject) => {
    stub.GetChain.call(stub, { logical, flow: '' }, { deadline: Date.now() + 5_000 }, (err, res) =>
      err ? reject(err) : resolve(res as { collectors: string[]; version: number }),
    );
  });
}

const file = (...parts: string[]): string => path.join(dir.path, ...parts);

async function execOk(command: string, ...args: string[]): Promise<void> {
  const status = await admin!.exec(command, ...args);
  assert.equal(status.state, 2, `${command} ${args.join(' ')} failed: ${status.message}`);
}

function startNode(name: string, role: string, masterAddress = master!.address): Proc {
  const proc = spawnFlume(
    'node',
    ['--master', masterAddress, '-n', name, '--role', role, '--data', file('data', name), '--http-port', '0'],
    { env: { FLUME_LOG_LEVEL: 'info' } },
  );
  procs.push(proc);
  return proc;
}

const escape = (text: string): string => text.replace(/[.[\]]/g, '\\$&');

function appendLines(agent: string, from: number, to: number): void {
  const lines: string[] = [];
  for (let i = from; i <= to; i++) lines.push(`${agent} ${String(i).padStart(6, '0')}`);
  fs.appendFileSync(file(`${agent}.log`), lines.join('\n') + '\n');
}

test('auto chains: agents spread over the live collectors and move when one is killed -9', { timeout: 150_000 }, async () => {
  master = await startMasterProc(['--data', file('master'), '--heartbeat-ms', '200', '--lost-after', '5']);
  admin = new AdminClient(master.address);
  masterStub = new MasterCtor(master.address, testCredentials('read-only', 'tests'));

  const collectors = ['coll1', 'coll2'];
  const collectorProcs = new Map<string, Proc>();
  for (const c of collectors) {
    collectorProcs.set(c, startNode(c, 'collector'));
    await execOk('config', c, 'autoCollectorSource(0)', `collectorSink("${file('out', c)}/", "data-", 1000)`);
  }
  // Each collector's registered address (the port it bound) as the master sees it.
  const addressOf = new Map<string, string>();
  await waitFor(
    async () => {
      for (const n of await admin!.nodes()) {
        for (const l of n.logical) if (collectors.includes(l.name) && l.listen && l.state === 3) addressOf.set(l.name, l.listen);
      }
      return addressOf.size === 2;
    },
    60_000,
    'both collectors to register their address',
  );
  for (const [c, a] of addressOf) {
    const port = Number(a.split(':').pop());
    assert.ok(port > 0, `${c} registered a real port: ${a}`);
    assert.match(collectorProcs.get(c)!.output(), new RegExp(`collector source listening.*${port}`));
  }
  const both = [...addressOf.values()];

  // Three agent names whose first choices cover both collectors (names are free; the hash is not).
  const agents: string[] = [];
  const firsts = new Set<string>();
  for (let i = 0; agents.length < 3; i++) {
    const name = `agent${i}`;
    const first = rank(name, both)[0];
    if (agents.length < 2 && firsts.has(first)) continue;
    agents.push(name);
    firsts.add(first);
  }
  const agentProcs = new Map<string, Proc>();
  for (const a of agents) {
    fs.writeFileSync(file(`${a}.log`), '');
    agentProcs.set(a, startNode(a, 'agent'));
    await execOk('config', a, `tail("${file(`${a}.log`)}")`, 'autoE2EChain');
  }

  const chains = new Map<string, string[]>();
  for (const a of agents) {
    const chain = await waitFor(
      async () => {
        const c = await getChain(a);
        return c.collectors.length === 2 ? c : undefined;
      },
      30_000,
      `${a}'s chain to name both collectors`,
    );
    assert.deepEqual([...chain.collectors].sort(), [...both].sort(), `${a}'s chain is both collectors`);
    chains.set(a, chain.collectors);
  }
  assert.equal(new Set(agents.map((a) => chains.get(a)![0])).size, 2, 'first choices spread over both collectors');

  try {
    // Phase 1: each agent streams to its first choice; everything arrives.
    for (const a of agents) {
      await agentProcs.get(a)!.waitForLine(new RegExp(`Streaming to collector.*${escape(chains.get(a)![0])}`), 30_000);
    }
    const perPhase = 300;
    for (const a of agents) appendLines(a, 1, perPhase);
    const all = (): string[] => [...storageLines(file('out', 'coll1')), ...storageLines(file('out', 'coll2'))];
    await waitFor(() => all().length >= agents.length * perPhase, 60_000, 'phase 1 lines at the collectors');
    // Every batch end-to-end acked before the kill (see the module comment).
    for (const a of agents) {
      await waitFor(
        async () => (await nodeMetric(agentProcs.get(a)!, 'flume_channel_fill_batches', `node="${a}"`)) === 0,
        30_000,
        `${a}'s WAL to drain`,
      );
    }

    // Kill the collector that is the first choice of the first agent.
    const victimAddress = chains.get(agents[0])![0];
    const victim = [...addressOf].find(([, addr]) => addr === victimAddress)![0];
    const survivor = collectors.find((c) => c !== victim)!;
    const marks = new Map(agents.map((a) => [a, agentProcs.get(a)!.output().length]));
    await collectorProcs.get(victim)!.kill9();
    const moved = agents.filter((a) => chains.get(a)![0] === victimAddress);
    assert.ok(moved.length >= 1);

    for (const a of agents) {
      await waitFor(
        async () => {
          const c = await getChain(a);
          return c.collectors.length === 1 && c.collectors[0] === addressOf.get(survivor);
        },
        30_000,
        `${a}'s chain to drop the killed collector`,
      );
    }
    // Phase 2: everyone sends more; it all reaches the survivor.
    for (const a of agents) appendLines(a, perPhase + 1, 2 * perPhase);
    await waitFor(() => all().length >= agents.length * 2 * perPhase, 90_000, 'phase 2 lines at the surviving collector');
    for (const a of moved) {
      const atSurvivor = storageLines(file('out', survivor)).filter((l) => l.startsWith(`${a} `)).length;
      assert.ok(atSurvivor >= perPhase, `${a} moved to ${survivor}: ${atSurvivor} of its lines there`);
      const since = agentProcs.get(a)!.output().slice(marks.get(a));
      assert.match(since, new RegExp(`Streaming to collector.*${escape(addressOf.get(survivor)!)}`), `${a} streams to ${survivor} now`);
      await agentProcs.get(a)!.waitForLine(/Collector chain changed/, 30_000, marks.get(a)); // its own poll may trail the delivery
    }

    // Every line exactly once.
    const lines = all();
    const counts = new Map<string, number>();
    for (const l of lines) counts.set(l, (counts.get(l) ?? 0) + 1);
    const dups = [...counts].filter(([, n]) => n > 1).map(([l]) => l);
    assert.deepEqual(dups, [], 'no line stored twice');
    for (const a of agents) {
      for (let i = 1; i <= 2 * perPhase; i++) {
        const l = `${a} ${String(i).padStart(6, '0')}`;
        assert.equal(counts.get(l), 1, `line "${l}" stored once`);
      }
    }
    assert.equal(lines.length, agents.length * 2 * perPhase);
  } catch (err) {
    const tails = [...agentProcs, ...collectorProcs].map(([n, p]) => `--- ${n}\n${p.tail(15)}`).join('\n');
    throw new Error(`${(err as Error).message}\n${tails}`);
  }
});

test(
  'an agent started before any collector holds its batches (DFO) and delivers them once one registers',
  { timeout: 90_000 },
  async () => {
    const m = await startMasterProc(['--data', file('master-late'), '--heartbeat-ms', '200', '--lost-after', '5']);
    extraMasters.push(m);
    const adm = new AdminClient(m.address);
    try {
      const exec = async (...args: string[]): Promise<void> =>
        assert.equal((await adm.exec(args[0], ...args.slice(1))).state, 2, args.join(' '));
      fs.writeFileSync(file('late.log'), '');
      const agent = startNode('late', 'agent', m.address);
      await exec('config', 'late', `tail("${file('late.log')}")`, 'autoDFOChain');
      await agent.waitForLine(/No live collector for this agent yet/, 30_000);
      await agent.waitForLine(/\[node\.late\] logical node opened/, 30_000);
      appendLines('late', 1, 200);
      const collector = startNode('latecoll', 'collector', m.address);
      await exec('config', 'latecoll', 'autoCollectorSource(0)', `collectorSink("${file('out', 'latecoll')}/", "data-", 1000)`);
      await waitFor(() => storageLines(file('out', 'latecoll')).length >= 200, 60_000, 'the held lines at the late collector');
      const expected = Array.from({ length: 200 }, (_, i) => `late ${String(i + 1).padStart(6, '0')}`);
      assert.deepEqual(storageLines(file('out', 'latecoll')), expected, 'every held line once, in order');
      assert.match(collector.output(), /collector source listening/);
    } finally {
      adm.close();
    }
  },
);

test('standalone: an auto chain refuses to open, saying it needs a master', { timeout: 30_000 }, async () => {
  const proc = spawnFlume('node', ['--standalone', '--data', file('data', 'standalone'), '-c', 'a : asciisynth(10) | autoE2EChain ;']);
  procs.push(proc);
  await proc.waitForLine(/autoE2EChain needs a master to assign its collectors/, 20_000);
});

test('two masters on ZooKeeper answer the same chain, each collector heartbeating to only one of them', { timeout: 90_000 }, async () => {
  zk = await startZooKeeper();
  const connect = await zk.chroot();
  const ms: MasterProc[] = [];
  for (const id of ['A', 'B']) {
    const m = await startMasterProc([
      '--zk',
      connect,
      '--id',
      id,
      '--heartbeat-ms',
      '200',
      '--lost-after',
      '5',
      '--session-timeout-ms',
      '4000',
    ]);
    extraMasters.push(m);
    ms.push(m);
  }
  const adm = new AdminClient(ms[0].address);
  const stubs = ms.map((m) => new MasterCtor(m.address, testCredentials('read-only', 'tests')));
  try {
    const colls = [startNode('zkcoll1', 'collector', ms[0].address), startNode('zkcoll2', 'collector', ms[1].address)];
    for (const c of ['zkcoll1', 'zkcoll2']) {
      assert.equal((await adm.exec('config', c, 'autoCollectorSource(0)', `collectorSink("${file('out', c)}/", "data-", 1000)`)).state, 2);
    }
    await assert.rejects(getChain('', stubs[0]), /logical/, 'an agent name is required');
    for (const agent of ['web1', 'web2', 'web3']) {
      const answers = await waitFor(
        async () => {
          const a = await Promise.all(stubs.map((st) => getChain(agent, st)));
          return a.every((x) => x.collectors.length === 2) ? a : undefined;
        },
        30_000,
        `both masters to offer both collectors to ${agent}`,
      );
      assert.deepEqual(answers[1], answers[0], `masters A and B give ${agent} the same chain and version`);
    }
    const before = await getChain('web1', stubs[1]);
    await colls[0].kill9(); // heard only by master A; B learns it is gone from the shared status
    for (const st of stubs) {
      await waitFor(async () => (await getChain('web1', st)).collectors.length === 1, 30_000, 'the killed collector to leave the chain');
    }
    const [a, b] = await Promise.all(stubs.map((st) => getChain('web1', st)));
    assert.deepEqual(b, a);
    assert.notEqual(a.version, before.version, 'a new version with the new list');
  } finally {
    for (const st of stubs) st.close();
    adm.close();
  }
});
