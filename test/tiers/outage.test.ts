/**
 * Collectors gone for a while, all real processes (standalone nodes):
 * - DFO: both collectors of a chain killed -9 for 30 s while two agents keep tailing growing
 *   files; the backlog waits in the agents' WALs on disk, and once the collectors are back every
 *   line is delivered, exactly once, each agent's lines in order within every file.
 * - BE: an agent whose collector is not there drops what it cannot deliver, counts it in
 *   /metrics and says so in its log; every line it accepted is either stored or counted as
 *   dropped.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { freePort, waitFor, type Proc } from '../harness/procs';
import { metric, Scene } from '../harness/scene';
import { storageFiles, storageLines } from '../harness/storage';

const scene = new Scene('flume-outage-');
const file = (...parts: string[]): string => scene.file(...parts);
const standalone = (name: string, spec: string): Proc => scene.standalone(name, spec);

function du(root: string): number {
  let bytes = 0;
  for (const e of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) bytes += fs.statSync(path.join(e.parentPath, e.name), { throwIfNoEntry: false })?.size ?? 0;
  }
  return bytes;
}

const numbered = (agent: string, n: number): string => `${agent} ${String(n).padStart(7, '0')}`;

test(
  "DFO: collectors down for 30 s, the backlog waits on the agents' disks and all of it is delivered after",
  { timeout: 200_000 },
  async () => {
    const ports = [await freePort(), await freePort()];
    const storage = file('dfo-storage');
    const collector = (i: number): Proc =>
      standalone(`dfocoll${i}`, `collectorSource(${ports[i]}) | collectorSink("${storage}/", "data-", 1000)`);
    let collectors = [collector(0), collector(1)];
    for (const c of collectors) await c.waitForLine(/collector source listening/);
    const agents = ['dfoA', 'dfoB'];
    const chain = ports.map((p) => `"127.0.0.1:${p}"`).join(', ');
    const agentProcs = new Map(
      agents.map((a) => {
        fs.writeFileSync(file(`${a}.log`), '');
        return [a, standalone(a, `tail("${file(`${a}.log`)}") | agentDFOChain(${chain})`)];
      }),
    );
    const written = new Map(agents.map((a) => [a, 0]));
    const grow = (): void => {
      for (const a of agents) {
        const from = written.get(a)! + 1;
        const lines: string[] = [];
        for (let n = from; n < from + 20; n++) lines.push(numbered(a, n));
        fs.appendFileSync(file(`${a}.log`), lines.join('\n') + '\n');
        written.set(a, from + 19);
      }
    };
    const timer = setInterval(grow, 50);
    try {
      for (const a of agents) await agentProcs.get(a)!.waitForLine(/Streaming to collector/, 30_000);
      await waitFor(() => storageLines(storage).length >= 1_000, 60_000, 'lines to flow before the outage');

      for (const c of collectors) await c.kill9();
      const outageStart = Date.now();
      const wal = (a: string): number => du(file('data', a));
      const walBefore = new Map(agents.map((a) => [a, wal(a)]));
      const acceptedBefore = new Map(
        await Promise.all(
          agents.map(async (a) => [a, await metric(agentProcs.get(a)!, 'flume_events_accepted_total', 'component="channel"')] as const),
        ),
      );
      // The agents go on accepting lines; the backlog builds up in their WALs.
      await waitFor(() => Date.now() - outageStart >= 30_000, 40_000, '30 s of outage', 500);
      for (const a of agents) {
        const p = agentProcs.get(a)!;
        const accepted = await metric(p, 'flume_events_accepted_total', 'component="channel"');
        assert.ok(
          accepted >= acceptedBefore.get(a)! + 5_000,
          `${a} kept accepting during the outage: ${acceptedBefore.get(a)} -> ${accepted}`,
        );
        assert.ok((await metric(p, 'flume_channel_fill_batches')) > 0, `${a} holds a backlog`);
        assert.ok(wal(a) >= walBefore.get(a)! + 5_000 * 20, `${a}'s backlog is on disk: ${walBefore.get(a)} -> ${wal(a)} bytes`);
      }
      const storedDuringOutage = storageLines(storage).length;

      collectors = [collector(0), collector(1)];
      clearInterval(timer);
      const total = [...written.values()].reduce((x, y) => x + y, 0);
      await waitFor(() => storageLines(storage).length >= total, 90_000, `all ${total} lines delivered after the outage`);
      assert.ok(total - storedDuringOutage >= 10_000, `the backlog was delivered after the outage (${total - storedDuringOutage} lines)`);
      for (const p of [...agentProcs.values(), ...collectors]) assert.equal((await p.stop(30_000)).code, 0);

      const lines = storageLines(storage);
      const unique = new Set(lines);
      assert.equal(unique.size, lines.length, 'no line stored twice');
      for (const a of agents) {
        for (let n = 1; n <= written.get(a)!; n++) if (!unique.has(numbered(a, n))) assert.fail(`${numbered(a, n)} lost`);
      }
      for (const f of storageFiles(storage)) {
        const last = new Map<string, string>();
        for (const l of fs.readFileSync(f, 'utf8').split('\n').filter(Boolean)) {
          const agent = l.split(' ')[0];
          assert.ok((last.get(agent) ?? '') < l, `${path.basename(f)}: ${l} after ${last.get(agent)}`);
          last.set(agent, l);
        }
      }
      assert.equal(lines.length, total);
    } finally {
      clearInterval(timer);
    }
  },
);

test(
  'BE: what no collector takes is dropped, counted in /metrics and logged; every accepted line is stored or counted',
  { timeout: 120_000 },
  async () => {
    const port = await freePort();
    const storage = file('be-storage');
    fs.writeFileSync(file('be.log'), '');
    const agent = standalone('beA', `tail("${file('be.log')}") | agentBESink("127.0.0.1:${port}")`);
    const lines = (from: number, to: number): string =>
      Array.from({ length: to - from + 1 }, (_, i) => numbered('beA', from + i)).join('\n') + '\n';
    fs.appendFileSync(file('be.log'), lines(1, 2_000));
    await agent.waitForLine(/Best effort: dropped events no collector took\. batches=\d+ events=\d+/, 30_000);
    await waitFor(async () => (await metric(agent, 'flume_events_dropped_total')) === 2_000, 30_000, 'all 2,000 lines counted as dropped');

    const coll = standalone('becoll', `collectorSource(${port}) | collectorSink("${storage}/", "data-", 1000)`);
    await coll.waitForLine(/collector source listening/);
    await agent.waitForLine(/Streaming to collector/, 30_000);
    fs.appendFileSync(file('be.log'), lines(2_001, 5_000));
    await waitFor(
      async () => (await metric(agent, 'flume_events_accepted_total', 'component="channel"')) === 5_000,
      30_000,
      'the agent to accept all 5,000 lines',
    );
    const settled = async (): Promise<boolean> =>
      storageLines(storage).length + (await metric(agent, 'flume_events_dropped_total')) === 5_000;
    await waitFor(settled, 30_000, 'every accepted line stored or counted as dropped');
    const stored = storageLines(storage);
    assert.ok(stored.length >= 1, 'lines sent while the collector was there arrived');
    assert.equal(new Set(stored).size, stored.length);
    assert.ok(
      stored.every((l) => Number(l.split(' ')[1]) > 2_000),
      'nothing sent while no collector listened was stored',
    );
    for (const p of [agent, coll]) assert.equal((await p.stop(30_000)).code, 0);
  },
);
