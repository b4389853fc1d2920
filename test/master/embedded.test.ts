/**
 * One master with the embedded store, as a real process: commands, bad specs, restart, nodes
 * heartbeating, LOST after silence, the HTTP status page.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { httpGet, tempDir, waitFor } from '../harness/procs';
import { AdminClient, configOf, startMasterProc, startTestNode, type MasterProc } from './helpers';

const dir = tempDir('flume-master-embedded-');
let master: MasterProc;
let admin: AdminClient;
const cleanups: Array<() => Promise<unknown> | void> = [];

before(async () => {
  master = await startMasterProc(['--data', dir.path, '--heartbeat-ms', '200', '--lost-after', '5']);
  admin = new AdminClient(master.address);
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  admin?.close();
  await master?.proc.stop();
  dir.remove();
});

test('config, map and multiconfig succeed and are served', async () => {
  const c1 = await admin.exec('config', 'web01', 'tail("/var/log/app.log")', '{ batch(100) => console }');
  assert.equal(c1.state, 2, c1.message);
  const c2 = await admin.exec('config', 'coll1', 'flowA', 'collectorSource(35853)', 'null');
  assert.equal(c2.state, 2, c2.message);
  const c3 = await admin.exec('multiconfig', 'a1 : text("/tmp/x") | console ;\na2 : text("/tmp/y") | null ;');
  assert.equal(c3.state, 2, c3.message);
  const c4 = await admin.exec('map', 'host1', 'a1');
  assert.equal(c4.state, 2, c4.message);
  const configs = await admin.configs();
  assert.deepEqual(
    configs.map((c) => c.logical),
    ['a1', 'a2', 'coll1', 'web01'],
  );
  const web = configs.find((c) => c.logical === 'web01')!;
  assert.equal(web.source, 'tail("/var/log/app.log")');
  assert.equal(web.sink, '{ batch(100) => console }');
  assert.equal(web.flow, 'default');
  assert.equal(configs.find((c) => c.logical === 'coll1')!.flow, 'flowA');
  assert.deepEqual(await admin.mappings('host1'), [{ physical: 'host1', logical: ['a1'] }]);
  // Every change gets a new, larger version.
  const versions = configs.map((c) => c.version);
  assert.equal(new Set(versions).size, versions.length);
});

test('a bad spec fails the command with line:column and changes nothing', async () => {
  const before = await admin.configs();
  const bad = await admin.exec('config', 'web01', 'tail("/var/log/app.log"', 'console');
  assert.equal(bad.state, 3);
  assert.match(bad.message, /\b1:\d+\b/);
  const badMulti = await admin.exec('multiconfig', 'ok1 : text("/a") | console ;\nbroken : text("/b") | { batch(10) => ;');
  assert.equal(badMulti.state, 3);
  assert.match(badMulti.message, /\b2:\d+\b/, badMulti.message);
  const unknown = await admin.exec('frobnicate', 'x');
  assert.equal(unknown.state, 3);
  assert.match(unknown.message, /unknown command/);
  const arity = await admin.exec('map', 'onlyone');
  assert.equal(arity.state, 3);
  assert.deepEqual(await admin.configs(), before);
});

test('the other commands: unmap, refresh, decommission, unconfig, save and load', async () => {
  const v1 = (await configOf(admin, 'a2'))!.version;
  assert.equal((await admin.exec('refresh', 'a2')).state, 2);
  assert.ok((await configOf(admin, 'a2'))!.version > v1);
  assert.equal((await admin.exec('unmap', 'host1', 'a2')).state, 3, 'a2 was never mapped to host1');
  assert.equal((await admin.exec('spawn', 'host1', 'a2')).state, 2);
  assert.deepEqual((await admin.mappings('host1'))[0].logical, ['a1', 'a2']);
  assert.equal((await admin.exec('unmap', 'host1', 'a1')).state, 2);
  assert.deepEqual((await admin.mappings('host1'))[0].logical, ['a2']);
  const saved = path.join(dir.path, 'saved.spec');
  const save = await admin.exec('save', saved);
  assert.equal(save.state, 2, save.message);
  assert.match(fs.readFileSync(saved, 'utf8'), /^a1 : text\("\/tmp\/x"\) \| console ;$/m);
  assert.equal((await admin.exec('decommission', 'a1')).state, 2);
  assert.equal(await configOf(admin, 'a1'), undefined);
  assert.equal((await admin.exec('unconfig', 'a2')).state, 2);
  assert.equal(await configOf(admin, 'a2'), undefined);
  const load = await admin.exec('load', saved);
  assert.equal(load.state, 2, load.message);
  assert.ok(await configOf(admin, 'a1'));
  assert.ok(await configOf(admin, 'a2'));
  assert.equal((await admin.exec('refreshAll')).state, 2);
  assert.equal((await admin.exec('unmapAll')).state, 2);
  assert.deepEqual((await admin.mappings('host1'))[0].logical, ['host1'], 'an unmapped node runs a logical node of its own name');
});

test('a node heartbeats, gets its config, turns ACTIVE, and is LOST after silence', async () => {
  assert.equal((await admin.exec('config', 'n1', 'text("/tmp/n1")', 'console')).state, 2);
  const node = await startTestNode('n1', [master.address]);
  cleanups.push(() => node.stop());
  const version = (await configOf(admin, 'n1'))!.version;
  await node.waitForLine(new RegExp(`desired \\{"n1":${version}\\}`));
  await waitFor(async () => (await admin.nodes()).find((n) => n.physical === 'n1' && n.state === 3), 20_000, 'n1 ACTIVE');
  // A config change reaches the node on a following heartbeat.
  assert.equal((await admin.exec('config', 'n1', 'text("/tmp/n1b")', 'null')).state, 2);
  const v2 = (await configOf(admin, 'n1'))!.version;
  await node.waitForLine(new RegExp(`desired \\{"n1":${v2}\\}`));
  const status = (await admin.nodes()).find((n) => n.physical === 'n1')!;
  assert.equal(status.logical[0].name, 'n1');
  await node.kill9();
  await waitFor(async () => (await admin.nodes()).find((n) => n.physical === 'n1' && n.state === 5), 20_000, 'n1 LOST');
  assert.equal((await admin.exec('purge', 'n1')).state, 2);
  assert.equal(
    (await admin.nodes()).find((n) => n.physical === 'n1'),
    undefined,
  );
});

test('HTTP: /status JSON, the status page and /metrics', async () => {
  const status = await httpGet(`http://127.0.0.1:${master.httpPort}/status`);
  assert.equal(status.status, 200);
  const doc = JSON.parse(status.body) as { master: { leader: boolean }; configs: Array<{ logical: string }>; commands: unknown[] };
  assert.equal(doc.master.leader, true);
  assert.ok(doc.configs.some((c) => c.logical === 'web01'));
  assert.ok(doc.commands.length > 0);
  const page = await httpGet(`http://127.0.0.1:${master.httpPort}/`);
  assert.match(page.body, /http-equiv="refresh"/);
  assert.match(page.body, /web01/);
  const metrics = await httpGet(`http://127.0.0.1:${master.httpPort}/metrics`);
  assert.match(metrics.body, /^flume_master_heartbeats_total [1-9]/m);
  assert.match(metrics.body, /flume_master_commands_total\{state="FAILED"\} [1-9]/);
});

test('a restart (SIGTERM, then kill -9) keeps every config, mapping and command', async () => {
  assert.equal((await admin.exec('map', 'hostX', 'web01')).state, 2);
  const configs = await admin.configs();
  const commands = await admin.commands(1000);
  admin.close();
  await master.proc.stop();
  master = await startMasterProc(['--data', dir.path]);
  admin = new AdminClient(master.address);
  assert.deepEqual(await admin.configs(), configs);
  assert.deepEqual((await admin.mappings('hostX'))[0].logical, ['web01']);
  assert.deepEqual(await admin.commands(1000), commands);
  const id = await admin.submit('config', 'late', 'text("/x")', 'console');
  await admin.waitDone(id);
  await master.proc.kill9();
  admin.close();
  master = await startMasterProc(['--data', dir.path]);
  admin = new AdminClient(master.address);
  assert.ok(await configOf(admin, 'late'));
  assert.equal((await admin.status(id)).state, 2);
  const next = await admin.submit('refresh', 'late');
  assert.ok(next > id, 'command ids keep growing across restarts');
});

test('after a restart the master still lists the nodes it knew: one that died meanwhile is LOST', async () => {
  assert.equal((await admin.exec('config', 'ghost', 'text("/tmp/g")', 'console')).state, 2);
  const node = await startTestNode('ghost', [master.address]);
  cleanups.push(() => node.stop());
  await waitFor(async () => (await admin.nodes()).find((n) => n.physical === 'ghost' && n.state === 3), 20_000, 'ghost ACTIVE');
  admin.close();
  await master.proc.stop();
  await node.kill9();
  master = await startMasterProc(['--data', dir.path, '--heartbeat-ms', '200']);
  admin = new AdminClient(master.address);
  await waitFor(
    async () => (await admin.nodes()).find((n) => n.physical === 'ghost' && n.state === 5),
    20_000,
    'ghost LOST after the restart',
  );
});

test('--check-components: a spec naming an unknown component is refused, a known one accepted', async () => {
  const other = tempDir('flume-master-check-');
  const m = await startMasterProc(['--data', other.path, '--check-components']);
  const a = new AdminClient(m.address);
  try {
    const bad = await a.exec('config', 'x', 'nosuch(1)', 'console');
    assert.equal(bad.state, 3);
    assert.match(bad.message, /1:1: unknown source nosuch; known sources: .*text/);
    const good = await a.exec('config', 'x', 'text("/tmp/x")', 'console');
    assert.equal(good.state, 2, good.message);
  } finally {
    a.close();
    await m.proc.stop();
    other.remove();
  }
});
