/**
 * kill -9 at random moments while a child process appends, commits, takes and acks numbered
 * batches. After each kill the test reopens the WAL and checks what a user of the channel is
 * promised: every batch whose commit returned is there, exactly once, in order; nothing that
 * was never put is; acked batches do not come back.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { openWal } from '../core/wal/wal';

const ROUNDS = 24;
const CHILD = path.join(__dirname, 'util', 'wal-crash-child.js');

/** The highest seq of each kind of line a child printed. */
interface Round {
  put: number;
  committed: number;
  taking: number;
  acked: number;
}

function runChild(dir: string, start: number, lifetimeMs: number): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(start)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const seen: Round = { put: 0, committed: 0, taking: 0, acked: 0 };
    let buffer = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        if (line === 'READY') timer = setTimeout(() => child.kill('SIGKILL'), lifetimeMs);
        else {
          const key = ({ P: 'put', C: 'committed', T: 'taking', A: 'acked' } as const)[line[0] as 'P' | 'C' | 'T' | 'A'];
          if (key) seen[key] = Math.max(seen[key], Number(line.slice(2)));
        }
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(seen);
      else reject(new Error(`child exited ${code} ${signal}: ${stderr}`));
    });
  });
}

/** Reads every batch left in the WAL without acking any. */
async function inspect(dir: string): Promise<{ seqs: number[]; counters: object }> {
  const wal = await openWal(dir, { segmentBytes: 128 * 1024, capacityBytes: 2 * 1024 * 1024 });
  const tx = wal.transaction();
  tx.begin();
  const seqs: number[] = [];
  for (let b = await tx.take(); b; b = await tx.take()) seqs.push(b.seq);
  tx.rollback();
  tx.close();
  const counters = { ...wal.counters };
  await wal.stop();
  return { seqs, counters };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-crash-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test(`WAL survives kill -9 at random moments (${ROUNDS} rounds)`, { timeout: 240_000 }, async () => {
  let next = 1; // the first seq the next child will put
  let ackedFloor = 0; // every seq up to here was acked
  let totalCommitted = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const lifetime = 30 + Math.floor(Math.random() * 400);
    const seen = await runChild(dir, next, lifetime);
    const { seqs, counters } = await inspect(dir);
    const ctx = `round ${round} (lived ${lifetime} ms, started at ${next}, saw ${JSON.stringify(seen)}; counters ${JSON.stringify(counters)})`;

    // What is left is one run of consecutive seqs: no gap, no duplicate, in order.
    for (let i = 1; i < seqs.length; i++)
      assert.equal(seqs[i], seqs[i - 1] + 1, `gap or reorder at ${i} (${seqs.slice(Math.max(0, i - 3), i + 3)}): ${ctx}`);
    const first = seqs[0] ?? Infinity;
    const last = seqs.at(-1) ?? -Infinity;
    // Acked batches never come back; only batches whose ack had begun may be gone from the head.
    assert.ok(first > Math.max(ackedFloor, seen.acked), `an acked batch came back (${first}): ${ctx}`);
    assert.ok(first === Infinity || first <= Math.max(ackedFloor, seen.taking) + 1, `lost unacked batches at the head (${first}): ${ctx}`);
    // Every committed batch not acked is there, and nothing that was never put.
    if (seen.committed > Math.max(ackedFloor, seen.taking)) assert.ok(last >= seen.committed, `lost committed batches (${last}): ${ctx}`);
    assert.ok(last <= Math.max(seen.put, next - 1), `a batch that was never put (${last}): ${ctx}`);
    assert.equal((counters as { corruptRecords: number }).corruptRecords, 0, `a crash must not corrupt a middle record: ${ctx}`);

    totalCommitted += Math.max(0, seen.committed - next + 1);
    // Seqs put but never committed do not exist: the next child reuses them, so what the WAL
    // holds stays one run. An empty WAL means everything up to the last ack begun was acked.
    ackedFloor = seqs.length > 0 ? first - 1 : Math.max(ackedFloor, seen.taking);
    next = seqs.length > 0 ? last + 1 : ackedFloor + 1;
  }
  assert.ok(totalCommitted > ROUNDS, `the children must have committed batches, committed ${totalCommitted}`);
});
