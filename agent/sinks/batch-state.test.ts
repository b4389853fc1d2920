import assert from 'node:assert/strict';
import { test } from 'node:test';
import { numberedBatch } from '../../test/util/batches';
import { BatchStateError, SinkBatch } from './batch-state';

function tracked(): { b: SinkBatch; outcome: Promise<string> } {
  let b!: SinkBatch;
  const outcome = new Promise<string>((resolve) => {
    b = new SinkBatch(
      numberedBatch('a', 1),
      'a#1',
      () => resolve('resolved'),
      (err) => resolve(`rejected: ${err.message}`),
    );
  });
  return { b, outcome };
}

test('a batch goes queued, sent, hop-acked, back to the queue on a lost stream, and is acked on the next one', async () => {
  const { b, outcome } = tracked();
  assert.equal(b.state, 'QUEUED');
  b.send();
  assert.equal(b.state, 'SENT');
  assert.ok(b.onWire);
  b.hopAcked(1234);
  assert.equal(b.hopAt, 1234);
  assert.ok(b.onWire, 'a hop-acked batch still counts against the window');
  b.requeue();
  assert.equal(b.state, 'QUEUED');
  assert.equal(b.hopAt, 0);
  assert.ok(!b.onWire);
  b.send();
  b.acked();
  assert.equal(b.state, 'ACKED');
  assert.ok(b.settled);
  assert.equal(await outcome, 'resolved');
});

test('a rejected batch rejects its append; a dropped one resolves it', async () => {
  const rejected = tracked();
  rejected.b.send();
  rejected.b.failed(new Error('bad checksum'));
  assert.equal(await rejected.outcome, 'rejected: bad checksum');
  const dropped = tracked();
  dropped.b.dropped();
  assert.equal(dropped.b.state, 'DROPPED');
  assert.equal(await dropped.outcome, 'resolved');
});

test('transitions not in the diagram are bugs and throw, leaving the state as it was', () => {
  const { b } = tracked();
  assert.throws(
    () => b.hopAcked(1),
    (err) => err instanceof BatchStateError && err.from === 'QUEUED' && err.to === 'HOP_ACKED',
  );
  assert.throws(() => b.requeue(), BatchStateError);
  b.send();
  assert.throws(() => b.send(), BatchStateError, 'never sent twice on the wire');
  b.acked();
  for (const late of [() => b.acked(), () => b.failed(new Error('x')), () => b.dropped(), () => b.send(), () => b.requeue()]) {
    assert.throws(late, BatchStateError, 'a settled batch stays settled');
  }
  assert.equal(b.state, 'ACKED');
});

test('a pending drop timer is cancelled once the batch is sent or settled', () => {
  for (const leave of [(b: SinkBatch) => b.send(), (b: SinkBatch) => b.failed(new Error('closed'))]) {
    const { b, outcome } = tracked();
    outcome.catch(() => undefined);
    b.dropTimer = setTimeout(() => assert.fail('the drop timer fired'), 0);
    leave(b);
    assert.equal(b.dropTimer, undefined);
  }
});
