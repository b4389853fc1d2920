/**
 * Flume OG's deployment loop through the shell with a real `flume-node` agent process: the
 * node heartbeats, `exec config` gives it a flow, `waitForNodesActive` sees it run (again
 * after a new config), `decommission` stops it and `waitForNodesDone` sees that.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { freePort, spawnFlume, tempDir, type Proc } from '../harness/procs';
import { RunningMaster, ShellRun, describeRun, runShell, startMaster } from './helpers';

let master: RunningMaster;
let work: ReturnType<typeof tempDir>;
let env: Record<string, string>;
let agent: Proc;

before(async () => {
  work = tempDir('flume-shell-node-');
  env = { FLUME_SHELL_HISTORY: path.join(work.path, 'history') };
  master = await startMaster();
  agent = spawnFlume('node', [
    '--role',
    'agent',
    '--master',
    master.address,
    '-n',
    'realAgent',
    '--data',
    path.join(work.path, 'agent'),
    '--http-port',
    '0',
  ]);
});

after(async () => {
  await agent?.stop();
  await master?.stop();
  work?.remove();
});

function sh(line: string): Promise<ShellRun> {
  return runShell(['-q', '-c', master.address, '-e', line], { env });
}

function ok(run: ShellRun): ShellRun {
  assert.equal(run.code, 0, `${describeRun(run)}\n--- agent\n${agent.tail()}`);
  return run;
}

test('config a real agent, wait until ACTIVE, decommission it, wait until done', async () => {
  const port = await freePort();
  ok(await sh(`exec config realAgent 'textTcp(${port})' 'null'`));
  ok(await sh('waitForNodesActive 60000 realAgent'));
  assert.match(ok(await sh('getnodestatus')).stdout, /^\trealAgent --> ACTIVE$/m);
  // A new config: the wait is for the new version to be active (see node-views.test.ts).
  const port2 = await freePort();
  ok(await sh(`exec config realAgent 'textTcp(${port2})' 'null'`));
  ok(await sh('waitForNodesActive 60000 realAgent'));
  ok(await sh('exec decommission realAgent'));
  ok(await sh('waitForNodesDone 60000 realAgent'));
});
