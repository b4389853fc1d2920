import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompressionFilter } from '@grpc/grpc-js/build/src/compression-filter';
import { batchPool, GRPC_FRAME_PREFIX } from '../buffer-pool';
import { installFrameInPlace } from './frame-in-place';

/** What grpc-js writes to the HTTP/2 stream for `message` (its compression filter, as a call uses it). */
async function frameOf(message: Buffer): Promise<Buffer> {
  const filter = new CompressionFilter({}, {});
  return (await filter.sendMessage(Promise.resolve({ message, flags: 0 }))).message;
}

/** Whether `frame` is a view of the memory in front of and under `message` (no copy). */
function inPlace(frame: Buffer, message: Buffer): boolean {
  return frame.buffer === message.buffer && frame.byteOffset + GRPC_FRAME_PREFIX === message.byteOffset;
}

function expectFrame(frame: Buffer, message: Buffer): void {
  assert.equal(frame.length, message.length + GRPC_FRAME_PREFIX);
  assert.equal(frame[0], 0, 'not compressed');
  assert.equal(frame.readUInt32BE(1), message.length);
  assert.ok(frame.subarray(GRPC_FRAME_PREFIX).equals(message));
}

test('the grpc-js we ship is the shape the in-place framing was written for', () => {
  assert.equal(installFrameInPlace(), true);
});

test('a pooled batch is framed in the memory it is in, without a copy', async () => {
  installFrameInPlace();
  const batch = batchPool.take(3000);
  batch.fill(7);
  const frame = await frameOf(batch);
  expectFrame(frame, batch);
  assert.ok(inPlace(frame, batch), 'the same memory');
  batchPool.give(batch);
});

test('anything else is copied as grpc-js does: other buffers, slices of pooled ones, batches given back', async () => {
  installFrameInPlace();
  const plain = Buffer.from('hello');
  const pooled = batchPool.take(100);
  pooled.fill(1);
  const slice = pooled.subarray(10, 20);
  for (const message of [plain, slice]) {
    const frame = await frameOf(message);
    expectFrame(frame, message);
    assert.ok(!inPlace(frame, message), 'a copy');
  }
  batchPool.give(pooled);
  const late = await frameOf(pooled);
  assert.ok(!inPlace(late, pooled), 'a buffer given back may be handed out again: its headroom is no longer ours');
  assert.equal(
    pooled.subarray(0, 10).every((b) => b === 1),
    true,
    'the batch itself is untouched',
  );
});
