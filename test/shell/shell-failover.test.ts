/**
 * flume-shell with several masters: `connect a,b` takes the first that answers, and when the
 * master in use dies mid-session the next command moves to the next master of the list.
 * Two embedded-store masters (real processes) with different contents tell which one
 * answered; then two masters sharing a real ZooKeeper, where the second serves what the first
 * did.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { freePort, spawnFlume, tempDir, type Proc } from '../harness/procs';
import { startZooKeeper } from '../harness/zk';
import { RunningMaster, describeRun, runShell, startMaster } from './helpers';

let masterA: RunningMaster;
let masterB: RunningMaster;
let work: ReturnType<typeof tempDir>;
let env: Record<string, string>;
const shells: Proc[] = [];

before(async () => {
  work = tempDir('flume-shell-failover-');
  env = { FLUME_SHELL_HISTORY: path.join(work.path, 'history') };
  [masterA, masterB] = await Promise.all([startMaster(), startMaster()]);
  const run = await runShell(['-q', '-c', masterB.address, '-e', `exec config onlyOnB 'syslogTcp(5200)' null`], { env });
  assert.equal(run.code, 0, describeRun(run));
});

after(async () => {
  for (const s of shells) await s.stop();
  await masterA?.stop();
  await masterB?.stop();
  work?.remove();
});

test('connect a list: the first master that answers', async () => {
  const dead = `127.0.0.1:${await freePort()}`;
  const run = await runShell(['-c', `${dead},${masterB.address}`, '-e', 'getconfigs'], { env });
  assert.equal(run.code, 0, describeRun(run));
  assert.match(run.stdout, new RegExp(`Connected to Flume master ${masterB.address.replace(/\./g, '\\.')}`));
  assert.match(run.stdout, /^onlyOnB\s/m);
  const none = await runShell(['-c', `${dead},${dead}`, '-e', 'getconfigs'], { env });
  assert.equal(none.code, 1, describeRun(none));
  assert.match(none.stderr, /no master answered/);
});

test('the master in use dies: the next commands go to the next master of the list', async () => {
  const shell = spawnFlume('shell', ['-c', `${masterA.address},${masterB.address}`], { env });
  shells.push(shell);
  shell.write('getconfigs\n');
  await shell.waitForLine(/Master has no logical node configurations\./);
  await masterA.proc.stop();

  // A Submit that could not reach its master was never queued: it goes to the next one.
  let mark = shell.output().length;
  shell.write(`exec config viaB 'syslogTcp(5201)' null\n`);
  await shell.waitForLine(new RegExp(`now connected to ${masterB.address.replace(/\./g, '\\.')}`), 30_000, mark);
  await shell.waitForLine(/Command succeeded: .*viaB/, 30_000, mark);
  mark = shell.output().length;
  shell.write('getconfigs\n');
  await shell.waitForLine(/^viaB\s/m, 30_000, mark);
  assert.match(shell.output().slice(mark), /^onlyOnB\s/m);
  shell.child.stdin!.end();
  const exit = await shell.exited;
  assert.equal(exit.code, 0, shell.output());
});

test('masters sharing ZooKeeper: what one master did is served by the next after it dies', async (t) => {
  const zk = await startZooKeeper();
  t.after(() => zk.stop());
  const connect = await zk.chroot();
  const zkMasters: RunningMaster[] = [];
  t.after(async () => {
    for (const m of zkMasters) await m.stop();
  });
  for (let i = 1; i <= 2; i++) {
    zkMasters.push(await startMaster(['--zk', connect, '--id', `m${i}`, '--session-timeout-ms', '2000']));
  }
  const [first, second] = zkMasters;
  const list = `${first.address},${second.address}`;
  const configured = await runShell(['-q', '-c', list, '-e', `exec config zkNode 'syslogTcp(5210)' null`], { env });
  assert.equal(configured.code, 0, describeRun(configured));

  const shell = spawnFlume('shell', ['-c', list], { env });
  shells.push(shell);
  shell.write('getconfigs\n');
  await shell.waitForLine(/^zkNode\s/m);
  await first.proc.kill9();

  // Served by the second master, and a new command still executes (the second master takes
  // over the duties of a leader once the first one's ZooKeeper session expires).
  const mark = shell.output().length;
  shell.write(`exec config zkNode2 'syslogTcp(5211)' null\ngetconfigs\n`);
  await shell.waitForLine(new RegExp(`now connected to ${second.address.replace(/\./g, '\\.')}`), 30_000, mark);
  await shell.waitForLine(/^zkNode2\s/m, 90_000, mark);
  assert.match(shell.output().slice(mark), /^zkNode\s/m);
  shell.child.stdin!.end();
  assert.equal((await shell.exited).code, 0, shell.output());
});
