/**
 * `deploy/local-ha.sh stop` and `status` on their own (no cluster needed): TERM first, KILL after
 * the grace period for a process that ignores TERM, and never a signal to a pid that is not one
 * the script started (its command line must name the HA dir: a reused pid is left alone).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT, waitFor } from '../harness/procs';

const run = promisify(execFile);
const SCRIPT = path.join(REPO_ROOT, 'deploy', 'local-ha.sh');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test(
  'stop: TERM, then KILL after the grace period; pids not ours are left alone; status says what runs',
  { timeout: 60_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-ha-stop-'));
    const children: ChildProcess[] = [];
    t.after(() => {
      for (const c of children) if (c.pid !== undefined && alive(c.pid)) process.kill(c.pid, 'SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    });
    // A process the script would have started: its command line names the HA dir.
    // Each says "ready" once its handlers are installed, so no signal comes before them.
    const ready: Array<Promise<void>> = [];
    const start = (ignoreTerm: boolean, mark: string): ChildProcess => {
      const code = `${ignoreTerm ? "process.on('SIGTERM', () => {});" : ''} setInterval(() => {}, 1000); console.log('ready');`;
      const child = spawn(process.execPath, ['-e', code, mark], { stdio: ['ignore', 'pipe', 'ignore'] });
      children.push(child);
      ready.push(new Promise((resolve) => child.stdout!.once('data', () => resolve())));
      return child;
    };
    const polite = start(false, dir);
    const stubborn = start(true, dir);
    const stranger = start(false, '/somewhere/else'); // same pid file, not ours
    fs.mkdirSync(path.join(dir, 'run'));
    fs.writeFileSync(path.join(dir, 'run', 'agent1.pid'), String(polite.pid));
    fs.writeFileSync(path.join(dir, 'run', 'coll1.pid'), String(stubborn.pid));
    fs.writeFileSync(path.join(dir, 'run', 'master1.pid'), String(stranger.pid));
    fs.writeFileSync(
      path.join(dir, 'ports.env'),
      [
        "ZK_PORTS='1 2 3'",
        "MASTER_PORTS='4 5 6'",
        "MASTER_HTTP_PORTS='7 8 9'",
        "NODE_NAMES='coll1 coll2 agent1 agent2 agent3'",
        "NODE_HTTP_PORTS='10 11 12 13 14'",
        "COLLECTOR_PORTS='15 16'",
      ].join('\n'),
    );
    await Promise.all(ready);
    const env = { ...process.env, FLUME_HA_DIR: dir, FLUME_HA_GRACE: '2' };

    const status = await run('bash', [SCRIPT, 'status'], { env });
    assert.match(status.stdout, new RegExp(`agent1 +pid ${polite.pid} +running`));
    assert.match(status.stdout, new RegExp(`coll1 +pid ${stubborn.pid} +running`));
    assert.match(status.stdout, /master1 +stopped/, 'a pid that is not ours does not count as running');
    assert.match(status.stdout, /2 of 12 processes running/);

    const stopped = await run('bash', [SCRIPT, 'stop'], { env, timeout: 30_000 });
    assert.match(stopped.stdout, new RegExp(`coll1 \\(pid ${stubborn.pid}\\) did not stop within 2s; killing it`));
    assert.doesNotMatch(stopped.stdout, /agent1 .*killing/);
    assert.match(stopped.stdout, /all stopped/);
    await waitFor(() => !alive(polite.pid!) && !alive(stubborn.pid!), 10_000, 'both of ours gone');
    assert.equal(polite.signalCode ?? (await new Promise((r) => polite.once('exit', (_c, s) => r(s)))), 'SIGTERM');
    assert.equal(stubborn.signalCode ?? (await new Promise((r) => stubborn.once('exit', (_c, s) => r(s)))), 'SIGKILL');
    assert.ok(alive(stranger.pid!), 'the stranger still runs');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'run')), [], 'every pid file removed');
  },
);
