/**
 * An agent that loses its collector says so at the default log level, once, not once per retry,
 * with the backlog waiting in its WAL; and once when the collector is back, with how long it was
 * gone. /status shows the sink's link (down, attempts, backlog) and then connected again. Real
 * processes: a standalone collector and a standalone agent (`syslogTcp | agentE2ESink`) fed by
 * util-linux `logger`; nothing lost, nothing doubled.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort, httpGet, type Proc, statusBase, waitFor } from '../harness/procs';
import { numberedLines, portAccepts, Scene, sendSyslog, storedLineNumbers } from '../harness/scene';

// The default level is the point: FLUME_LOG_LEVEL from the environment would change it.
delete process.env.FLUME_LOG_LEVEL;
const scene = new Scene('flume-outage-log-');
const file = (...parts: string[]): string => scene.file(...parts);

const sendLines = (port: number, from: number, to: number): Promise<void> => sendSyslog(port, numberedLines(from, to), 'outage');
const stored = (): number[] => storedLineNumbers(file('out'));

interface SinkLink {
  state: string;
  collector: string | null;
  downForMs: number;
  failedAttempts: number;
  backlog?: { batches: number; bytes: number; events?: number };
}

async function sinkLink(agent: Proc): Promise<SinkLink | undefined> {
  const status = JSON.parse((await httpGet(`${await statusBase(agent)}/status`)).body) as {
    nodes: Array<{ components?: Record<string, SinkLink> }>;
  };
  return status.nodes[0]?.components?.['sink.agentE2ESink'];
}

const WARNING = /warn .*No collector answers; batches wait in the channel/g;

test(
  'an agent that loses its collector warns once with its backlog, says when it is back, and /status shows it',
  { timeout: 120_000 },
  async () => {
    const [collPort, syslogPort] = [await freePort(), await freePort()];
    const collSpec = `collectorSource(${collPort}) | collectorSink("${file('out')}/", "data-", 1000)`;
    const collector = scene.standalone('coll', collSpec);
    await collector.waitForLine(/standalone node running/);
    const agent = scene.standalone('agent1', `syslogTcp(${syslogPort}) | agentE2ESink("127.0.0.1", ${collPort})`);
    await agent.waitForLine(/standalone node running/);
    await waitFor(() => portAccepts(syslogPort), 30_000, 'the agent to listen');
    await sendLines(syslogPort, 1, 100);
    await waitFor(() => stored().length >= 100, 60_000, 'the first lines in storage');
    assert.equal((await sinkLink(agent))?.state, 'connected');

    await collector.stop();
    await sendLines(syslogPort, 101, 200);
    const warning = await agent.waitForLine(/warn .*No collector answers; batches wait in the channel; retrying\.(.*)/, 30_000);
    assert.match(
      warning[1],
      /collector=127\.0\.0\.1:\d+ .*backlogBatches=\d+ backlogBytes=\d+/,
      'the warning names the collector and the backlog',
    );
    // Several retries later, still the one warning, and /status says why.
    const down = await waitFor(
      async () => {
        const link = await sinkLink(agent);
        return link && link.state === 'down' && link.failedAttempts >= 3 && (link.backlog?.batches ?? 0) > 0 ? link : undefined;
      },
      30_000,
      '/status to show the sink down after several attempts, with a backlog',
    );
    assert.equal(down.collector, `127.0.0.1:${collPort}`);
    assert.ok(down.downForMs > 0);
    assert.equal(agent.output().match(WARNING)?.length, 1, `one warning, not one per retry:\n${agent.tail()}`);

    scene.standalone('coll', collSpec);
    const back = await agent.waitForLine(/info .*Collector answers again after (\d+) s, (\d+) failed attempts\./, 60_000);
    assert.ok(Number(back[2]) >= 3);
    await waitFor(() => stored().length >= 200, 60_000, 'the backlog in storage');
    assert.deepEqual(
      stored(),
      Array.from({ length: 200 }, (_, i) => i + 1),
      'every line exactly once',
    );
    const up = await sinkLink(agent);
    assert.equal(up?.state, 'connected');
    assert.equal(up?.failedAttempts, 0);
    assert.equal(agent.output().match(WARNING)?.length, 1, 'still one warning');
    assert.equal(agent.output().match(/Collector answers again/g)?.length, 1, 'one recovery line');
  },
);
