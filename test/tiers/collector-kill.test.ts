/**
 * A real collector process (collector-child.ts: server + WAL + file-writing storage stand-in)
 * killed with SIGKILL mid-stream and restarted on the same port and directory: the agent's E2E
 * and DFO sinks reconnect and everything ends up in the storage file once, in order.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { AgentSink } from '../../agent/sinks/agent-sink';
import { numberedBatches, pumpAll, waitFor, recorded, tierTls } from './helpers';

const children = new Set<ChildProcess>();
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

async function startChild(dir: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [path.join(__dirname, 'collector-child.js'), dir, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...tierTls.collectorEnv() },
  });
  children.add(child);
  const bound = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`collector child exited with ${code}`)));
  });
  return { child, port: bound };
}

function storedSeqs(dir: string, origin: string): number[] {
  const file = path.join(dir, 'stored.log');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${recorded(origin)} `))
    .map((l) => Number(l.split(' ')[1]));
}

for (const mode of ['E2E', 'DFO'] as const) {
  test(`${mode}: collector process killed -9 mid-stream and restarted; the storage file has every batch once, in order`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-collector-kill-'));
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const first = await startChild(dir, 0);
    const port = first.port;
    const sink = new AgentSink(
      {
        collectors: [`127.0.0.1:${port}`],
        mode,
        window: 8,
        backoffInitialMs: 50,
        backoffMaxMs: 300,
        connectTimeoutMs: 1_000,
      },
      { tls: tierTls.agent() },
    );
    await sink.open();
    cleanups.push(() => sink.close());
    const origin = `kill-${mode}`;
    const total = 400;
    const pumping = pumpAll(sink, numberedBatches(origin, total, 100));
    await waitFor(() => storedSeqs(dir, origin).length >= 100, '100 batches in the storage file');
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    assert.ok(storedSeqs(dir, origin).length < total, 'killed mid-stream');
    await startChild(dir, port);
    await pumping;
    await waitFor(() => storedSeqs(dir, origin).length >= total, 'every batch in the storage file', 60_000);
    assert.deepEqual(
      storedSeqs(dir, origin),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    assert.ok(sink.stats().reconnects >= 1);
  });
}
