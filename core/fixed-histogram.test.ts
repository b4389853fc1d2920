import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { FixedHistogram } from './fixed-histogram';

const BOUNDS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1];

test("a fixed histogram's exposition is prom-client's for the same observations", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(fc.double({ min: 0, max: 2, noNaN: true }), fc.constantFrom(...BOUNDS, 0)), { maxLength: 200 }),
      async (xs) => {
        const theirs = new Registry();
        const ours = new Registry();
        const reference = new Histogram({ name: 'flume_test_seconds', help: 'A test.', buckets: BOUNDS, registers: [theirs] });
        const fixed = new FixedHistogram('flume_test_seconds', 'A test.', BOUNDS, [ours]);
        for (const x of xs) {
          reference.observe(x);
          fixed.observe(x);
        }
        assert.equal(await ours.metrics(), await theirs.metrics());
      },
    ),
  );
});

test('a value that is not finite is not recorded, and reset empties the histogram', async () => {
  const registry = new Registry();
  const h = new FixedHistogram('flume_test_seconds', 'A test.', BOUNDS, [registry]);
  h.observe(0.002);
  h.observe(NaN);
  h.observe(Infinity);
  assert.match(await registry.metrics(), /^flume_test_seconds_count 1$/m);
  assert.match(await registry.metrics(), /^flume_test_seconds_bucket\{le="0.005"\} 1$/m);
  h.reset();
  assert.match(await registry.metrics(), /^flume_test_seconds_count 0$/m);
  assert.match(await registry.metrics(), /^flume_test_seconds_sum 0$/m);
});
