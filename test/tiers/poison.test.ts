/**
 * A batch the storage writer can never write (its CRC is right, its events do not decode) in a
 * real collector process: it goes to the collector's dead-letter store, the agent's append of it
 * fails as REJECTED (so it stops resending it), every later batch is stored exactly once, and
 * kill -9 plus restart does not bring it back into the writer. Then `flume-node deadletter`
 * lists it and replays it.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { AgentSink, BatchRejectedError } from '../../agent/sinks/agent-sink';
import { batchOf } from '../../core/channel';
import { encodeBatch } from '../../core/event';
import { freePort, nodeMetric, type Proc, spawnFlume, tempDir, waitFor } from '../harness/procs';
import { storageLines } from '../harness/storage';
import { numberedBatches, recorded, tierTls } from './helpers';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
});

/** One `events` field whose body claims 5 bytes and holds 1: framed right, undecodable inside. */
const POISON_EVENTS = Buffer.from([0x7a, 0x03, 0x0a, 0x05, 0x41]);

test("a poison batch goes to the collector's dead-letter store and every later batch is stored exactly once, also after kill -9", async () => {
  const dir = tempDir();
  cleanups.push(() => dir.remove());
  const port = await freePort();
  const storage = path.join(dir.path, 'store');
  const data = path.join(dir.path, 'coll');
  const spec = `coll : collectorSource(${port}) | collectorSink("file://${storage}/", "data-", 500) ;`;
  const start = (): Proc =>
    spawnFlume('node', ['--standalone', '-n', 'coll', '--data', data, '--http-port', '0', '--channel', 'wal', '-c', spec]);
  let collector = start();
  cleanups.push(async () => {
    await collector.stop();
  });
  await collector.waitForLine(/collector source listening/);

  const sink = new AgentSink({ collectors: [`127.0.0.1:${port}`], mode: 'E2E', window: 8 }, { tls: tierTls.agent() });
  await sink.open();
  cleanups.push(() => sink.close());
  const good = numberedBatches('agentP', 40, 50, 60);
  const poison = batchOf(encodeBatch('agentP', 41, 1, POISON_EVENTS));
  const later = numberedBatches('agentP', 40, 50, 60, 42);

  const results = await Promise.allSettled([...good, poison, ...later].map((b) => sink.append(b)));
  const rejected = results.map((r, i) => (r.status === 'rejected' ? i : -1)).filter((i) => i >= 0);
  assert.deepEqual(rejected, [40], 'only the poison batch fails');
  assert.ok((results[40] as PromiseRejectedResult).reason instanceof BatchRejectedError);

  const expected = [...good, ...later].length * 50;
  await waitFor(() => storageLines(storage).length >= expected, 30_000, `${expected} lines in storage`);
  assert.equal(await nodeMetric(collector, 'flume_dead_letter_batches_total'), 1);

  // kill -9 and restart: the WAL replays what it still holds; the poison batch is not among it.
  await collector.kill9();
  collector = start();
  await collector.waitForLine(/collector source listening/);
  const more = numberedBatches('agentP', 10, 50, 60, 82);
  await Promise.all(more.map((b) => sink.append(b)));
  await waitFor(() => storageLines(storage).length >= expected + 500, 30_000, 'the batches sent after the restart');
  assert.equal(
    (await nodeMetric(collector, 'flume_dead_letter_batches_total')) ?? 0,
    0,
    'the poison batch did not come back to the writer',
  );
  const lines = storageLines(storage);
  assert.equal(lines.length, expected + 500);
  assert.equal(new Set(lines).size, lines.length, 'no duplicate');

  // The entry is named by the origin the collector recorded (with TLS `<certificate>/agentP`, its `/` encoded).
  const poisonId = `${recorded('agentP').replace('/', '%2f')}-41`;
  const list = spawnFlume('node', ['deadletter', 'list', '--data', data]);
  await list.exited;
  assert.ok(list.stdout().includes(`${poisonId}\t1 events`), list.stdout());
  assert.match(list.stdout(), /1 dead-lettered batch/);
  const replay = spawnFlume('node', ['deadletter', 'replay', '--data', data, poisonId]);
  await replay.exited;
  assert.match(replay.stdout(), /1 batch\(es\) queued for replay/);
  // The running collector puts it back; the writer fails it again, so it is quarantined again.
  await waitFor(
    async () => (await nodeMetric(collector, 'flume_dead_letter_batches_total')) === 1,
    20_000,
    'the replayed batch quarantined again',
  );
});
