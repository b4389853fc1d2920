/**
 * Signals, with real processes: SIGHUP makes a master and a node re-read the site config and say
 * what changed while they keep serving; SIGTERM stops them cleanly (exit 0); the `npm run
 * cluster` launcher ended by HUP or by a closed stdout pipe leaves no process behind.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { httpGet, type Proc, spawnFlume, statusBase, tempDir, waitFor } from '../harness/procs';
import { AdminClient } from '../master/helpers';

// log.level comes from the file here: FLUME_LOG_LEVEL would override it.
delete process.env.FLUME_LOG_LEVEL;
const dir = tempDir('flume-signals-');
const procs: Proc[] = [];
after(async () => {
  await Promise.all(procs.map((p) => p.kill9()));
  dir.remove();
});

test('SIGHUP makes a master reload its site config and say what changed; it keeps serving; SIGTERM stops it with 0', async () => {
  const conf = path.join(dir.path, 'master.conf');
  fs.writeFileSync(conf, 'log.level = info\n');
  const proc = spawnFlume('master', [
    'start',
    '--port',
    '0',
    '--http-port',
    '0',
    '--host',
    '127.0.0.1',
    '--data',
    path.join(dir.path, 'master'),
    '--conf',
    conf,
  ]);
  procs.push(proc);
  const port = (await proc.waitForLine(/Master started\..*grpc_port=(\d+)/))[1];
  const m = { proc, address: `127.0.0.1:${port}` };
  const admin = new AdminClient(m.address);
  try {
    fs.writeFileSync(conf, 'log.level = debug\nmaster.lost_after = 7\n');
    let from = m.proc.output().length;
    process.kill(m.proc.pid, 'SIGHUP');
    await m.proc.waitForLine(
      /Site config reloaded\. changed=master\.lost_after,log\.level now=log\.level at_restart=master\.lost_after/,
      10_000,
      from,
    );
    assert.ok((await admin.info()).id, 'the master answers after the reload');
    assert.equal((await admin.exec('config', 'hup1', 'null', 'null')).state, 2);

    // A broken file is refused as a whole; the master runs on.
    fs.writeFileSync(conf, 'log.levle = debug\n');
    from = m.proc.output().length;
    process.kill(m.proc.pid, 'SIGHUP');
    await m.proc.waitForLine(/Site config not reloaded.*did you mean log\.level/s, 10_000, from);
    assert.ok((await admin.info()).id);
  } finally {
    admin.close();
  }
  const status = await m.proc.stop();
  assert.equal(status.code, 0, m.proc.tail());
  assert.match(m.proc.output(), /Stopping\. signal=SIGTERM/);
});

test('SIGHUP makes a node reload its site config and log it; it keeps serving; SIGTERM stops it with 0', async () => {
  const conf = path.join(dir.path, 'node.conf');
  fs.writeFileSync(conf, 'log.level = info\n');
  const input = path.join(dir.path, 'in.log');
  fs.writeFileSync(input, '');
  const node = spawnFlume('node', [
    '--standalone',
    '-n',
    'hup',
    '-c',
    `hup : tail("${input}") | null ;`,
    '--http-port',
    '0',
    '--data',
    path.join(dir.path, 'node'),
    '--conf',
    conf,
  ]);
  procs.push(node);
  const base = await statusBase(node);
  await node.waitForLine(/standalone node running/);
  fs.writeFileSync(conf, 'log.level = debug\nnode.channel = wal\n');
  const from = node.output().length;
  process.kill(node.pid, 'SIGHUP');
  await node.waitForLine(/Site config reloaded\. changed=node\.channel,log\.level now=log\.level at_restart=node\.channel/, 10_000, from);
  assert.equal((await httpGet(`${base}/status`)).status, 200);
  const status = await node.stop();
  assert.equal(status.code, 0, node.tail());
});

/** Pids of processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
  return ps
    .split('\n')
    .filter((l) => l.includes(text) && !l.includes('ps -eo'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

for (const how of ['SIGHUP', 'closed stdout'] as const) {
  test(`the cluster launcher ended by ${how} stops every process it started`, { timeout: 120_000 }, async () => {
    const base = path.join(dir.path, `cluster-${how.replace(/\W/g, '')}`);
    const launcher = spawn(process.execPath, [path.join(__dirname, '..', '..', 'deploy', 'cluster.js')], {
      env: { ...process.env, FLUME_CLUSTER_DIR: base },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    launcher.stdout.on('data', (c: Buffer) => (output += c.toString()));
    launcher.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => launcher.on('exit', (code) => resolve(code)));
    try {
      await waitFor(
        () => output.includes('Local Flume cluster is up') || launcher.exitCode !== null,
        90_000,
        `the cluster to start:\n${output}`,
      );
      assert.equal(launcher.exitCode, null, output);
      assert.equal(processesMentioning(base).length, 4, 'master, collector and two agents run');
      if (how === 'SIGHUP') launcher.kill('SIGHUP');
      else launcher.stdout.destroy();
      await exited;
      await waitFor(
        () => processesMentioning(base).length === 0,
        30_000,
        `every child of the launcher to exit: ${processesMentioning(base).join(' ')}`,
      );
      if (how === 'SIGHUP') assert.match(output, /Stopping \(SIGHUP\)/);
    } finally {
      for (const pid of processesMentioning(base)) process.kill(pid, 'SIGKILL');
      launcher.kill('SIGKILL');
    }
  });
}
