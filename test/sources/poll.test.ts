/** exec, execPeriodic, spooldir, text(file), stdin, the generators and tailDir, each end to end. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Priority } from '../../core/event';
import { ERRORS, EVENTS_REJECTED } from '../../core/metrics';
import { ExecSource } from '../../agent/sources/exec';
import { SpoolDirSource } from '../../agent/sources/spooldir';
import { StdinSource } from '../../agent/sources/stdin';
import { SynthSource } from '../../agent/sources/synth';
import { TailDirSource } from '../../agent/sources/tail-dir';
import { TextFileSource } from '../../agent/sources/text-file';
import { SourceHarness, tempDir } from './harness';

function numbered(n: number, prefix = 'l'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

test('exec: every stdout line is an event, in order; done once the command exits; a failure is counted', async (t) => {
  const h = await SourceHarness.start((ctx) => new ExecSource(ctx, { cmd: 'seq 1 5000; echo oops >&2' }));
  t.after(() => h.cleanup());
  await h.source.done;
  await h.waitForEvents(5000);
  await h.stop();
  assert.deepEqual(
    h.bodies(),
    Array.from({ length: 5000 }, (_, i) => String(i + 1)),
  );
  assert.equal(h.ctx.counters.get(ERRORS), 0);

  const f = await SourceHarness.start((ctx) => new ExecSource(ctx, { cmd: 'echo last; exit 3' }));
  t.after(() => f.cleanup());
  await f.source.done;
  await f.stop();
  assert.deepEqual(f.bodies(), ['last']);
  assert.equal(f.ctx.counters.get(ERRORS), 1);
});

test('exec: close stops a long-running command and keeps what it printed', async (t) => {
  const h = await SourceHarness.start((ctx) => new ExecSource(ctx, { cmd: 'echo started; sleep 30' }));
  t.after(() => h.cleanup());
  await h.waitForEvents(1);
  await h.stop();
  assert.deepEqual(h.bodies(), ['started']);
});

test('execPeriodic: one event per run holding the whole output, runs repeat', async (t) => {
  const dir = tempDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const counter = path.join(dir, 'n');
  const cmd = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; echo run $n; echo second line`;
  const h = await SourceHarness.start((ctx) => new ExecSource(ctx, { cmd, aggregate: true, restart: true, periodMs: 20 }));
  t.after(() => h.cleanup());
  await h.waitForEvents(3);
  await h.stop();
  const bodies = h.bodies();
  assert.deepEqual(bodies.slice(0, 3), ['run 1\nsecond line', 'run 2\nsecond line', 'run 3\nsecond line']);
  assert.equal(h.events[0].attributes.get('exitcode')?.toString(), '0');
});

test('exec with restart and without aggregate: the lines of each run, run after run', async (t) => {
  const h = await SourceHarness.start((ctx) => new ExecSource(ctx, { cmd: 'echo a; echo b', restart: true, periodMs: 10 }));
  t.after(() => h.cleanup());
  await h.waitForEvents(6);
  await h.stop();
  assert.deepEqual(h.bodies().slice(0, 6), ['a', 'b', 'a', 'b', 'a', 'b']);
});

test('spooldir: files are read oldest first, each line once, and renamed .COMPLETED once put', async (t) => {
  const dir = tempDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'a.log'), numbered(3000, 'a').join('\n') + '\n');
  fs.utimesSync(path.join(dir, 'a.log'), new Date(1_000_000), new Date(1_000_000));
  fs.writeFileSync(path.join(dir, '.hidden'), 'never\n');
  const h = await SourceHarness.start((ctx) => new SpoolDirSource(ctx, { dir, pollMs: 20 }));
  t.after(() => h.cleanup());
  await h.waitForEvents(3000);
  await h.waitFor(() => fs.existsSync(path.join(dir, 'a.log.COMPLETED')), 'a.log renamed');
  // A file moved in later, written elsewhere first (the spooling convention); no final newline.
  const staged = path.join(dir, '.b.tmp');
  fs.writeFileSync(staged, 'b0\nb1\nb2');
  fs.renameSync(staged, path.join(dir, 'b.log'));
  await h.waitForEvents(3003);
  await h.waitFor(() => fs.existsSync(path.join(dir, 'b.log.COMPLETED')), 'b.log renamed');
  await h.stop();
  assert.deepEqual(h.bodies(), [...numbered(3000, 'a'), 'b0', 'b1', 'b2']);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['.hidden', 'a.log.COMPLETED', 'b.log.COMPLETED']);
});

test('text(file): reads once, done when every line is put; an oversized line is dropped and counted', async (t) => {
  const dir = tempDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'in.txt');
  fs.writeFileSync(file, ['first', 'x'.repeat(2000), ...numbered(20_000), 'no newline at the end'].join('\n'));
  const h = await SourceHarness.start((ctx) => new TextFileSource(ctx, { file, maxEventBytes: 1000 }));
  t.after(() => h.cleanup());
  await h.source.done;
  await h.waitForEvents(20_002);
  await h.stop();
  assert.deepEqual(h.bodies(), ['first', ...numbered(20_000), 'no newline at the end']);
  assert.equal(h.ctx.counters.get(EVENTS_REJECTED), 1);
  await assert.rejects(
    SourceHarness.start((ctx) => new TextFileSource(ctx, { file: path.join(dir, 'missing') })),
    /ENOENT/,
  );
});

test('stdin: lines of the input stream, done at its end', async (t) => {
  const input = new PassThrough();
  const h = await SourceHarness.start((ctx) => new StdinSource(ctx, 1024, input));
  t.after(() => h.cleanup());
  input.write('one\r\ntw');
  input.write('o\nthree');
  input.end('\n');
  await h.source.done;
  await h.waitForEvents(3);
  await h.stop();
  assert.deepEqual(h.bodies(), ['one', 'two', 'three']);
});

test('asciisynth and synth: count events of size bytes, numbered, in batches of 1000; done resolves', async (t) => {
  const h = await SourceHarness.start((ctx) => new SynthSource(ctx, 2500, 100, true));
  t.after(() => h.cleanup());
  await h.source.done;
  await h.waitForEvents(2500);
  await h.stop();
  assert.equal(h.eventCount, 2500);
  assert.equal(h.batchCount, 3);
  h.events.forEach((e, i) => {
    assert.equal(e.body.length, 100);
    assert.equal(e.body.subarray(0, 12).toString(), `${String(i).padStart(11, '0')} `);
    assert.ok(e.body.every((b) => b >= 0x20 && b < 0x7f));
    assert.equal(e.priority, Priority.INFO);
  });
  const s = await SourceHarness.start((ctx) => new SynthSource(ctx, 10, 5, false));
  t.after(() => s.cleanup());
  await s.source.done;
  await s.waitForEvents(10);
  await s.stop();
  assert.ok(s.events.every((e) => e.body.length === 5));
});

test('tailDir: follows matching files, new ones too, each line once; others are ignored', async (t) => {
  const dir = tempDir();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'a.log'), 'a0\na1\n');
  fs.writeFileSync(path.join(dir, 'skip.txt'), 'nope\n');
  const data = path.join(dir, '..', path.basename(dir) + '-data');
  t.after(() => fs.rmSync(data, { recursive: true, force: true }));
  const h = await SourceHarness.start((ctx) => new TailDirSource(ctx, { dir, regex: '\\.log$', pollMs: 20 }), { dataDir: data });
  t.after(() => h.cleanup());
  await h.waitForEvents(2);
  fs.writeFileSync(path.join(dir, 'b.log'), 'b0\n');
  fs.appendFileSync(path.join(dir, 'a.log'), 'a2\n');
  await h.waitForEvents(4);
  fs.appendFileSync(path.join(dir, 'b.log'), 'b1\n');
  await h.waitForEvents(5);
  assert.deepEqual(h.source.following, ['a.log', 'b.log']);
  await h.stop();
  const bodies = h.bodies();
  assert.deepEqual(
    bodies.filter((b) => b.startsWith('a')),
    ['a0', 'a1', 'a2'],
  );
  assert.deepEqual(
    bodies.filter((b) => b.startsWith('b')),
    ['b0', 'b1'],
  );
  assert.equal(bodies.length, 5);
});
