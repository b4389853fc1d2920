import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BufferPool } from './buffer-pool';

test('a given-back buffer is handed out again for a size that fits, and a bigger one is made otherwise', () => {
  const pool = new BufferPool(4 * 1024, 1024);
  const a = pool.take(1000);
  assert.equal(a.length, 1000);
  pool.give(a);
  assert.equal(pool.size, 1);
  const b = pool.take(900);
  assert.equal(b.buffer, a.buffer, 'the same memory, reused');
  assert.equal(b.length, 900);
  pool.give(b);
  const c = pool.take(5000);
  assert.notEqual(c.buffer, a.buffer, 'too small to hold 5000 bytes');
  assert.equal(pool.size, 1);
});

test('buffers the pool did not make, forgotten ones, doubles and those past maxFreeBytes are not kept', () => {
  const pool = new BufferPool(2 * 1024, 1024);
  pool.give(Buffer.allocUnsafeSlow(4096));
  assert.equal(pool.size, 0);
  const kept = pool.take(10);
  pool.give(kept);
  pool.give(kept);
  assert.equal(pool.size, 1, 'given twice, kept once');
  const forgotten = pool.take(2000);
  pool.forget(forgotten);
  pool.give(forgotten);
  assert.equal(pool.size, 1);
  const [x, y, z] = [pool.take(10), pool.take(10), pool.take(10)];
  for (const b of [x, y, z]) pool.give(b);
  assert.equal(pool.size, 2);
});

test('the free buffers are bounded by their bytes, whatever their number', () => {
  const pool = new BufferPool(4 * 1024, 1024);
  const small = [pool.take(1000), pool.take(1000), pool.take(1000)];
  const big = pool.take(3000);
  for (const b of small) pool.give(b);
  pool.give(big);
  assert.equal(pool.size, 3, 'three 1 KiB buffers fit, a 3 KiB one more does not');
  pool.take(10);
  pool.give(big);
  assert.equal(pool.size, 2, 'one taken, room for 2 KiB: still no room for 3 KiB');
});
