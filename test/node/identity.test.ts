/**
 * Node identity, with real processes: a second live flume-node claiming a physical node name
 * another live process holds (what two roles on one host defaulting to the host name did) is
 * refused by the master and shown in getnodestatus as ERROR naming the holder; the holder keeps
 * the name and its config. Once the holder is killed with -9, the newcomer is taken as its
 * restart and gets the name.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { NodeStateCode } from '../../proto/messages';
import { spawnFlume, tempDir, waitFor, type Proc } from '../harness/procs';
import { AdminClient, startMasterProc, type MasterProc } from '../master/helpers';

const dir = tempDir('flume-identity-');
let master: MasterProc;
let admin: AdminClient;
const procs: Proc[] = [];

before(async () => {
  master = await startMasterProc(['--data', path.join(dir.path, 'master'), '--heartbeat-ms', '200']);
  admin = new AdminClient(master.address);
});

after(async () => {
  for (const p of procs) await p.stop();
  admin?.close();
  await master?.proc.stop();
  dir.remove();
});

function node(role: string, data: string): Proc {
  const p = spawnFlume('node', ['--master', master.address, '-n', 'samename', '--role', role, '--data', path.join(dir.path, data)], {
    env: { FLUME_LOG_LEVEL: 'info' },
  });
  procs.push(p);
  return p;
}

test(
  'a second live process with a name another holds is refused and shown; after kill -9 of the holder it gets the name',
  { timeout: 120_000 },
  async () => {
    fs.writeFileSync(path.join(dir.path, 'in.log'), '');
    assert.equal((await admin.exec('config', 'samename', `tail("${path.join(dir.path, 'in.log')}")`, 'null')).state, 2);
    const first = node('agent', 'agent');
    await waitFor(
      async () => (await admin.nodes()).find((n) => n.physical === 'samename' && n.state === NodeStateCode.ACTIVE),
      30_000,
      'the first node ACTIVE',
    );

    const second = node('collector', 'collector');
    await second.waitForLine(/physical node name samename is held by another live process/, 30_000);
    const shown = await waitFor(
      async () => {
        const entries = (await admin.nodes()).filter((n) => n.physical === 'samename');
        return entries.length === 2 ? entries : undefined;
      },
      10_000,
      'both claims in getnodestatus',
    );
    const holder = shown.find((n) => n.state !== NodeStateCode.ERROR);
    const refused = shown.find((n) => n.state === NodeStateCode.ERROR);
    assert.equal(holder?.role, 'agent', JSON.stringify(shown));
    assert.equal(holder?.state, NodeStateCode.ACTIVE);
    assert.equal(refused?.role, 'collector');
    assert.match(refused!.logical[0].message, /held by another live process/);
    // The refused process runs nothing: it never got a config.
    assert.doesNotMatch(second.output(), /Desired logical nodes changed/);

    await first.kill9();
    const taken = await waitFor(
      async () => {
        const entries = (await admin.nodes()).filter((n) => n.physical === 'samename');
        return entries.length === 1 && entries[0].role === 'collector' && entries[0].state !== NodeStateCode.ERROR ? entries[0] : undefined;
      },
      30_000,
      'the second process to get the name',
    );
    assert.equal(taken.host.length > 0, true);
    await second.waitForLine(/Desired logical nodes changed/, 30_000);
  },
);
