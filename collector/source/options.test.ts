import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '../../core/errors';
import { COLLECTOR_SERVER_DEFAULTS, parseCollectorServerOptions } from './options';

test('collector server options: defaults filled, every problem reported at once', () => {
  assert.deepEqual(parseCollectorServerOptions({}), COLLECTOR_SERVER_DEFAULTS);
  assert.equal(parseCollectorServerOptions({ port: 35853, window: 8 }).window, 8);
  assert.throws(
    () => parseCollectorServerOptions({ port: 70000, window: 0, putTimeoutMs: -1, colour: 'red' } as never),
    (err: unknown) => err instanceof ValidationError && err.problems.length === 4,
  );
});
