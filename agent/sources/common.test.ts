/**
 * How a source reports what it refuses (Rejects): every refusal counted, and a flood of them a
 * line per 10 s with the number since, so that bad input never floods the log.
 */
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import winston from 'winston';
import type { ComponentContext } from '../../core/component';
import { BYTES_REJECTED, EVENTS_REJECTED } from '../../core/metrics';
import { Rejects } from './common';

/** A source's context whose log lines and counters are kept. */
function context(): { ctx: ComponentContext; lines: Array<Record<string, unknown>>; counted: Map<string, number> } {
  const lines: Array<Record<string, unknown>> = [];
  const counted = new Map<string, number>();
  const logger = winston.createLogger({ level: 'debug', transports: [new winston.transports.Console({ silent: true })] });
  logger.on('data', (info: winston.Logform.TransformableInfo) => lines.push({ ...info }));
  const counters = { add: (name: string, n = 1) => counted.set(name, (counted.get(name) ?? 0) + n) };
  return { ctx: { logger, counters, logicalNode: 'n', physicalNode: 'p', host: 'h', dataDir: '/nonexistent' }, lines, counted };
}

test('a source fed bad input for a minute logs the first refusal at once, then a line per 10 s with the number since; every one is counted', (t) => {
  mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  t.after(() => mock.timers.reset());
  const { ctx, lines, counted } = context();
  const rejects = new Rejects(ctx);
  for (let s = 0; s < 60; s++) {
    rejects.reject('not a syslog message', 100, { peer: 'p1' });
    rejects.note('connection over the limit of 10', { peer: 'p2' });
    mock.timers.tick(1000);
  }
  const rejected = lines.filter((l) => l.message === 'Rejected input: not a syslog message.');
  assert.deepEqual(
    rejected.map((l) => [l.rejectedSinceLastReport, l.rejectedTotal, l.bytes, l.peer]),
    [
      [1, 1, 100, 'p1'],
      [10, 11, 100, 'p1'],
      [10, 21, 100, 'p1'],
      [10, 31, 100, 'p1'],
      [10, 41, 100, 'p1'],
      [10, 51, 100, 'p1'],
    ],
  );
  const refused = lines.filter((l) => l.message === 'Refused: connection over the limit of 10.');
  assert.deepEqual(
    refused.map((l) => l.refusedSinceLastReport),
    [1, 10, 10, 10, 10, 10],
    'connections refused are throttled apart from input rejected',
  );
  assert.equal(lines.length, 12);
  assert.equal(rejects.count, 60);
  assert.equal(counted.get(EVENTS_REJECTED), 60);
  assert.equal(counted.get(BYTES_REJECTED), 6000);
});
