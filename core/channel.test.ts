import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { drain, numberedBatch, putAll, range } from '../test/util/batches';
import { BatchTooLargeError, TransactionStateError } from './errors';
import { MemoryChannel } from './memory-channel';

describe('transaction state machine', () => {
  test('operations outside an open transaction are refused', async () => {
    const ch = new MemoryChannel('m');
    const tx = ch.transaction();
    await assert.rejects(tx.put(numberedBatch('a', 1)), TransactionStateError);
    await assert.rejects(tx.take(), TransactionStateError);
    await assert.rejects(tx.commit(), TransactionStateError);
    assert.throws(() => tx.rollback(), TransactionStateError);
    tx.begin();
    assert.throws(() => tx.begin(), TransactionStateError);
    assert.throws(() => tx.close(), TransactionStateError, 'an open transaction cannot be closed');
    await tx.put(numberedBatch('a', 1));
    await tx.commit();
    assert.equal(tx.state, 'COMMITTED');
    await assert.rejects(tx.put(numberedBatch('a', 2)), TransactionStateError);
    assert.throws(() => tx.rollback(), TransactionStateError);
    tx.close();
    assert.equal(tx.state, 'CLOSED');
    tx.close();
  });

  test('one operation at a time', async () => {
    const ch = new MemoryChannel('m');
    const tx = ch.transaction();
    tx.begin();
    const waiting = tx.take(50);
    await assert.rejects(tx.put(numberedBatch('a', 1)), TransactionStateError);
    assert.equal(await waiting, null);
    tx.rollback();
    tx.close();
  });

  test('puts are invisible until commit; rollback discards them', async () => {
    const ch = new MemoryChannel('m');
    const tx = ch.transaction();
    tx.begin();
    await tx.put(numberedBatch('a', 1));
    assert.deepEqual(await drain(ch), []);
    tx.rollback();
    tx.close();
    assert.deepEqual(await drain(ch), []);
    assert.equal(ch.stats().batches, 0);
  });

  test('a rolled-back take returns to the head, in order', async () => {
    const ch = new MemoryChannel('m');
    await putAll(
      ch,
      range(1, 5).map((i) => numberedBatch('a', i)),
    );
    const tx = ch.transaction();
    tx.begin();
    assert.equal((await tx.take())?.seq, 1);
    assert.equal((await tx.take())?.seq, 2);
    tx.rollback();
    tx.close();
    assert.deepEqual(await drain(ch), [1, 2, 3, 4, 5]);
  });
});

describe('memory channel', () => {
  test('put waits while full and resumes when a take commits', async () => {
    const one = numberedBatch('a', 1).bytes.length;
    const ch = new MemoryChannel('m', { capacityBytes: one * 3 });
    await putAll(
      ch,
      range(1, 3).map((i) => numberedBatch('a', i)),
    );
    let done = false;
    const blocked = putAll(ch, [numberedBatch('a', 4)]).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false, 'the fourth put must wait');
    assert.equal(ch.stats().bytes, one * 3);
    const tx = ch.transaction();
    tx.begin();
    await tx.take();
    await tx.commit();
    tx.close();
    await blocked;
    assert.deepEqual(await drain(ch), [2, 3, 4]);
  });

  test('a batch larger than the capacity is refused at once', async () => {
    const ch = new MemoryChannel('m', { capacityBytes: 10 });
    await assert.rejects(putAll(ch, [numberedBatch('a', 1)]), BatchTooLargeError);
  });

  test('take waits for a commit', async () => {
    const ch = new MemoryChannel('m');
    const tx = ch.transaction();
    tx.begin();
    const taken = tx.take(5000);
    await putAll(ch, [numberedBatch('a', 9)]);
    assert.equal((await taken)?.seq, 9);
    await tx.commit();
    tx.close();
  });
});
