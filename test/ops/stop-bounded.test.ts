/**
 * SIGTERM stops an agent within a few seconds whatever its sink's state (issue 16): a DFO agent
 * and an E2E agent whose collector went away, and a DFO agent whose collector hangs (SIGSTOP),
 * with batches unacked and a backlog waiting, exit 0 within the bound (node/logical-node.ts
 * DURABLE_STOP_MS, the sink's close, at most 1 s on a stray handle: node/cli.ts);
 * restarted with the collector back they deliver every line exactly once. Real processes with
 * TLS: a standalone collector and a standalone agent (`syslogTcp | agent<MODE>Sink`) fed by `logger`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort, type Proc, waitFor } from '../harness/procs';
import { metric, numberedLines, Scene, sendSyslog, storedLineNumbers } from '../harness/scene';

const scene = new Scene('flume-stop-bounded-');
const file = (...parts: string[]): string => scene.file(...parts);

/** What a stop may take: the node's bound for a durable channel (2 s), the sink's close (1 s) and the exit. */
const STOP_BOUND_MS = 5_000;
const LINES = 3_000;

/** The stored line numbers, read again when a writer renamed a file under the reader. */
function stored(root: string): number[] {
  for (;;) {
    try {
      return storedLineNumbers(root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

const sourceEvents = (p: Proc): Promise<number> => metric(p, 'flume_events_accepted_total', 'component="channel"');

const CASES = [
  { mode: 'DFO', collector: 'down' },
  { mode: 'E2E', collector: 'down' },
  // SIGSTOPped: the connection stays up, the acks never come.
  { mode: 'DFO', collector: 'hung' },
] as const;

for (const { mode, collector: how } of CASES) {
  test(
    `SIGTERM stops a ${mode} agent whose collector is ${how} within ${STOP_BOUND_MS} ms; restarted, it delivers every line once`,
    {
      timeout: 120_000,
    },
    async (t) => {
      const [collPort, syslogPort] = [await freePort(), await freePort()];
      const out = file(`out-${mode}-${how}`);
      const collSpec = `collectorSource(${collPort}) | collectorSink("${out}/", "data-", 1000)`;
      const collName = `coll${mode}${how}`;
      const agentName = `agent${mode}${how}`;
      const agentSpec = `syslogTcp(${syslogPort}) | agent${mode}Sink("127.0.0.1", ${collPort})`;

      let collector = scene.standalone(collName, collSpec);
      await collector.waitForLine(/collector source listening/);
      let agent = scene.standalone(agentName, agentSpec);
      await agent.waitForLine(/standalone node running/);
      await sendSyslog(syslogPort, numberedLines(1, 100), 'stop');
      await waitFor(() => stored(out).length >= 100, 60_000, 'the first lines in storage');

      // The collector goes (or hangs); more lines wait in the agent's WAL and in its sink, unacked.
      if (how === 'down') assert.equal((await collector.stop(30_000)).code, 0, collector.tail());
      else process.kill(collector.pid, 'SIGSTOP');
      try {
        await sendSyslog(syslogPort, numberedLines(101, LINES), 'stop');
        await waitFor(async () => (await sourceEvents(agent)) >= LINES, 30_000, `the agent to hold all ${LINES} lines`);
        if (how === 'down') await agent.waitForLine(/No collector answers/, 30_000);

        const stopAt = Date.now();
        const status = await agent.stop(60_000);
        const stopMs = Date.now() - stopAt;
        t.diagnostic(`${mode} agent stopped in ${stopMs} ms with its collector ${how}`);
        assert.equal(status.code, 0, agent.tail());
        assert.ok(stopMs <= STOP_BOUND_MS, `stopped in ${stopMs} ms, more than ${STOP_BOUND_MS} ms:\n${agent.tail(20)}`);
      } finally {
        if (how === 'hung') process.kill(collector.pid, 'SIGCONT');
      }

      if (how === 'down') {
        collector = scene.standalone(collName, collSpec);
        await collector.waitForLine(/collector source listening/);
      }
      agent = scene.standalone(agentName, agentSpec);
      await agent.waitForLine(/standalone node running/);
      // A collector that hung stores what it had read once it runs again; the agent resends that too.
      await waitFor(async () => (await metric(agent, 'flume_channel_fill_batches')) === 0, 60_000, 'the agent to drain its WAL');
      await waitFor(() => stored(out).length >= LINES, 60_000, 'every line in storage').catch((err: Error) => {
        throw new Error(`${err.message}: ${stored(out).length} of ${LINES}\n${agent.tail(20)}`);
      });
      assert.deepEqual(
        stored(out),
        Array.from({ length: LINES }, (_, i) => i + 1),
        'every line exactly once',
      );
      for (const p of [agent, collector]) assert.equal((await p.stop(30_000)).code, 0, `${p.label}\n${p.tail()}`);
    },
  );
}
