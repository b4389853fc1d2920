/**
 * A node restarted while every master is down runs its last known config (node/last-config.ts),
 * all real processes: a master (embedded store), a collector (`autoCollectorSource(P) |
 * collectorSink`) and an agent (`syslogTcp(P) | autoE2EChain`) fed by `logger`.
 *
 * Lines arrive; the collector stops and more lines wait in the agent's WAL; the master stops and
 * the agent is killed -9. The agent starts again with no master: its syslog port accepts at once and takes
 * more lines. The collector starts again, also with no master: the agent's backlog drains to it.
 * Every line is in storage exactly once. Then the master starts: both nodes reconcile with it
 * without reopening a flow, and what is sent next arrives too.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { freePort, httpGet, type Proc, statusBase, waitFor } from '../harness/procs';
import { numberedLines, portAccepts, Scene, sendSyslog, storedLineNumbers } from '../harness/scene';
import { AdminClient } from '../master/helpers';

const scene = new Scene('flume-last-config-');
const file = (...parts: string[]): string => scene.file(...parts);

const sendLines = (port: number, from: number, to: number): Promise<void> => sendSyslog(port, numberedLines(from, to), 'lastcfg');
const stored = (): number[] => storedLineNumbers(file('out'));

function assertExactlyOnce(upTo: number): void {
  const got = stored();
  const want = Array.from({ length: upTo }, (_, i) => i + 1);
  assert.equal(got.length, want.length, `${got.length} lines stored, ${upTo} sent`);
  assert.deepEqual(got, want, 'every line exactly once');
}

interface NodeStatusJson {
  nodes: Array<{ name: string; state: string; channel: { batches: number } | null; counters: Record<string, Record<string, number>> }>;
}

async function agentStatus(proc: Proc): Promise<NodeStatusJson> {
  return JSON.parse((await httpGet(`${await statusBase(proc)}/status`)).body);
}

test(
  'a node restarted while every master is down resumes its last flow, drains its backlog, then reconciles',
  { timeout: 180_000 },
  async () => {
    const [masterPort, collPort, syslogPort] = [await freePort(), await freePort(), await freePort()];
    const masterAddress = `127.0.0.1:${masterPort}`;
    let master = scene.master(masterPort);
    await master.waitForLine(/Master started\./, 60_000);
    const admin = new AdminClient(masterAddress);
    try {
      let collector = scene.node('coll', 'collector', masterAddress);
      let agent = scene.node('agent1', 'agent', masterAddress);
      for (const [logical, source, sink] of [
        ['coll', `autoCollectorSource(${collPort})`, `collectorSink("${file('out')}/", "data-", 1000)`],
        ['agent1', `syslogTcp(${syslogPort})`, 'autoE2EChain'],
      ]) {
        const st = await admin.exec('config', logical, source, sink);
        assert.equal(st.state, 2, st.message);
      }
      await waitFor(() => portAccepts(syslogPort), 60_000, 'the agent to listen for syslog');
      await sendLines(syslogPort, 1, 100);
      await waitFor(() => stored().length >= 100, 60_000, 'the first 100 lines in storage');
      assertExactlyOnce(100);

      // The collector goes: 100 more lines wait in the agent's WAL.
      await collector.stop();
      await sendLines(syslogPort, 101, 200);
      await waitFor(
        async () => (await agentStatus(agent)).nodes[0]?.counters.channel?.events_accepted === 200,
        30_000,
        'all 200 lines in the agent WAL',
      );
      // Then the master, and the agent with kill -9.
      await master.stop();
      await agent.kill9();
      assert.ok(fs.existsSync(file('data', 'agent1', 'last-config.json')), 'the agent saved its config');

      // The agent again, no master: its flow runs at once.
      agent = scene.node('agent1', 'agent', masterAddress);
      await agent.waitForLine(/Running the last known configuration until a master answers\..*agent1@\d+/, 30_000);
      await waitFor(() => portAccepts(syslogPort), 30_000, 'the restarted agent to listen for syslog without a master');
      await sendLines(syslogPort, 201, 300);
      assert.deepEqual(stored().length, 100, 'nothing more arrived while the collector is down');

      // The collector again, no master either: the agent's backlog drains to it.
      collector = scene.node('coll', 'collector', masterAddress);
      await collector.waitForLine(/Running the last known configuration until a master answers\./, 30_000);
      await waitFor(() => stored().length >= 300, 60_000, 'the backlog to drain to the collector');
      assertExactlyOnce(300);
      assert.doesNotMatch(agent.output(), /A master answered/, 'no master answered meanwhile');

      // The master comes back: both reconcile without reopening a flow.
      const agentFrom = agent.output().length;
      const collFrom = collector.output().length;
      master = scene.master(masterPort);
      await master.waitForLine(/Master started\./, 60_000);
      await agent.waitForLine(
        /A master answered; its configuration replaces the last known one\..*unchanged=\[agent1\]/,
        60_000,
        agentFrom,
      );
      await collector.waitForLine(
        /A master answered; its configuration replaces the last known one\..*unchanged=\[coll\]/,
        60_000,
        collFrom,
      );
      await waitFor(
        async () => (await admin.nodes()).find((n) => n.physical === 'agent1')?.logical.find((l) => l.name === 'agent1')?.state === 3,
        30_000,
        'the master to see agent1 ACTIVE',
      );
      await sendLines(syslogPort, 301, 400);
      await waitFor(() => stored().length >= 400, 60_000, 'the lines sent after the reconcile');
      assertExactlyOnce(400);
      for (const [proc, from] of [
        [agent, agentFrom],
        [collector, collFrom],
      ] as const) {
        assert.doesNotMatch(proc.output().slice(from), /logical node (closing|opened)/, `${proc.label}: no flow reopened by the reconcile`);
      }
    } finally {
      admin.close();
    }
  },
);
