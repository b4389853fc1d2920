import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { ResolvedArgs } from '../registry';
import { batch, bodies, RecordingSink, tempDir, testContext, waitFor } from '../../test/node/helpers';
import { counterSinkDef, counterValue } from './counter';
import { FailoverSink } from './failover';
import { FanOutSink } from './fanout';
import { RollSink } from './roll';
import { textSinkDef } from './text';
import type { Sink } from '../component';

const dir = tempDir();
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('fan-out gives every batch to every sink and fails if one branch fails', async () => {
  const a = new RecordingSink();
  const b = new RecordingSink();
  const f = new FanOutSink([a, b]);
  await f.open();
  await f.append(batch('o', 1, bodies(['x'])));
  b.failNext = 1;
  await assert.rejects(f.append(batch('o', 2, bodies(['y']))));
  await f.append(batch('o', 2, bodies(['y'])));
  await f.close();
  assert.deepEqual(a.bodies(), ['x', 'y', 'y'], 'the branch that succeeded sees the retry again');
  assert.deepEqual(b.bodies(), ['x', 'y']);
  assert.equal(a.closed + b.closed, 2);
});

test('failover uses the backup while the primary fails and returns to the primary after the backoff', async () => {
  const primary = new RecordingSink();
  const backup = new RecordingSink();
  // A backoff long enough that a busy machine cannot end it before primaryDown is read.
  const f = new FailoverSink(primary, backup, testContext(), { initialBackoffMs: 2000, maxBackoffMs: 4000 });
  await f.open();
  await f.append(batch('o', 1, bodies(['1'])));
  primary.failNext = 1;
  await f.append(batch('o', 2, bodies(['2'])));
  assert.ok(f.primaryDown);
  await f.append(batch('o', 3, bodies(['3'])));
  await waitFor(() => !f.primaryDown, 10_000, 'primary backoff to end');
  await f.append(batch('o', 4, bodies(['4'])));
  assert.deepEqual(primary.bodies(), ['1', '4']);
  assert.deepEqual(backup.bodies(), ['2', '3']);
  primary.failNext = 1;
  backup.failNext = 1;
  await assert.rejects(f.append(batch('o', 5, bodies(['5']))), /told to fail/);
  await f.close();
});

test('roll builds a fresh body with a new rolltag each period and closes the old one after its appends', async () => {
  const bodiesMade: Array<{ sink: RecordingSink; tag: string }> = [];
  const make = (tags?: Readonly<Record<string, string>>): Sink => {
    const sink = new RecordingSink();
    bodiesMade.push({ sink, tag: tags?.rolltag ?? '' });
    return sink;
  };
  const r = new RollSink(60_000, make, testContext());
  await r.open();
  await r.append(batch('o', 1, bodies(['a'])));
  await r.roll();
  await r.append(batch('o', 2, bodies(['b'])));
  await r.close();
  assert.equal(bodiesMade.length, 2);
  assert.deepEqual(
    bodiesMade.map((b) => b.sink.bodies()),
    [['a'], ['b']],
  );
  assert.deepEqual(
    bodiesMade.map((b) => [b.sink.opened, b.sink.closed]),
    [
      [1, 1],
      [1, 1],
    ],
  );
  assert.notEqual(bodiesMade[0].tag, bodiesMade[1].tag);
  assert.match(bodiesMade[0].tag, /^\d{8}-\d{9}\+0000\.\d+\.\d+$/);
  // The timer rolls by itself.
  const timed = new RollSink(30, make, testContext());
  await timed.open();
  await waitFor(() => bodiesMade.length >= 4, 10_000, 'two timed rolls');
  await timed.close();
});

test('text appends events in a format; counter counts what it got', async () => {
  const file = path.join(dir, 'sub', 'out.txt');
  const t = textSinkDef.create(ResolvedArgs.of('text', { file, format: 'raw' }), testContext());
  await t.open();
  await t.append(batch('o', 1, bodies(['one', 'two'])));
  await t.append(batch('o', 2, bodies(['three'])));
  await t.close();
  assert.equal(fs.readFileSync(file, 'utf8'), 'one\ntwo\nthree\n');
  const c = counterSinkDef.create(ResolvedArgs.of('counter', { name: 'sinks-test' }), testContext());
  await c.append(batch('o', 1, bodies(['a', 'b', 'c'])));
  assert.equal(counterValue('sinks-test').events, 3);
  assert.equal(counterValue('sinks-test').batches, 1);
});

test('a roll that failed (its new body would not open) does not fail the rolls after it', async () => {
  let failOpens = 1;
  const made: RecordingSink[] = [];
  const make = (): Sink => {
    const sink = new RecordingSink();
    made.push(sink);
    if (made.length === 2) {
      sink.open = async () => {
        if (failOpens-- > 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      };
    }
    return sink;
  };
  const r = new RollSink(60_000, make, testContext());
  await r.open();
  await r.append(batch('o', 1, bodies(['a'])));
  await assert.rejects(r.roll(), /no space/);
  assert.equal(made[1].closed, 1, 'the body that failed to open is closed again');
  await r.append(batch('o', 2, bodies(['b'])));
  await r.roll();
  await r.append(batch('o', 3, bodies(['c'])));
  await r.close();
  assert.deepEqual(
    made.map((s) => s.bodies()),
    [['a', 'b'], [], ['c']],
  );
});
