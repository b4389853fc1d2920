import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import {
  BatchTooLargeError,
  ChannelClosedError,
  ChannelFullError,
  ChecksumError,
  FlumeError,
  failureKind,
  isRetriable,
  MalformedBatchError,
  NoCollectorError,
} from './errors';
import { Backoff, retry } from './retry';

const grpcError = (code: status): Error => Object.assign(new Error(`grpc ${code}`), { code });

describe('backoff delays', () => {
  test('full jitter stays under the doubling ceiling and the cap, and starts over after reset', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1_000 });
    for (let round = 0; round < 2; round++) {
      for (let n = 0; n < 12; n++) {
        const d = b.next();
        assert.ok(d >= 0 && d <= Math.min(1_000, 100 * 2 ** n), `delay ${d} after ${n} failures`);
      }
      assert.equal(b.failures, 12);
      b.reset();
      assert.equal(b.failures, 0);
    }
  });

  test('full jitter spreads: many agents failing together do not come back in step', () => {
    const delays = Array.from({ length: 200 }, () => new Backoff({ initialMs: 1_000, maxMs: 1_000 }).next());
    assert.ok(new Set(delays.map((d) => Math.floor(d / 100))).size >= 8, 'delays fall in most tenths of the range');
  });

  test('decorrelated jitter starts at initialMs, never goes below it, grows at most threefold, and caps', () => {
    const b = new Backoff({ initialMs: 50, maxMs: 500, jitter: 'decorrelated' });
    let previous = b.next();
    assert.equal(previous, 50);
    let max = 0;
    for (let n = 0; n < 50; n++) {
      const d = b.next();
      assert.ok(d >= 50 && d <= 500 && d <= previous * 3, `delay ${d} after ${previous}`);
      previous = d;
      max = Math.max(max, d);
    }
    assert.ok(max > 150, 'it grows past the first steps');
  });

  test('without jitter the delays are the capped exponential', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1_000, factor: 2, jitter: 'none' });
    assert.deepEqual(
      Array.from({ length: 6 }, () => b.next()),
      [100, 200, 400, 800, 1_000, 1_000],
    );
  });

  test('a delay is never Infinity or NaN, even after thousands of failures', () => {
    const b = new Backoff({ initialMs: 1, maxMs: 30, jitter: 'none' });
    for (let n = 0; n < 5_000; n++) b.next();
    assert.equal(b.next(), 30);
    assert.throws(() => new Backoff({ initialMs: Number.NaN }), RangeError);
  });
});

describe('retry', () => {
  test('retries transient failures and returns the first success; attempts count from 1', async () => {
    const seen: number[] = [];
    const retries: number[] = [];
    const value = await retry(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw grpcError(status.UNAVAILABLE);
        return 'ok';
      },
      { initialMs: 1, maxMs: 2, onRetry: (_err, attempt) => retries.push(attempt) },
    );
    assert.equal(value, 'ok');
    assert.deepEqual(seen, [1, 2, 3]);
    assert.deepEqual(retries, [2, 3]);
  });

  test('an error that is not retriable is thrown at once', async () => {
    let calls = 0;
    const bad = grpcError(status.INVALID_ARGUMENT);
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw bad;
        },
        { initialMs: 1 },
      ),
      (err) => err === bad,
    );
    assert.equal(calls, 1);
  });

  test('gives up after `attempts` calls with the last error', async () => {
    let calls = 0;
    await assert.rejects(
      retry(
        async () => {
          throw new ChannelClosedError(`c${++calls}`);
        },
        { initialMs: 1, maxMs: 1, attempts: 4 },
      ),
      (err) => err instanceof ChannelClosedError && err.channel === 'c4',
    );
    assert.equal(calls, 4);
  });

  test('gives up once the deadline has passed, with the last error', async () => {
    let calls = 0;
    const started = Date.now();
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw new NoCollectorError('sink', 'none yet');
        },
        { initialMs: 5, maxMs: 10, deadlineMs: 60 },
      ),
      NoCollectorError,
    );
    assert.ok(calls > 1, `tried ${calls} times`);
    assert.ok(Date.now() - started >= 60);
  });

  test('an abort ends a long backoff at once and rejects with the reason', async () => {
    const abort = new AbortController();
    const reason = new Error('stopping');
    const running = retry(
      async () => {
        throw grpcError(status.UNAVAILABLE);
      },
      { initialMs: 60_000, maxMs: 60_000, jitter: 'none', signal: abort.signal, onRetry: () => queueMicrotask(() => abort.abort(reason)) },
    );
    await assert.rejects(running, (err) => err === reason);
  });

  test('a stop flag ends the loop with the last error, before sleeping again', async () => {
    let calls = 0;
    let closing = false;
    await assert.rejects(
      retry(
        async () => {
          calls++;
          closing = true;
          throw grpcError(status.UNAVAILABLE);
        },
        { initialMs: 60_000, stop: () => closing },
      ),
      (err) => (err as { code?: number }).code === status.UNAVAILABLE,
    );
    assert.equal(calls, 1);
  });
});

describe('which errors are retriable', () => {
  test('gRPC codes: UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED yes; DATA_LOSS, INVALID_ARGUMENT and the rest no', () => {
    for (const code of [status.UNAVAILABLE, status.RESOURCE_EXHAUSTED, status.DEADLINE_EXCEEDED, status.ABORTED]) {
      assert.equal(isRetriable(grpcError(code)), true, status[code]);
    }
    for (const code of [status.DATA_LOSS, status.INVALID_ARGUMENT, status.INTERNAL, status.NOT_FOUND, status.PERMISSION_DENIED]) {
      assert.equal(isRetriable(grpcError(code)), false, status[code]);
    }
  });

  test('our errors say so themselves, and their gRPC code agrees', () => {
    const cases: Array<[FlumeError, boolean, status]> = [
      [new ChannelFullError('wal', 5_000), true, status.RESOURCE_EXHAUSTED],
      [new ChannelClosedError('wal'), true, status.UNAVAILABLE],
      [new NoCollectorError('autoE2EChain', 'none assigned'), true, status.UNAVAILABLE],
      [new ChecksumError('batch a#1', 1, 2), false, status.DATA_LOSS],
      [new MalformedBatchError('truncated varint'), false, status.INVALID_ARGUMENT],
      // Too large for the channel: the same batch never fits, however long it waits.
      [new BatchTooLargeError('wal', 10, 5), false, status.RESOURCE_EXHAUSTED],
      [new FlumeError('a bug'), false, status.INTERNAL],
    ];
    for (const [err, retriable, code] of cases) {
      assert.equal(isRetriable(err), retriable, err.name);
      assert.equal(err.grpcCode, code, err.name);
      if (!(err instanceof BatchTooLargeError)) assert.equal(isRetriable(grpcError(err.grpcCode)), retriable, `${err.name} over the wire`);
    }
  });

  test('connection-level system errors are retriable; others and non-errors are not', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAGAIN']) {
      assert.equal(isRetriable(Object.assign(new Error(code), { code })), true, code);
    }
    assert.equal(isRetriable(Object.assign(new Error('ENOENT'), { code: 'ENOENT' })), false);
    assert.equal(isRetriable(new Error('plain')), false);
    assert.equal(isRetriable(null), false);
    assert.equal(isRetriable('text'), false);
  });

  test('what a failure means for its data: disk and network retriable, values no file system takes permanent, the rest unknown', () => {
    const sys = (code: string): Error => Object.assign(new Error(code), { code });
    for (const code of ['ENOSPC', 'EDQUOT', 'EIO', 'EACCES', 'ECONNRESET']) assert.equal(failureKind(sys(code)), 'retriable', code);
    for (const code of ['ENAMETOOLONG', 'ERR_INVALID_ARG_VALUE']) assert.equal(failureKind(sys(code)), 'permanent', code);
    assert.equal(failureKind(new MalformedBatchError('truncated varint')), 'permanent');
    assert.equal(failureKind(new ChecksumError('batch a#1', 1, 2)), 'permanent');
    assert.equal(failureKind(grpcError(status.DATA_LOSS)), 'permanent');
    assert.equal(failureKind(new ChannelClosedError('wal')), 'retriable');
    assert.equal(failureKind(new Error('a bug')), 'unknown');
    assert.equal(failureKind(sys('ENOENT')), 'unknown');
  });
});
