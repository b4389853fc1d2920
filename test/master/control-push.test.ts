/**
 * A commit reaches the node it concerns at once, through its control stream, and not at its next
 * report: the master's heartbeat interval here is a minute, so anything a node sees within
 * PUSH_MS of the commit was pushed on the change. Covers a config change, a map and an unmap, a
 * decommission, and a collector's change reaching an agent that follows its chain (the commit
 * names the collector, the push goes to the agent). The master pushes a change only to the
 * streams it can concern (master/state-diff.ts); these are the cases that must not be missed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../core/logger';
import { MASTER_DEFAULTS, startMaster, type RunningMaster } from '../../master/master';
import { NodeStateCode } from '../../proto/messages';
import { MasterClient, type DesiredSet } from '../../node/master-client';
import { tempDir, waitFor } from '../harness/procs';
import { TestCerts } from '../harness/tls';
import { AdminClient } from './helpers';

const certs = TestCerts.shared();
/** Well under the heartbeat interval: only a push arrives this soon. */
const PUSH_MS = 3_000;
const HEARTBEAT_MS = 60_000;

const dir = tempDir('flume-control-push-');
let master: RunningMaster;
let admin: AdminClient;
const clients = new Map<string, MasterClient>();
const desired = new Map<string, DesiredSet>();

function client(physical: string, role: 'agent' | 'collector'): MasterClient {
  const c = new MasterClient({
    masters: [`127.0.0.1:${master.grpcPort}`],
    physical,
    role,
    logger: silentLogger(),
    callTimeoutMs: PUSH_MS,
    tls: certs.context(role, physical),
  });
  c.on('desired', (d: DesiredSet) => desired.set(physical, d));
  clients.set(physical, c);
  c.start();
  return c;
}

async function commit(...args: string[]): Promise<void> {
  const [command, ...rest] = args;
  assert.equal((await admin.exec(command, ...rest)).state, 2, `${args.join(' ')} succeeds`);
}

const pushed = (what: string, cond: () => unknown): Promise<unknown> => waitFor(cond, PUSH_MS, `${what} within ${PUSH_MS} ms`);

before(async () => {
  master = await startMaster(
    {
      ...MASTER_DEFAULTS,
      port: 0,
      httpPort: 0,
      host: '127.0.0.1',
      data: dir.path,
      heartbeatMs: HEARTBEAT_MS,
      tls: certs.context('master', 'm'),
    },
    silentLogger(),
  );
  admin = new AdminClient(`127.0.0.1:${master.grpcPort}`);
  for (const p of ['pa', 'pb']) client(p, 'agent');
  client('pc', 'collector');
  await waitFor(async () => (await admin.nodes()).length === 3, 10_000, 'three nodes streaming');
});

after(async () => {
  for (const c of clients.values()) await c.stop();
  admin?.close();
  await master?.stop();
  dir.remove();
});

test('a config change reaches its node at once', async () => {
  await commit('config', 'pa', 'text("/tmp/a")', 'console');
  await pushed('pa desired', () => desired.get('pa')?.get('pa')?.source === 'text("/tmp/a")');
  await commit('config', 'pa', 'text("/tmp/a2")', 'console');
  await pushed('pa changed', () => desired.get('pa')?.get('pa')?.source === 'text("/tmp/a2")');
});

test('a map and an unmap reach the physical node at once', async () => {
  await commit('multiconfig', 'l1 : text("/l1") | console ;');
  await commit('map', 'pb', 'l1');
  await pushed('l1 on pb', () => desired.get('pb')?.has('l1'));
  await commit('config', 'l1', 'text("/l1b")', 'console');
  await pushed('l1 changed on pb', () => desired.get('pb')?.get('l1')?.source === 'text("/l1b")');
  await commit('unmap', 'pb', 'l1');
  await pushed('l1 off pb', () => desired.get('pb') && !desired.get('pb')!.has('l1'));
});

test('a decommission reaches its node at once', async () => {
  assert.ok(desired.get('pa')?.has('pa'));
  await commit('decommission', 'pa');
  await pushed('pa decommissioned', () => desired.get('pa')?.size === 0);
});

test("a collector's change reaches the agents that follow its chain at once", async () => {
  const pc = clients.get('pc')!;
  const pb = clients.get('pb')!;
  await commit('config', 'pc', 'collectorSource(35853)', 'null');
  await pushed('pc desired', () => desired.get('pc')?.has('pc'));
  pc.setListen('pc', '127.0.0.1:35853');
  pc.reportState('pc', 'ACTIVE', desired.get('pc')!.get('pc')!.version);
  await waitFor(
    async () => (await admin.nodes()).find((n) => n.physical === 'pc' && n.state === NodeStateCode.ACTIVE),
    10_000,
    'pc ACTIVE',
  );
  await waitFor(async () => (await pb.getChain('pb', 'default')).collectors.includes('127.0.0.1:35853'), 10_000, 'pc in the chain of pb');
  // The commit names pc only; pb's chain changes with it.
  await commit('config', 'pc', 'other', 'collectorSource(35853)', 'null');
  await pushed('pc out of the chain of pb', async () => (await pb.getChain('pb', 'default')).collectors.length === 0);
});
