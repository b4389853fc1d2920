import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogThrottle } from './log-throttle';

test('a flood is logged the first time at once, then a line per quiet time with the number since, every one counted', () => {
  let now = 1_000_000;
  const lines = new LogThrottle(10_000, () => now);
  const reported: Array<[number, number]> = [];
  // 100 a second for a minute.
  for (let i = 0; i < 6000; i++, now += 10) {
    const since = lines.count();
    if (since > 0) reported.push([now - 1_000_000, since]);
  }
  assert.deepEqual(reported, [
    [0, 1],
    [10_000, 1000],
    [20_000, 1000],
    [30_000, 1000],
    [40_000, 1000],
    [50_000, 1000],
  ]);
  now += 10_000;
  assert.equal(lines.count(), 1000, 'the rest of the minute, with the next line');
});

test('an occurrence after a quiet time is logged at once; one within it waits for the next line', () => {
  let now = 0;
  const lines = new LogThrottle(10_000, () => now);
  assert.equal(lines.count(), 1, 'the first, at a clock reading of 0');
  now = 9_999;
  assert.equal(lines.count(), 0);
  now = 60_000;
  assert.equal(lines.count(), 2, 'logged at once, with the one held back');
  now = 60_001;
  assert.equal(lines.count(), 0);
});
