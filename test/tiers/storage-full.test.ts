/**
 * A collector's storage fills up, then an operator frees space, all real processes: the storage
 * root is a 16 MB tmpfs (mounted here; the test needs root) that a ballast file fills to the brim
 * while an E2E agent and a DFO agent tail growing files. Writes fail short or whole on ENOSPC,
 * rolls fail, the stored-id index cannot grow. Once the ballast is deleted, everything flows again
 * without a restart: every line is in storage exactly once and whole (no torn line, none glued
 * onto another).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { freePort, nodeMetric, spawnFlume, tempDir, waitFor, type Proc } from '../harness/procs';
import { storageFiles } from '../harness/storage';

const dir = tempDir('flume-storage-full-');
const procs: Proc[] = [];
let mounted: string | null = null;
after(async () => {
  for (const p of procs.reverse()) await p.stop().catch(() => undefined);
  if (mounted) execFileSync('umount', [mounted]);
  dir.remove();
});
const file = (...parts: string[]): string => path.join(dir.path, ...parts);

function standalone(name: string, spec: string): Proc {
  const p = spawnFlume(
    'node',
    ['--standalone', '-n', name, '-c', `${name} : ${spec} ;`, '--data', file('data', name), '--http-port', '0'],
    { env: { FLUME_LOG_LEVEL: 'info' }, label: name },
  );
  procs.push(p);
  return p;
}

const LINES = 8_000;
const PAD = '.'.repeat(180);
const line = (agent: string, n: number): string => `${agent} ${String(n).padStart(7, '0')} ${PAD}`;
const WHOLE = new RegExp(`^(e2e|dfo) (\\d{7}) ${PAD}$`);

/** The lines of the data files under `root`; a file renamed while listed is skipped (`complete`: only finished files). */
function storedLines(root: string, complete = false): string[] {
  const out: string[] = [];
  for (const f of storageFiles(root)) {
    if (complete && f.endsWith('.tmp')) continue;
    let text: string;
    try {
      text = fs.readFileSync(f, 'latin1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const l of text.split('\n')) if (l) out.push(l);
  }
  return out;
}

/** Fills the file system under `root` but for `leave` bytes, with one file. */
function ballast(root: string, leave: number): string {
  const f = path.join(root, '.ballast'); // hidden: not a data file
  const free = fs.statfsSync(root).bavail * fs.statfsSync(root).bsize;
  fs.writeFileSync(f, Buffer.alloc(Math.max(0, free - leave)));
  return f;
}

test(
  'collector storage fills, then space is freed: E2E and DFO agents lose nothing, no torn line, no duplicate, no restart',
  { timeout: 90_000, skip: process.getuid?.() !== 0 ? 'needs root to mount a small tmpfs for the storage' : false },
  async (t) => {
    const storage = file('storage');
    fs.mkdirSync(storage, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', storage]);
    mounted = storage;
    const weight = ballast(storage, 512 * 1024);

    const port = await freePort();
    const collector = standalone('fullcoll', `collectorSource(${port}) | collectorSink("${storage}/", "data-", 1000)`);
    await collector.waitForLine(/collector source listening/);
    const agents = { e2e: 'agentE2EChain', dfo: 'agentDFOChain' } as const;
    const agentProcs = Object.entries(agents).map(([a, sink]) => {
      fs.writeFileSync(file(`${a}.log`), '');
      return standalone(a, `tail("${file(`${a}.log`)}") | ${sink}("127.0.0.1:${port}")`);
    });
    for (const p of agentProcs) await p.waitForLine(/Streaming to collector/, 30_000);

    // About 3.2 MB of lines for 0.5 MB of room: the storage fills while the agents keep sending.
    let written = 0;
    const timer = setInterval(() => {
      if (written >= LINES) return clearInterval(timer);
      const chunk = (a: string): string => Array.from({ length: 200 }, (_, i) => line(a, written + i + 1)).join('\n') + '\n';
      for (const a of Object.keys(agents)) fs.appendFileSync(file(`${a}.log`), chunk(a));
      written += 200;
    }, 50);
    try {
      const retried = async (): Promise<number> =>
        (await nodeMetric(collector, 'flume_sink_batches_retried_total', 'component="driver"')) ?? 0;
      await waitFor(async () => (await retried()) >= 5, 60_000, 'the collector to fail writes on the full storage');
      await waitFor(() => written >= LINES, 30_000, 'every line to be written to the tailed files');
      const stuck = storedLines(storage).length;
      assert.ok(stuck < 2 * LINES, `the storage is full before everything arrived (${stuck} lines stored)`);
      for (const l of storedLines(storage, true))
        assert.ok(WHOLE.test(l), `a file completed while the storage was full holds whole lines: ${l.slice(0, 40)}`);

      t.diagnostic(`storage full with ${stuck} of ${2 * LINES} lines stored, ${await retried()} appends failed so far`);
      fs.rmSync(weight);
      await waitFor(() => storedLines(storage).length >= 2 * LINES, 60_000, `all ${2 * LINES} lines stored once space is back`);
      // Rolls work again without a restart: the files written meanwhile are completed (renamed) by the next rolls.
      await waitFor(
        () => !storageFiles(storage).some((f) => f.endsWith('.tmp') && fs.statSync(f, { throwIfNoEntry: false })?.size),
        15_000,
        'the rolls to complete every file',
      );
      for (const p of [...agentProcs, collector]) assert.equal((await p.stop(30_000)).code, 0);

      const lines = storedLines(storage);
      const seen = new Set<string>();
      for (const l of lines) {
        assert.ok(WHOLE.test(l), `no torn line: ${l.slice(0, 40)}`);
        assert.ok(!seen.has(l), `stored twice: ${l.slice(0, 12)}`);
        seen.add(l);
      }
      for (const a of Object.keys(agents)) {
        for (let n = 1; n <= LINES; n++) if (!seen.has(line(a, n))) assert.fail(`${a} line ${n} lost`);
      }
      assert.equal(lines.length, 2 * LINES);
    } finally {
      clearInterval(timer);
    }
  },
);
