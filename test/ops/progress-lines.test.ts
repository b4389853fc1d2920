/**
 * What an agent says while it catches up (issue 16 item 8, node/progress.ts), with real
 * processes at the default log level: restarted on a WAL holding a backlog it logs the replay's
 * progress and /status shows it while it runs; then, its collector back, it logs the drain (events
 * left and rate) and once that it caught up, while /status shows the backlog shrinking. Every
 * line arrives once. `node.progress_ms` is set low so a replay of a few tens of MB (which takes
 * tens of ms) says something; the sink is throttled with `choke` so the drain takes a few seconds.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { freePort, httpGet, type Proc, statusBase, waitFor } from '../harness/procs';
import { metric, Scene } from '../harness/scene';
import { storageLines } from '../harness/storage';

delete process.env.FLUME_LOG_LEVEL;
const scene = new Scene('flume-progress-');
const file = (...parts: string[]): string => scene.file(...parts);

const LINES = 600_000;
const line = (n: number): string => `p ${String(n).padStart(7, '0')} ${'z'.repeat(24)}`;

interface NodeStatus {
  state: string;
  replay?: { segment: string; doneBytes: number; totalBytes: number };
  backlog?: { batches: number; bytes: number; events?: number };
}
async function nodeStatus(p: Proc): Promise<NodeStatus | undefined> {
  const body = JSON.parse((await httpGet(`${await statusBase(p)}/status`)).body) as { nodes: NodeStatus[] };
  return body.nodes[0];
}

/** The stored line numbers, read again when a writer renamed a file under the reader. */
function stored(root: string): number[] {
  for (;;) {
    try {
      return storageLines(root)
        .map((l) => /p (\d{7}) /.exec(l)?.[1])
        .filter((n): n is string => n !== undefined)
        .map(Number)
        .sort((a, b) => a - b);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

test('a WAL replay and a backlog drain log their progress at the default level and show in /status', { timeout: 120_000 }, async (t) => {
  const collPort = await freePort();
  const input = file('app.log');
  const lines: string[] = [];
  for (let n = 1; n <= LINES; n++) lines.push(line(n));
  fs.writeFileSync(input, lines.join('\n') + '\n');
  const out = file('out');
  const env = {
    // Default level (the Scene's info is the default too), one WAL segment for the whole backlog.
    FLUME_LOG_LEVEL: 'info',
    FLUME_NODE_PROGRESS_MS: '1',
    FLUME_CHANNEL_WAL_SEGMENT_BYTES: String(256 * 1024 * 1024),
  };
  const spec = `tail("${input}") | { choke(4000000) => agentDFOSink("127.0.0.1", ${collPort}) }`;
  let agent = scene.standalone('agent', spec, { env });
  await agent.waitForLine(/standalone node running/);
  // No collector yet: the whole file waits in the WAL.
  await waitFor(async () => (await metric(agent, 'flume_events_accepted_total', 'component="channel"')) >= LINES, 60_000, 'the backlog');
  assert.equal((await agent.stop(30_000)).code, 0, agent.tail());

  const collector = scene.standalone('coll', `collectorSource(${collPort}) | collectorSink("${out}/", "data-", 1000)`);
  await collector.waitForLine(/collector source listening/);

  // Restarted: /status is asked again and again while the WAL opens.
  agent = scene.standalone('agent', spec, { env });
  let sawReplay: NodeStatus['replay'] | undefined;
  while (!/WAL opened/.test(agent.output()) && agent.running) {
    const s = await nodeStatus(agent).catch(() => undefined);
    if (s?.replay) sawReplay ??= s.replay;
  }
  const replayLine = await agent.waitForLine(/info .*Replaying the WAL: (\d+)% done\./, 10_000);
  t.diagnostic(`replay line: ${replayLine[0].slice(0, 160)}; /status during the replay: ${JSON.stringify(sawReplay)}`);
  assert.ok(sawReplay && sawReplay.totalBytes > 0 && sawReplay.doneBytes <= sawReplay.totalBytes, '/status showed the replay');

  const drain = await agent.waitForLine(/info .*Draining backlog: ([\d,]+) events left, ([\d,]+) events\/s\./, 30_000);
  assert.ok(Number(drain[1].replace(/,/g, '')) > 0 && Number(drain[2].replace(/,/g, '')) > 0, drain[0]);
  const during = await nodeStatus(agent);
  assert.ok(
    (during?.backlog?.batches ?? 0) > 0 && (during?.backlog?.events ?? 0) > 0,
    `/status shows the backlog: ${JSON.stringify(during)}`,
  );
  await agent.waitForLine(/info .*Backlog caught up\./, 60_000);
  await waitFor(() => stored(out).length >= LINES, 60_000, 'every line stored');
  const numbers = stored(out);
  assert.equal(numbers.length, LINES, 'no line stored twice');
  for (let i = 0; i < LINES; i++) if (numbers[i] !== i + 1) assert.fail(`line ${i + 1} lost`);
  t.diagnostic(`drain line: ${drain[0].slice(0, 160)}`);
});
