/**
 * What a node says while it catches up (node/progress.ts): drain lines only for a large backlog
 * that shrinks, at most one per interval, and one line once it has caught up; WAL replay lines
 * with the percent done while a WAL opens, which the WAL exposes as `replay` (core/wal/wal.ts).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import winston from 'winston';
import { openWal, WalChannel } from '../../core/wal/wal';
import { DRAIN_MIN_BATCHES, DRAIN_MIN_EVENTS, DrainReporter, grouped, reportReplay } from '../../node/progress';
import { numberedBatch, putAll } from '../util/batches';
import { waitFor } from '../harness/procs';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-progress-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function capture(): { logger: winston.Logger; lines: Array<{ level: string; message: string } & Record<string, unknown>> } {
  const lines: Array<{ level: string; message: string } & Record<string, unknown>> = [];
  const logger = winston.createLogger({
    level: 'info',
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          objectMode: true,
          write: (info, _e, cb) => {
            lines.push(info);
            cb();
          },
        }),
      }),
    ],
  });
  return { logger, lines };
}

test('a large backlog that drains is reported at most once per interval with events left and rate, then once caught up', () => {
  const { logger, lines } = capture();
  const drain = new DrainReporter(logger, 5_000);
  let now = 1_000_000;
  let acked = 0;
  // 2,000 batches of 10 events, 100 batches (1,000 events) acked a second.
  for (let batches = 2_000; batches >= 0; batches -= 100) {
    drain.tick({ batches, bytes: batches * 1_000, events: batches * 10 }, acked, now);
    now += 1_000;
    acked += 1_000;
  }
  const draining = lines.filter((l) => l.message.startsWith('Draining backlog'));
  assert.ok(draining.length >= 2 && draining.length <= 4, `one line per 5 s of a 20 s drain: ${draining.length}`);
  assert.match(draining[0].message, /^Draining backlog: [\d,]+ events left, 1,000 events\/s\.$/);
  assert.equal(draining[0].eventsPerSec, 1_000);
  assert.deepEqual(lines.filter((l) => l.message === 'Backlog caught up.').length, 1, 'one line once caught up');
});

test('a backlog of few but large batches (a tail: up to 16,000 lines each) is reported by its events', () => {
  const { logger, lines } = capture();
  const drain = new DrainReporter(logger, 1_000);
  let now = 0;
  const perBatch = 16_000;
  for (let batches = Math.ceil((2 * DRAIN_MIN_EVENTS) / perBatch); batches >= 0; batches -= 4) {
    drain.tick({ batches, bytes: batches * 1_000_000, events: batches * perBatch }, 0, (now += 1_000));
  }
  assert.ok(
    lines.some((l) => l.message.startsWith('Draining backlog')),
    JSON.stringify(lines),
  );
  assert.equal(lines.filter((l) => l.message === 'Backlog caught up.').length, 1);
});

test('counts are grouped by thousands as en-US writes them, without loading ICU into the node', () => {
  for (const n of [0, 7, 999, 1_000, 12_345, 999_999, 1_000_000, 1_234_567_890, -4_321])
    assert.equal(grouped(n), n.toLocaleString('en-US'));
  assert.equal(grouped(1_499.6), '1,500');
});

test('a small backlog, or one that grows, says nothing', () => {
  const { logger, lines } = capture();
  const drain = new DrainReporter(logger, 1_000);
  let now = 0;
  for (let i = 0; i < 30; i++) drain.tick({ batches: (i % 3) * 10, bytes: 0 }, i * 100, (now += 1_000));
  for (let b = DRAIN_MIN_BATCHES; b < DRAIN_MIN_BATCHES * 10; b += 100) drain.tick({ batches: b, bytes: 0 }, 0, (now += 1_000));
  assert.deepEqual(lines, []);
});

test('a WAL shows how far its open has scanned, and a long replay is reported in percent', async () => {
  const dir = path.join(root, 'wal');
  const opts = { segmentBytes: 64 << 20, capacityBytes: 256 << 20 };
  const wal = await openWal(dir, opts);
  for (let s = 1; s <= 4_000; s += 100) {
    await putAll(
      wal,
      Array.from({ length: 100 }, (_, i) => numberedBatch('a', s + i, 1_000)),
    );
  }
  await wal.stop();

  const again = new WalChannel(dir, 'again', opts);
  const seen: Array<{ doneBytes: number; totalBytes: number }> = [];
  let starting = true;
  const watch = (): void => {
    if (again.replay) seen.push({ ...again.replay });
    if (starting) setImmediate(watch);
  };
  watch();
  await again.start();
  starting = false;
  assert.equal(again.replay, null, 'nothing in progress once open');
  assert.ok(seen.length > 0, 'the scan was seen in progress');
  assert.ok(seen.every((p) => p.totalBytes > 4_000_000 && p.doneBytes <= p.totalBytes));
  await again.stop();

  const { logger, lines } = capture();
  let done = 0;
  const stop = reportReplay(logger, () => ({ segment: 'seg-1.wal', doneBytes: (done += 10), totalBytes: 100 }), 20);
  try {
    await waitFor(() => lines.length >= 2, 5_000, 'replay lines');
  } finally {
    stop();
  }
  assert.match(lines[0].message, /^Replaying the WAL: \d+% done\.$/);
  assert.equal(lines[0].segment, 'seg-1.wal');
});
