/**
 * The fleet layout in ZooKeeper: one small znode per config and per physical node, and the
 * migration from the single /flume/state znode of masters before it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ZkClient } from '../../master/store/zk';
import { waitFor } from '../harness/procs';
import { startZooKeeper, type ZooKeeper } from '../harness/zk';
import { AdminClient, configOf, startMasterProc, type MasterProc } from './helpers';

let zk: ZooKeeper;
const cleanups: Array<() => Promise<unknown> | void> = [];

before(async () => {
  zk = await startZooKeeper();
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  await zk?.stop();
});

async function client(connect: string): Promise<ZkClient> {
  const c = new ZkClient({ connect, sessionTimeoutMs: 10_000, connectTimeoutMs: 20_000 });
  await c.connect();
  cleanups.push(() => c.close());
  return c;
}

async function master(connect: string, id: string): Promise<{ m: MasterProc; admin: AdminClient }> {
  const m = await startMasterProc(['--zk', connect, '--id', id]);
  const admin = new AdminClient(m.address);
  cleanups.push(
    () => m.proc.stop(),
    () => admin.close(),
  );
  return { m, admin };
}

test('a ZooKeeper holding the old /flume/state: a new master serves the same configs, mappings and decommissions', async () => {
  const connect = await zk.chroot();
  const raw = await client(connect);
  // What a master before the per-znode layout left behind, 2,000 nodes of it.
  const state = {
    configs: {} as Record<string, object>,
    mappings: {} as Record<string, string[]>,
    decommissioned: ['old.one'],
    purged: { gone: 1_000, '*': 500 },
    nextVersion: 4_003,
  };
  for (let i = 0; i < 2_000; i++) {
    state.configs[`web${i}`] = { flow: i % 2 ? 'f1' : '', source: `tail("/var/log/${i}.log")`, sink: 'autoE2EChain', version: i + 1 };
    state.mappings[`host/${i}`] = [`web${i}`];
  }
  state.configs['a.b/c%d'] = { flow: '', source: 'text("/x")', sink: 'console', version: 4_002 };
  await raw.mkdirp('/flume');
  await raw.create('/flume/state', Buffer.from(JSON.stringify({ state, writer: 'old' })));

  const { admin } = await master(connect, 'new1');
  const configs = await admin.configs();
  assert.equal(configs.length, 2_001);
  assert.deepEqual(await configOf(admin, 'web1233'), {
    logical: 'web1233',
    version: 1_234,
    flow: 'f1',
    source: 'tail("/var/log/1233.log")',
    sink: 'autoE2EChain',
  });
  assert.equal((await configOf(admin, 'a.b/c%d'))?.source, 'text("/x")', 'a name with / . and % survives');
  assert.deepEqual((await admin.mappings('host/77'))[0].logical, ['web77']);
  assert.equal(await raw.exists('/flume/state'), null, 'the old znode is gone once moved');
  assert.ok(await raw.exists('/flume/meta'));
  assert.equal((await raw.getChildren('/flume/configs')).length, 2_001);

  // The next config change continues the old version counter and writes a few small znodes.
  const done = await admin.exec('config', 'web5', 'text("/new")', 'console');
  assert.equal(done.state, 2, done.message);
  assert.equal((await configOf(admin, 'web5'))?.version, 4_003);
  const { data } = await raw.getData('/flume/configs/web5');
  assert.ok(data.length < 200, `a config znode is small (${data.length} bytes)`);
  const meta = await raw.getData('/flume/meta');
  assert.ok(meta.data.length < 4_096, `the meta znode is small (${meta.data.length} bytes)`);
});

test("masters on the per-znode layout see each other's changes, including ones touching many znodes", async () => {
  const connect = await zk.chroot();
  const a = await master(connect, 'A');
  const b = await master(connect, 'B');
  const spec = Array.from({ length: 400 }, (_, i) => `m${i} : text("/m${i}") | console ;`).join('\n');
  assert.equal((await a.admin.exec('multiconfig', spec)).state, 2);
  await waitFor(async () => ((await b.admin.configs()).length === 400 ? true : undefined), 10_000, '400 configs at B');
  assert.equal((await b.admin.exec('map', 'p1', 'm7')).state, 2);
  await waitFor(async () => ((await a.admin.mappings('p1'))[0].logical.join() === 'm7' ? true : undefined), 10_000, 'the mapping at A');
  assert.equal((await a.admin.exec('unconfig', 'm3')).state, 2);
  await waitFor(async () => ((await configOf(b.admin, 'm3')) === undefined ? true : undefined), 10_000, 'm3 gone at B');
});
