/**
 * node/master-client against a real master (in this process, real gRPC on loopback): the
 * desired set follows configs and mappings, reported states reach the master, a dead master in
 * the list is skipped.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../core/logger';
import { MASTER_DEFAULTS, startMaster, type RunningMaster } from '../../master/master';
import { NodeStateCode } from '../../proto/messages';
import { MasterClient, type DesiredSet } from '../../node/master-client';
import { freePort, tempDir, waitFor } from '../harness/procs';
import { TestCerts } from '../harness/tls';
import { AdminClient } from './helpers';

const certs = TestCerts.shared();

const dir = tempDir('flume-master-client-');
let master: RunningMaster;
let admin: AdminClient;
let client: MasterClient;
const seen: DesiredSet[] = [];

before(async () => {
  master = await startMaster(
    { ...MASTER_DEFAULTS, port: 0, httpPort: 0, host: '127.0.0.1', data: dir.path, heartbeatMs: 100, tls: certs.context('master', 'm') },
    silentLogger(),
  );
  admin = new AdminClient(`127.0.0.1:${master.grpcPort}`);
  // The first master of the list is a port nobody listens on: the client must move past it.
  const dead = await freePort();
  client = new MasterClient({
    masters: [`127.0.0.1:${dead}`, `127.0.0.1:${master.grpcPort}`],
    physical: 'phys1',
    role: 'collector',
    logger: silentLogger(),
    callTimeoutMs: 500,
    tls: certs.context('collector', 'phys1'),
  });
  client.on('desired', (d) => seen.push(d));
  client.start();
});

after(async () => {
  await client?.stop();
  admin?.close();
  await master?.stop();
  dir.remove();
});

const last = (): DesiredSet | undefined => seen[seen.length - 1];

test('an unmapped physical node is told to run a logical node of its own name once configured', async () => {
  await waitFor(() => client.master === `127.0.0.1:${master.grpcPort}`, 10_000, 'the client to reach the live master');
  assert.equal(seen.length, 0, 'no config yet: nothing desired');
  assert.equal((await admin.exec('config', 'phys1', 'text("/tmp/p")', 'console')).state, 2);
  await waitFor(() => last()?.get('phys1'), 10_000, 'phys1 desired');
  assert.equal(last()!.get('phys1')!.source, 'text("/tmp/p")');
  assert.equal(last()!.get('phys1')!.flow, 'default');
});

test('reported states reach the master; unreported desired nodes show IDLE', async () => {
  const version = last()!.get('phys1')!.version;
  await waitFor(
    async () => (await admin.nodes()).find((n) => n.physical === 'phys1' && n.logical[0]?.state === NodeStateCode.IDLE),
    10_000,
    'IDLE',
  );
  client.reportState('phys1', 'ACTIVE', version);
  const node = await waitFor(
    async () => (await admin.nodes()).find((n) => n.physical === 'phys1' && n.state === NodeStateCode.ACTIVE),
    10_000,
    'ACTIVE',
  );
  assert.equal(node.role, 'collector');
  assert.equal(node.logical[0].configVersion, version);
});

test('mapping changes the set: new nodes added, the implicit one dropped, unmapped ones removed', async () => {
  assert.equal((await admin.exec('multiconfig', 'l1 : text("/a") | console ;\nl2 : text("/b") | console ;')).state, 2);
  assert.equal((await admin.exec('map', 'phys1', 'l1')).state, 2);
  assert.equal((await admin.exec('map', 'phys1', 'l2')).state, 2);
  await waitFor(() => last()?.has('l2') && last()!.has('l1') && !last()!.has('phys1'), 10_000, 'l1 and l2 desired, phys1 not');
  const before = seen.length;
  const v1 = last()!.get('l1')!.version;
  assert.equal((await admin.exec('refresh', 'l2')).state, 2);
  await waitFor(() => seen.length > before, 10_000, 'a new desired set');
  assert.equal(last()!.get('l1')!.version, v1, 'l1 unchanged');
  assert.ok(last()!.get('l2')!.version > v1);
  assert.equal((await admin.exec('unmap', 'phys1', 'l1')).state, 2);
  await waitFor(() => last() && !last()!.has('l1'), 10_000, 'l1 removed');
  assert.equal((await admin.exec('unconfig', 'l2')).state, 2);
  await waitFor(() => last()?.size === 0, 10_000, 'l2 removed once unconfigured');
});
