/**
 * One process per data dir, with real processes: a second master or node on a data dir in use
 * exits non-zero naming the holder's pid; once the holder is killed with -9, a new one takes the
 * stale lock over (and says so) and starts. The same for a collector's part of a storage's state
 * (its writer id in `<storage>/.flume/`): a second process with that writer id cannot open it.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { type Proc, spawnFlume, tempDir } from '../harness/procs';
import { startMasterProc } from '../master/helpers';

const dir = tempDir('flume-lock-');
const procs: Proc[] = [];
after(async () => {
  await Promise.all(procs.map((p) => p.kill9()));
  dir.remove();
});

function track(p: Proc): Proc {
  procs.push(p);
  return p;
}

/** Whether `data` holds a lock (a symbolic link, core/lock.ts: `existsSync` would follow it). */
function lockExists(data: string): boolean {
  try {
    fs.lstatSync(path.join(data, 'flume.lock'));
    return true;
  } catch {
    return false;
  }
}

test('a second master on a data dir in use exits naming the pid; after kill -9 a new one starts', async () => {
  const data = path.join(dir.path, 'master');
  const first = await startMasterProc(['--data', data]);
  track(first.proc);

  const second = track(spawnFlume('master', ['start', '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--data', data]));
  const status = await second.exited;
  assert.equal(status.code, 1, second.output());
  assert.match(second.output(), new RegExp(`in use by process ${first.proc.pid}\\b`));
  assert.ok(first.proc.running, 'the first master keeps running');

  await first.proc.kill9();
  assert.ok(lockExists(data), 'kill -9 leaves the lock file behind');
  const third = await startMasterProc(['--data', data]);
  track(third.proc);
  assert.match(third.proc.output(), new RegExp(`Took over a stale lock.*stale_pid=${first.proc.pid}\\b`));
  assert.equal((await third.proc.stop()).code, 0);
  assert.ok(!lockExists(data), 'a clean stop removes the lock');
});

test('a second node on a data dir in use exits naming the pid; after kill -9 a new one starts', async () => {
  const data = path.join(dir.path, 'node');
  const input = path.join(dir.path, 'input.log');
  fs.writeFileSync(input, '');
  const args = ['--standalone', '-n', 'locked', '-c', `locked : tail("${input}") | null ;`, '--http-port', '0', '--data', data];
  const running = /standalone node running/;
  const first = track(spawnFlume('node', args, { env: { FLUME_LOG_LEVEL: 'info' } }));
  await first.waitForLine(running);

  const second = track(spawnFlume('node', args, { env: { FLUME_LOG_LEVEL: 'info' } }));
  const status = await second.exited;
  assert.equal(status.code, 1, second.output());
  assert.match(second.output(), new RegExp(`in use by process ${first.pid}\\b`));
  assert.ok(first.running, 'the first node keeps running');

  await first.kill9();
  const third = track(spawnFlume('node', args, { env: { FLUME_LOG_LEVEL: 'info' } }));
  await third.waitForLine(running);
  assert.match(third.output(), new RegExp(`Took over a stale lock.*stale_pid=${first.pid}\\b`));
  assert.equal((await third.stop()).code, 0, third.output());
});

test('a second process with the same writer id cannot open that storage state; after kill -9 of the first it can', async () => {
  const storage = path.join(dir.path, 'storage');
  const input = path.join(dir.path, 'input2.log');
  fs.writeFileSync(input, '');
  const args = (data: string): string[] => [
    '--standalone',
    '-n',
    'w',
    '-c',
    `w : tail("${input}") | escapedFile("${storage}/", "out")  ;`,
    '--http-port',
    '0',
    '--data',
    path.join(dir.path, data),
  ];
  const running = /standalone node running/;
  const first = track(spawnFlume('node', args('w1'), { env: { FLUME_LOG_LEVEL: 'info' } }));
  await first.waitForLine(running);
  // A copied node data dir: another data dir (so another node lock), the same writer id.
  fs.mkdirSync(path.join(dir.path, 'w2', 'w'), { recursive: true });
  // As `cp -a` copies it: the id is a link's target (core/link-text.ts).
  fs.symlinkSync(fs.readlinkSync(path.join(dir.path, 'w1', 'w', 'writer-id')), path.join(dir.path, 'w2', 'w', 'writer-id'));
  const second = track(spawnFlume('node', args('w2'), { env: { FLUME_LOG_LEVEL: 'info' } }));
  assert.equal((await second.exited).code, 1, second.output());
  assert.match(second.output(), new RegExp(`\\.flume/stored-\\w+ is in use by process ${first.pid}\\b`));

  await first.kill9();
  const third = track(spawnFlume('node', args('w2'), { env: { FLUME_LOG_LEVEL: 'info' } }));
  await third.waitForLine(running);
  assert.match(third.output(), new RegExp(`Took over a stale lock.*what="?storage state"?.*stale_pid=${first.pid}\\b`));
  assert.equal((await third.stop()).code, 0, third.output());
});
