/**
 * The embedded store's journal (master/store/journal.ts) with real master processes: a kill -9
 * in the middle of a burst of config commands on a fleet-sized state, a torn record at the end
 * of the journal, damage in its middle, and a crash between writing a snapshot and emptying
 * the journal.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { spawnFlume, tempDir, type Proc } from '../harness/procs';
import { AdminClient, configOf, startMasterProc, type MasterProc } from './helpers';

const work = tempDir('flume-embedded-journal-');
const live: Proc[] = [];
const FLEET = 10_000;

after(async () => {
  for (const p of live) await p.stop();
  work.remove();
});

async function start(data: string): Promise<{ master: MasterProc; admin: AdminClient }> {
  const master = await startMasterProc(['--data', data]);
  live.push(master.proc);
  return { master, admin: new AdminClient(master.address) };
}

test(
  'kill -9 of a master with 10,000 configs mid-burst of config commands: every acknowledged command is there exactly once after restart',
  { timeout: 240_000 },
  async () => {
    const data = path.join(work.path, 'burst');
    let { master, admin } = await start(data);
    const spec = Array.from({ length: FLEET }, (_, i) => `fleet${i} : text("/tmp/f${i}") | console ;\n`).join('');
    assert.equal((await admin.exec('multiconfig', spec)).state, 2);

    // Four submitters, each submitting config commands one after the other, each with its client id.
    const acked = new Map<string, { id: number; node: string }>();
    let next = 0;
    let killed = false;
    const submitter = async (): Promise<void> => {
      while (!killed) {
        const k = next++;
        const node = `fleet${k}`;
        try {
          const id = await admin.submitOnce(`burst-${k}`, 'config', node, `text("/tmp/burst${k}")`, 'console');
          if (!killed) acked.set(`burst-${k}`, { id, node });
        } catch {
          return;
        }
      }
    };
    const submitters = Array.from({ length: 4 }, () => submitter());
    const killAfter = 50 + Math.floor(Math.random() * 150);
    while (acked.size < killAfter) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, Math.random() * 20));
    killed = true;
    await master.proc.kill9();
    await Promise.all(submitters);
    admin.close();

    ({ master, admin } = await start(data));
    try {
      assert.match(master.proc.output(), /Loaded the embedded store\..*configs=10\d\d\d/);
      const deadline = Date.now() + 60_000;
      while ((await admin.commands(0, true)).length > 0) {
        assert.ok(Date.now() < deadline, 'every command was executed after the restart');
        await new Promise((r) => setTimeout(r, 100));
      }
      const history = await admin.commands(1000);
      const byNode = new Map<string, number>();
      for (const c of history) if (c.command === 'config') byNode.set(c.args[0], (byNode.get(c.args[0]) ?? 0) + 1);
      const configs = new Map((await admin.configs()).map((c) => [c.logical, c]));
      for (const [clientId, { id, node }] of acked) {
        const found = history.filter((c) => c.id === id);
        assert.equal(found.length, 1, `acknowledged command ${id} (${node}) is in the history`);
        assert.equal(found[0].args[0], node);
        assert.equal(found[0].state, 2, found[0].message);
        assert.equal(byNode.get(node), 1, `${node} was configured once`);
        assert.equal(configs.get(node)?.source, `text("/tmp/${node.replace('fleet', 'burst')}")`);
        assert.equal(
          await admin.submitOnce(clientId, 'config', node, 'text("/again")', 'console'),
          id,
          'a resubmit answers with the first command',
        );
      }
      assert.equal(configs.size, FLEET);
    } finally {
      admin.close();
      await master.proc.stop();
    }
  },
);

/** The journal of the master whose data dir is `data`. */
const journalOf = (data: string): string => path.join(data, 'master-state.journal');

test('a torn record at the end of the journal is cut off at start, and what was acknowledged stays', { timeout: 120_000 }, async () => {
  const data = path.join(work.path, 'torn');
  let { master, admin } = await start(data);
  for (const n of ['t1', 't2', 't3']) assert.equal((await admin.exec('config', n, 'text("/x")', 'console')).state, 2);
  await master.proc.kill9();
  admin.close();
  // The master died appending a record: half of one is at the end.
  const lines = fs.readFileSync(journalOf(data), 'utf8').split('\n');
  const last = lines[lines.length - 2];
  fs.appendFileSync(journalOf(data), last.slice(0, last.length / 2));

  ({ master, admin } = await start(data));
  assert.match(master.proc.output(), /Cut a torn record off the end of the journal/);
  for (const n of ['t1', 't2', 't3']) assert.ok(await configOf(admin, n), n);
  assert.equal((await admin.exec('config', 't4', 'text("/y")', 'console')).state, 2);
  await master.proc.kill9();
  admin.close();

  ({ master, admin } = await start(data));
  try {
    assert.doesNotMatch(master.proc.output(), /Cut a torn record/);
    for (const n of ['t1', 't2', 't3', 't4']) assert.ok(await configOf(admin, n), `${n} after the second restart`);
  } finally {
    admin.close();
    await master.proc.stop();
  }
});

test('a journal damaged in its middle stops the master from starting, naming the file', { timeout: 120_000 }, async () => {
  const data = path.join(work.path, 'damaged');
  const { master, admin } = await start(data);
  for (const n of ['d1', 'd2']) assert.equal((await admin.exec('config', n, 'text("/x")', 'console')).state, 2);
  await master.proc.kill9();
  admin.close();
  const bytes = fs.readFileSync(journalOf(data));
  bytes[20] ^= 0x01;
  fs.writeFileSync(journalOf(data), bytes);
  const again = spawnFlume('master', ['start', '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--data', data]);
  live.push(again);
  const exit = await again.exited;
  assert.notEqual(exit.code, 0);
  assert.match(again.output(), /journal .*master-state\.journal is damaged at byte 0/);
});

test('a crash after a snapshot is written and before the journal is emptied applies nothing twice', { timeout: 120_000 }, async () => {
  const data = path.join(work.path, 'compaction');
  let { master, admin } = await start(data);
  for (const n of ['c1', 'c2', 'c3']) assert.equal((await admin.exec('config', n, 'text("/x")', 'console')).state, 2);
  assert.equal((await admin.exec('refresh', 'c1')).state, 2);
  const journal = fs.readFileSync(journalOf(data));
  assert.ok(journal.length > 0);
  const history = await admin.commands(1000);
  const configs = await admin.configs();
  // A clean stop folds the journal into the snapshot and empties it; put the old records back.
  admin.close();
  await master.proc.stop();
  assert.equal(fs.statSync(journalOf(data)).size, 0);
  fs.writeFileSync(journalOf(data), journal);

  ({ master, admin } = await start(data));
  try {
    assert.deepEqual(await admin.commands(1000), history);
    assert.deepEqual(await admin.configs(), configs);
    assert.equal((await admin.exec('config', 'c4', 'text("/y")', 'console')).state, 2);
    await master.proc.kill9();
    admin.close();
    ({ master, admin } = await start(data));
    assert.deepEqual((await admin.commands(1000)).slice(0, history.length), history);
    assert.ok(await configOf(admin, 'c4'));
  } finally {
    admin.close();
    await master.proc.stop();
  }
});

test(
  'a master-state.json written before the journal is read at start, and the changes after it are kept',
  { timeout: 120_000 },
  async () => {
    const data = path.join(work.path, 'format1');
    fs.mkdirSync(data, { recursive: true });
    // What a master from before the journal wrote: the whole state and history, rewritten at every change.
    const old = {
      format: 1,
      state: {
        configs: { legacy: { flow: 'default', source: 'text("/old")', sink: 'console', version: 1 } },
        mappings: { hostL: ['legacy'] },
        decommissioned: [],
        purged: {},
        nextVersion: 2,
      },
      commands: [
        {
          id: 1,
          command: 'config',
          args: ['legacy', 'text("/old")', 'console'],
          state: 'SUCCEEDED',
          message: 'configured legacy v1',
          submittedAt: 1,
          finishedAt: 2,
        },
      ],
      nextCommandId: 2,
    };
    fs.writeFileSync(path.join(data, 'master-state.json'), JSON.stringify(old));
    let { master, admin } = await start(data);
    assert.equal((await configOf(admin, 'legacy'))?.source, 'text("/old")');
    assert.deepEqual((await admin.mappings('hostL'))[0].logical, ['legacy']);
    const next = await admin.exec('config', 'after', 'text("/new")', 'console');
    assert.equal(next.id, 2);
    await master.proc.kill9();
    admin.close();
    ({ master, admin } = await start(data));
    try {
      assert.ok(await configOf(admin, 'legacy'));
      assert.ok(await configOf(admin, 'after'));
      assert.deepEqual(
        (await admin.commands(10)).map((c) => c.id),
        [1, 2],
      );
    } finally {
      admin.close();
      await master.proc.stop();
    }
  },
);
