/**
 * Three masters on one real ZooKeeper: one view from every master, compare-and-set under
 * concurrent edits, leader failover with queued commands, node failover between masters.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../core/logger';
import { ZookeeperStore } from '../../master/store/zookeeper';
import { waitFor } from '../harness/procs';
import { startZooKeeper, type ZooKeeper } from '../harness/zk';
import { AdminClient, configOf, startMasterProc, startTestNode, type MasterProc } from './helpers';

let zk: ZooKeeper;
let connect: string;
const masters: MasterProc[] = [];
const admins: AdminClient[] = [];
const cleanups: Array<() => Promise<unknown> | void> = [];

before(async () => {
  zk = await startZooKeeper();
  connect = await zk.chroot();
  for (const id of ['A', 'B', 'C']) {
    const m = await startMasterProc(['--zk', connect, '--id', id, '--heartbeat-ms', '200', '--session-timeout-ms', '4000']);
    masters.push(m);
    admins.push(new AdminClient(m.address));
  }
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const a of admins) a.close();
  for (const m of masters) await m.proc.stop();
  await zk?.stop();
});

test('a config submitted to master A is served by B and C', async () => {
  const done = await admins[0].exec('config', 'web01', 'tail("/var/log/app.log")', 'console');
  assert.equal(done.state, 2, done.message);
  for (const admin of admins) {
    const c = await waitFor(() => configOf(admin, 'web01'), 10_000, `web01 at ${admin.address}`);
    assert.equal(c.source, 'tail("/var/log/app.log")');
  }
  // The command and its history are the same everywhere too.
  for (const admin of admins) assert.equal((await admin.status(done.id)).state, 2);
  let infos: Array<{ leader: boolean }> = [];
  await waitFor(
    async () => {
      infos = await Promise.all(admins.map((a) => a.info()));
      return infos.filter((i) => i.leader).length === 1;
    },
    20_000,
    'exactly one leader',
  ).catch((err: Error) => assert.fail(`${err.message}: ${JSON.stringify(infos)}`));
});

test('concurrent conflicting edits through different masters are all applied, none lost', async () => {
  const ids = await Promise.all(
    Array.from({ length: 12 }, (_, i) => admins[i % 3].submit('config', 'hot', `text("/tmp/${i}")`, 'console')),
  );
  const done = await Promise.all(ids.map((id, i) => admins[(i + 1) % 3].waitDone(id)));
  assert.ok(
    done.every((d) => d.state === 2),
    JSON.stringify(done),
  );
  const versions = done.map((d) => Number(/ v(\d+)/.exec(d.message)![1]));
  assert.equal(new Set(versions).size, versions.length, 'each edit got its own version');
  const last = done[versions.indexOf(Math.max(...versions))];
  for (const admin of admins) {
    await waitFor(async () => (await configOf(admin, 'hot'))?.version === Math.max(...versions), 10_000, 'the newest edit everywhere');
    assert.equal((await configOf(admin, 'hot'))!.source, last.args[1]);
  }
});

test('compare-and-set: two sessions updating the same state concurrently lose nothing', async () => {
  const stores = ['x', 'y'].map(
    (id) => new ZookeeperStore({ connect, masterId: `cas-${id}`, sessionTimeoutMs: 4000, connectTimeoutMs: 20_000 }, silentLogger()),
  );
  await Promise.all(stores.map((s) => s.start()));
  cleanups.push(() => Promise.all(stores.map((s) => s.stop())));
  const writes: Array<Promise<unknown>> = [];
  for (let i = 0; i < 20; i++) {
    for (const [k, s] of stores.entries()) {
      writes.push(
        s.update((draft) => {
          draft.mappings[`cas-${k}-${i}`] = [`l${i}`];
          draft.nextVersion++;
        }),
      );
    }
  }
  await Promise.all(writes);
  // Both writers, and every master, end up with all 40 (watches may take a moment to arrive).
  for (const s of stores) {
    await waitFor(() => Object.keys(s.view().state.mappings).filter((p) => p.startsWith('cas-')).length === 40, 10_000, 'all 40 mappings');
  }
  for (const admin of admins) {
    await waitFor(
      async () => (await admin.mappings()).filter((x) => x.physical.startsWith('cas-')).length === 40,
      10_000,
      'all 40 mappings at a master',
    );
  }
});

test('a node heard by one master is ACTIVE and then LOST in the view of every master', async () => {
  assert.equal((await admins[1].exec('config', 'seen1', 'text("/tmp/s")', 'console')).state, 2);
  const node = await startTestNode('seen1', [masters[0].address]);
  cleanups.push(() => node.stop());
  for (const admin of admins) {
    await waitFor(
      async () => (await admin.nodes()).find((n) => n.physical === 'seen1' && n.state === 3),
      20_000,
      `seen1 ACTIVE at ${admin.address}`,
    );
  }
  await node.kill9();
  for (const admin of admins) {
    await waitFor(
      async () => (await admin.nodes()).find((n) => n.physical === 'seen1' && n.state === 5),
      20_000,
      `seen1 LOST at ${admin.address}`,
    );
  }
});

test('kill -9 of the leader: another master takes over and queued commands complete', async () => {
  const infos = await Promise.all(admins.map((a) => a.info()));
  const leader = infos.findIndex((i) => i.leader);
  assert.ok(leader >= 0);
  await masters[leader].proc.kill9();
  const survivors = admins.filter((_, i) => i !== leader);
  // Queue commands while there may be no leader yet.
  const ids: number[] = [];
  for (let i = 0; i < 5; i++) ids.push(await survivors[i % 2].submit('config', `after${i}`, 'text("/tmp/a")', 'console'));
  const done = await Promise.all(ids.map((id) => survivors[0].waitDone(id, 60_000)));
  assert.ok(
    done.every((d) => d.state === 2),
    JSON.stringify(done),
  );
  let newInfos: Array<{ leader: boolean }> = [];
  await waitFor(
    async () => {
      newInfos = await Promise.all(survivors.map((a) => a.info()));
      return newInfos.filter((i) => i.leader).length === 1;
    },
    20_000,
    'exactly one leader among the survivors',
  ).catch((err: Error) => assert.fail(`${err.message}: ${JSON.stringify(newInfos)}`));
  for (const a of survivors) {
    for (let i = 0; i < 5; i++) await waitFor(() => configOf(a, `after${i}`), 10_000, `after${i}`);
  }
  masters.splice(leader, 1);
  admins.splice(leader, 1)[0].close();
});

test('a node fails over to another master without restarting its flows', async (t) => {
  assert.equal(masters.length, 2);
  const done = await admins[0].exec('config', 'fo1', 'text("/tmp/fo")', 'console');
  assert.equal(done.state, 2);
  const node = await startTestNode(
    'fo1',
    masters.map((m) => m.address),
  );
  cleanups.push(() => node.stop());
  const version = (await configOf(admins[0], 'fo1'))!.version;
  await node.waitForLine(new RegExp(`desired \\{"fo1":${version}\\}`));
  await node.waitForLine(new RegExp(`master ${masters[0].address}`));
  await waitFor(
    async () => (await admins[1].nodes()).find((n) => n.physical === 'fo1' && n.state === 3),
    20_000,
    'fo1 ACTIVE as seen by the other master',
  );
  const mark = node.output().length;
  const killedAt = Date.now();
  await masters[0].proc.kill9();
  await node.waitForLine(new RegExp(`master ${masters[1].address}`), 20_000, mark);
  // The design asks for failover within 10 s; on a shared machine that is reported, not asserted.
  t.diagnostic(`failover took ${Date.now() - killedAt} ms`);
  assert.ok(node.running, 'the node process did not restart');
  assert.doesNotMatch(node.output().slice(mark), /desired/, 'the desired set did not change, so nothing was restarted');
  // The surviving master still sees the node alive, and a change reaches it.
  await waitFor(
    async () => (await admins[1].nodes()).find((n) => n.physical === 'fo1' && n.state === 3),
    10_000,
    'fo1 ACTIVE after failover',
  );
  assert.equal((await admins[1].exec('refresh', 'fo1')).state, 2);
  const v2 = (await configOf(admins[1], 'fo1'))!.version;
  await node.waitForLine(new RegExp(`desired \\{"fo1":${v2}\\}`), 20_000, mark);
});
