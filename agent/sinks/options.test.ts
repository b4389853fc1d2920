import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '../../core/errors';
import { collectorTargets, parseAgentSinkOptions } from './options';

test('collector targets in the forms Flume OG specs use', () => {
  assert.deepEqual(collectorTargets(['c1', 35000]), ['c1:35000']);
  assert.deepEqual(collectorTargets(['c1']), ['c1:35853']);
  assert.deepEqual(collectorTargets(['c1:1', 'c2', '10.0.0.3:9']), ['c1:1', 'c2:35853', '10.0.0.3:9']);
  assert.deepEqual(collectorTargets(['::1', '[::1]:5']), ['[::1]:35853', '[::1]:5']);
});

test('bad collector lists and options report every problem at once', () => {
  assert.throws(() => collectorTargets([]), ValidationError);
  assert.throws(
    () => collectorTargets(['a:0', 'b c']),
    (err: unknown) => err instanceof ValidationError && err.problems.length === 2,
  );
  assert.throws(
    () => parseAgentSinkOptions({ collectors: ['nope'], mode: 'XX' as 'E2E', window: 0, bogus: 1 } as never),
    (err: unknown) => err instanceof ValidationError && err.problems.length === 4,
  );
});
