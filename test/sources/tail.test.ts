/**
 * tail: every line exactly once and in order, across rotation while writing, truncation,
 * restarts in the middle of a file, and rotation while the source is stopped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { EVENTS_REJECTED } from '../../core/metrics';
import { MultiTailSource } from '../../agent/sources/multitail';
import { TailSource } from '../../agent/sources/tail';
import { SourceHarness, tempDir, waitUntil } from './harness';

const POLL = 20;

function lines(from: number, to: number, prefix = 'line'): string {
  let s = '';
  for (let i = from; i < to; i++) s += `${prefix} ${i}\n`;
  return s;
}

function expected(from: number, to: number, prefix = 'line'): string[] {
  return Array.from({ length: to - from }, (_, i) => `${prefix} ${from + i}`);
}

function startTail(
  file: string,
  dataDir: string,
  firstSeq = 1,
  extra: { startFromEnd?: boolean; pollMs?: number } = {},
): Promise<SourceHarness<TailSource>> {
  return SourceHarness.start((ctx) => new TailSource(ctx, { file, pollMs: POLL, ...extra }), { dataDir, firstSeq });
}

test('tail: restart in the middle of a file, with a partial last line, repeats and loses nothing', async (t) => {
  const dir = tempDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'app.log');
  const data = path.join(dir, 'data');
  fs.writeFileSync(file, lines(0, 1000));
  let h = await startTail(file, data);
  t.after(() => h.cleanup());
  await h.waitForEvents(1000);
  fs.appendFileSync(file, lines(1000, 1500) + 'line 15');
  await h.waitForEvents(1500);
  await h.stop();
  const first = h.bodies();
  assert.deepEqual(first, expected(0, 1500), 'the partial line waits for its newline');

  fs.appendFileSync(file, '00\n' + lines(1501, 2000));
  h = await startTail(file, data, h.nextSeq);
  await h.waitForEvents(500);
  // A large unread stretch, then a stop while it is being read: the next run finishes it.
  fs.appendFileSync(file, lines(2000, 200_000));
  await h.waitForEvents(501);
  await h.stop();
  const second = h.bodies();
  h = await startTail(file, data, h.nextSeq);
  await h.waitFor(() => first.length + second.length + h.eventCount >= 200_000, 'every line');
  await h.stop();
  const all = [...first, ...second, ...h.bodies()];
  assert.equal(all.length, 200_000);
  assert.deepEqual(all, expected(0, 200_000));
});

for (const pollMs of [POLL, 1]) {
  test(`tail: rotation (rename + create) while writing, with late writes to the old file, every line once in order (poll ${pollMs} ms)`, async (t) => {
    // At 1 ms, opening the new file takes longer than the grace: the old file must still be read to its end.
    const dir = tempDir();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'app.log');
    fs.writeFileSync(file, '');
    const h = await startTail(file, path.join(dir, 'data'), 1, { pollMs });
    t.after(() => h.cleanup());
    const total = 30_000;
    let fd = fs.openSync(file, 'a');
    let rotations = 0;
    for (let i = 0; i < total; i += 100) {
      fs.writeSync(fd, lines(i, i + 50));
      if (i % 3000 === 2900) {
        // Rename, then a late write through the old descriptor, then the writer reopens the name.
        fs.renameSync(file, `${file}.${++rotations}`);
        fs.writeSync(fd, lines(i + 50, i + 100));
        fs.closeSync(fd);
        fd = fs.openSync(file, 'a');
        // Rotations are slower than the poll interval in life; pace them so here too.
        const ino = fs.fstatSync(fd).ino;
        await waitUntil(() => h.source.following.ino === ino, 'the tail to follow the new file');
      } else {
        fs.writeSync(fd, lines(i + 50, i + 100));
      }
      if (i % 1000 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    fs.closeSync(fd);
    await h.waitForEvents(total, 30_000);
    await h.stop();
    assert.equal(rotations, 10);
    assert.deepEqual(h.bodies(), expected(0, total));
  });
}

test('tail: truncation in place starts again at the beginning', async (t) => {
  const dir = tempDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'app.log');
  fs.writeFileSync(file, lines(0, 500, 'before'));
  const h = await startTail(file, path.join(dir, 'data'));
  t.after(() => h.cleanup());
  await h.waitForEvents(500);
  fs.truncateSync(file, 0);
  fs.appendFileSync(file, 'after 0\n');
  await h.waitForEvents(501);
  fs.appendFileSync(file, lines(1, 300, 'after'));
  await h.waitForEvents(800);
  await h.stop();
  assert.deepEqual(h.bodies(), [...expected(0, 500, 'before'), ...expected(0, 300, 'after')]);
});

test('tail: rotated while stopped, the old file is drained from the saved offset before the new one', async (t) => {
  const dir = tempDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'app.log');
  const data = path.join(dir, 'data');
  fs.writeFileSync(file, lines(0, 100));
  let h = await startTail(file, data);
  t.after(() => h.cleanup());
  await h.waitForEvents(100);
  await h.stop();
  const first = h.bodies();
  fs.appendFileSync(file, lines(100, 200));
  fs.renameSync(file, `${file}.1`);
  fs.writeFileSync(file, lines(200, 300));
  h = await startTail(file, data, h.nextSeq);
  await h.waitForEvents(200);
  await h.stop();
  assert.deepEqual([...first, ...h.bodies()], expected(0, 300));
});

test('tail: startFromEnd skips what is there; an oversized line is dropped and counted, the rest flows', async (t) => {
  const dir = tempDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'app.log');
  // The writer is in the middle of a line when the source starts: its rest is not an event.
  fs.writeFileSync(file, lines(0, 100, 'old') + 'old partial');
  const h = await startTail(file, path.join(dir, 'data'), 1, { startFromEnd: true });
  t.after(() => h.cleanup());
  fs.appendFileSync(file, ' rest\nnew 0\n' + 'x'.repeat(3 * 1024 * 1024) + '\nnew 1\n');
  await h.waitForEvents(2);
  await h.stop();
  assert.deepEqual(h.bodies(), ['new 0', 'new 1']);
  assert.equal(h.ctx.counters.get(EVENTS_REJECTED), 1);
});

test('multitail: several files at once, each in order, each with its own position across a restart', async (t) => {
  const dir = tempDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = ['a.log', 'b.log'].map((n) => path.join(dir, n));
  const data = path.join(dir, 'data');
  files.forEach((f, k) => fs.writeFileSync(f, lines(0, 100, `f${k}`)));
  const start = (seq: number): Promise<SourceHarness<MultiTailSource>> =>
    SourceHarness.start((ctx) => new MultiTailSource(ctx, files, { pollMs: POLL }), { dataDir: data, firstSeq: seq });
  let h = await start(1);
  t.after(() => h.cleanup());
  await h.waitForEvents(200);
  await h.stop();
  const first = h.bodies();
  files.forEach((f, k) => fs.appendFileSync(f, lines(100, 150, `f${k}`)));
  h = await start(h.nextSeq);
  await h.waitForEvents(100);
  await h.stop();
  const all = [...first, ...h.bodies()];
  for (const k of [0, 1])
    assert.deepEqual(
      all.filter((b) => b.startsWith(`f${k} `)),
      expected(0, 150, `f${k}`),
    );
  assert.equal(all.length, 300);
});

test('tail: a file deleted and re-created while stopped is read from its start, even if it reuses the inode', async (t) => {
  const dir = tempDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'app.log');
  const data = path.join(dir, 'data');
  fs.writeFileSync(file, lines(0, 100, 'old'));
  const oldIno = fs.statSync(file).ino;
  let h = await startTail(file, data);
  t.after(() => h.cleanup());
  await h.waitForEvents(100);
  await h.stop();
  fs.unlinkSync(file);
  fs.writeFileSync(file, lines(0, 300, 'new'));
  t.diagnostic(`inode ${fs.statSync(file).ino === oldIno ? 'reused' : 'not reused'}`);
  h = await startTail(file, data, h.nextSeq);
  await h.waitForEvents(300);
  await h.stop();
  assert.deepEqual(h.bodies(), expected(0, 300, 'new'));
});
