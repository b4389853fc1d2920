/**
 * `npm run cluster` as a newcomer runs it: start it, let it move at least 10,000 generated lines
 * and 100 lines sent with `logger`, stop it with SIGINT, and count what reached storage: every
 * line exactly once, exit 0, no process left behind.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { storageLines } from './harness/storage';

const LAUNCHER = path.join(__dirname, '..', 'deploy', 'cluster.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-cluster-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function storedLines(): string[] {
  return storageLines(path.join(dir, 'logs'));
}

/** Pids of processes whose command line mentions the cluster's directory. */
function leftovers(): number[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
  return ps
    .split('\n')
    .filter((l) => l.includes(dir))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

test('npm run cluster moves generated and logger lines into storage, each once, and stops cleanly', { timeout: 180_000 }, async () => {
  const child = spawn(process.execPath, [LAUNCHER], { env: { ...process.env, FLUME_CLUSTER_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const until = async (check: () => boolean, what: string, ms = 90_000): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${output.slice(-3000)}`);
        if (child.exitCode !== null) throw new Error(`cluster exited early (${child.exitCode})\n${output}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    await until(() => /send syslog\s+logger -n 127\.0\.0\.1 -P (\d+)/.test(output), 'the cluster to come up');
    const port = /send syslog\s+logger -n 127\.0\.0\.1 -P (\d+)/.exec(output)![1];
    const loggerLines = Array.from({ length: 100 }, (_, i) => `logger-line-${String(i + 1).padStart(3, '0')}`);
    const sent = spawnSync('logger', ['-n', '127.0.0.1', '-P', port, '-T', '--rfc5424', '-t', 'clustertest'], {
      input: loggerLines.join('\n') + '\n',
    });
    assert.equal(sent.status, 0, `logger failed: ${sent.stderr}`);
    const accepted = (): number => Number([...output.matchAll(/accepted=(\d+)/g)].at(-1)?.[1] ?? 0);
    const stored = (): number => Number([...output.matchAll(/stored\(e2e acked\)=(\d+)/g)].at(-1)?.[1] ?? 0);
    await until(() => accepted() >= 10_100 && stored() >= 10_100, '10,000 generated and 100 logger lines to be stored');
  } finally {
    child.kill('SIGINT');
  }
  const code = await exited;
  assert.equal(code, 0, `exit code\n${output.slice(-2000)}`);
  assert.match(output, /Stopped 4 processes \(4 cleanly\)/);
  assert.match(output, /^\d\d:\d\d:\d\d \+\d+s accepted=\d+ /m, 'the live line starts with the time of day');
  assert.doesNotMatch(output, /previous run's backlog/, 'a first run has no previous backlog');
  assert.deepEqual(leftovers(), [], 'no process of the cluster is left');

  const lines = storedLines();
  const app = lines.filter((l) => /^app-\d+ /.test(l)).map((l) => Number(l.slice(4, 13)));
  const max = Math.max(...app);
  assert.ok(max >= 10_000, `at least 10,000 generated lines stored, highest ${max}`);
  const seen = new Set(app);
  assert.equal(seen.size, app.length, 'no generated line stored twice');
  for (let n = 1; n <= max; n++) assert.ok(seen.has(n), `generated line ${n} missing`);
  const fromLogger = lines.filter((l) => l.includes('logger-line-'));
  assert.equal(fromLogger.length, 100, 'each logger line stored once');
  assert.equal(new Set(fromLogger).size, 100);
});
