/**
 * tail in the real `flume-node` binary: SIGTERM while a large file is being read, restart with
 * the same data dir, and the sink's file holds every line exactly once, in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir, waitUntil } from './harness';
import { tlsEnvFor } from '../harness/procs';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'flume-node.js');

function lineCount(file: string): number {
  if (!fs.existsSync(file)) return 0;
  const buf = fs.readFileSync(file);
  let n = 0;
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

test('tail in flume-node: SIGTERM mid-file and restart, every line exactly once in order', async (t) => {
  const dir = tempDir();
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const input = path.join(dir, 'in.log');
  const output = path.join(dir, 'out.txt');
  const total = 400_000;
  fs.writeFileSync(input, Array.from({ length: total }, (_, i) => `line ${i}`).join('\n') + '\n');
  const spec = `n : tail(${JSON.stringify(input)}) | text(${JSON.stringify(output)}) ;`;
  const start = (): ChildProcess => {
    const args = ['--standalone', '--data', path.join(dir, 'data'), '--log-level', 'warn', '-c', spec];
    const c = spawn(process.execPath, [BIN, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...tlsEnvFor('node', args) },
    });
    let err = '';
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    c.on('exit', (code, sig) => {
      if (code !== 0 && sig !== 'SIGKILL') console.error(`flume-node exited ${code ?? sig}: ${err}`);
    });
    children.push(c);
    return c;
  };
  const stop = async (c: ChildProcess): Promise<void> => {
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    process.kill(c.pid!, 'SIGTERM');
    await exited;
  };
  let node = start();
  await waitUntil(() => lineCount(output) > 0, 'the first lines in the sink', 30_000);
  await stop(node);
  const afterFirst = lineCount(output);
  t.diagnostic(`first run: ${afterFirst} of ${total} lines`);
  node = start();
  await waitUntil(() => lineCount(output) >= total, `${total} lines in the sink (have ${lineCount(output)})`, 60_000);
  await stop(node);
  const lines = fs.readFileSync(output, 'utf8').split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, total, `first run wrote ${afterFirst}`);
  lines.forEach((l, i) => {
    if (l !== `line ${i}`) assert.fail(`line ${i} is ${JSON.stringify(l)}`);
  });
});
