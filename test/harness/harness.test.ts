import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { isNodeExists, ZkClient } from '../../master/store/zk';
import { spawnScript, tempDir, waitFor } from './procs';
import { startEnsemble, startZooKeeper } from './zk';
import * as fs from 'node:fs';
import * as path from 'node:path';

test('a standalone ZooKeeper serves, each chroot is its own tree, stop() ends the process', async () => {
  const zk = await startZooKeeper();
  after(() => zk.stop());
  const a = await zk.chroot();
  const b = await zk.chroot();
  assert.notEqual(a, b);
  const client = new ZkClient({ connect: a, sessionTimeoutMs: 4000, connectTimeoutMs: 10_000 });
  await client.connect();
  await client.create('/x', Buffer.from('1'));
  assert.deepEqual(await client.getChildren('/'), ['x']);
  client.close();
  const other = new ZkClient({ connect: b, sessionTimeoutMs: 4000, connectTimeoutMs: 10_000 });
  await other.connect();
  assert.deepEqual(await other.getChildren('/'), []);
  other.close();
  const pid = zk.servers[0].pid!;
  await zk.stop();
  assert.throws(() => process.kill(pid, 0));
});

test('a three-server ensemble elects a leader and elects another after kill -9 of it', async () => {
  const zk = await startEnsemble(3);
  after(() => zk.stop());
  const leader = await waitFor(() => zk.leaderIndex().then((i) => (i === undefined ? undefined : i + 1)), 30_000, 'a ZooKeeper leader');
  const connect = await zk.chroot();
  const client = new ZkClient({ connect, sessionTimeoutMs: 10_000, connectTimeoutMs: 10_000 });
  await client.connect();
  await client.create('/before', Buffer.from('x'));
  await zk.kill(leader - 1);
  const next = await waitFor(() => zk.leaderIndex().then((i) => (i === undefined ? undefined : i + 1)), 30_000, 'a new ZooKeeper leader');
  assert.notEqual(next, leader);
  // A create whose answer was lost with the old leader may have been applied: retried, it finds
  // its own node, which counts as written.
  await waitFor(
    () =>
      client.create('/after', Buffer.from('y')).then(
        () => true,
        (err) => {
          if (isNodeExists(err)) return true;
          throw err;
        },
      ),
    30_000,
    'a write after the leader died',
  );
  assert.deepEqual((await client.getChildren('/')).sort(), ['after', 'before']);
  client.close();
});

test('a spawned process is captured, waited for and stopped by pid', async () => {
  const dir = tempDir();
  after(() => dir.remove());
  const script = path.join(dir.path, 'child.js');
  fs.writeFileSync(
    script,
    "process.on('SIGTERM', () => { console.log('bye'); process.exit(0); }); setInterval(() => {}, 1000); console.log('ready on 1234');",
  );
  const proc = spawnScript(script, []);
  const m = await proc.waitForLine(/ready on (\d+)/);
  assert.equal(m[1], '1234');
  const status = await proc.stop();
  assert.equal(status.code, 0);
  assert.match(proc.output(), /bye/);
  const proc2 = spawnScript(script, []);
  await proc2.waitForLine(/ready/);
  const s2 = await proc2.kill9();
  assert.equal(s2.signal, 'SIGKILL');
});
