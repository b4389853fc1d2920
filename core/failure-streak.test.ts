import assert from 'node:assert/strict';
import { test } from 'node:test';
import winston from 'winston';
import { duration, FailureStreak } from './failure-streak';

/** A logger that keeps `level message` of each line. */
function capture(): { log: winston.Logger; lines: string[] } {
  const lines: string[] = [];
  const log = winston.createLogger({ level: 'debug', transports: [new winston.transports.Console({ silent: true })] });
  log.on('data', (info: winston.Logform.TransformableInfo) => lines.push(`${info.level} ${String(info.message)}`));
  return { log, lines };
}

test('ten minutes of a failure retried every second is five lines, and its end one more', () => {
  const { log, lines } = capture();
  let now = 1_000_000;
  const streak = new FailureStreak(log, { failing: 'Master unreachable', recovered: 'Master reachable again', now: () => now });
  for (let s = 0; s < 600; s++, now += 1000) streak.failed(new Error('14 UNAVAILABLE'), { master: 'h:1' });
  assert.deepEqual(lines, [
    'warn Master unreachable; retrying.',
    'warn Master unreachable for 30 s, 31 attempts.',
    'warn Master unreachable for 1 min 30 s, 91 attempts.',
    'warn Master unreachable for 3 min 30 s, 211 attempts.',
    'warn Master unreachable for 7 min 30 s, 451 attempts.',
  ]);
  assert.equal(streak.attempts, 600);
  streak.succeeded({ master: 'h:1' });
  assert.equal(lines.at(-1), 'info Master reachable again after 10 min, 600 failed attempts.');
  assert.equal(streak.attempts, 0);
  // A new streak starts over with its first line at once.
  streak.failed(new Error('again'));
  assert.equal(lines.at(-1), 'warn Master unreachable; retrying.');
});

test('a success without a failure before it writes nothing', () => {
  const { log, lines } = capture();
  const streak = new FailureStreak(log, { failing: 'x down', recovered: 'x up' });
  assert.equal(streak.succeeded(), false);
  assert.deepEqual(lines, []);
});

test('durations read as a person would say them', () => {
  assert.equal(duration(4_400), '4 s');
  assert.equal(duration(60_000), '1 min');
  assert.equal(duration(185_000), '3 min 5 s');
  assert.equal(duration(7_800_000), '2 h 10 min');
});
