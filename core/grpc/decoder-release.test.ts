import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { StreamDecoder } from '@grpc/grpc-js/build/src/stream-decoder';
import { gcFunction } from '../gc-pace';
import { releaseDecodedMessages } from './decoder-release';

releaseDecodedMessages();

/** A gRPC message as it travels: flag byte, 4-byte length, body. */
function framed(body: Buffer): Buffer {
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  return frame;
}

function fullGc(): void {
  const gc = gcFunction();
  assert.ok(gc, "V8's gc function is needed to check what a decoder keeps");
  gc();
}

test('a decoder keeps nothing of the chunk its messages came in once they are read', async () => {
  const decoder = new StreamDecoder(1 << 20);
  let chunkMemory!: WeakRef<ArrayBuffer>;
  let split!: WeakRef<ArrayBuffer>;
  (() => {
    // Two whole messages in one chunk (Buffer.alloc: not from the pool, its own ArrayBuffer).
    const chunk = Buffer.alloc(2 * 105);
    framed(Buffer.alloc(100, 1)).copy(chunk, 0);
    framed(Buffer.alloc(100, 2)).copy(chunk, 105);
    chunkMemory = new WeakRef(chunk.buffer);
    const messages = decoder.write(chunk);
    assert.deepEqual(messages, [framed(Buffer.alloc(100, 1)), framed(Buffer.alloc(100, 2))]);
    // One message over two chunks: the first chunk is needed until the second arrives.
    const whole = framed(Buffer.alloc(300, 3));
    const first = Buffer.alloc(150);
    whole.copy(first, 0, 0, 150);
    split = new WeakRef(first.buffer);
    assert.deepEqual(decoder.write(first), []);
    assert.deepEqual(decoder.write(whole.subarray(150)), [whole]);
  })();
  // A WeakRef made in a job keeps its target until the job ends.
  await new Promise(setImmediate);
  fullGc();
  assert.equal(chunkMemory.deref(), undefined, "the chunk's memory is kept by the decoder after its messages were read");
  assert.equal(split.deref(), undefined, 'the first part of a split message is kept after the message was read');
});

test('messages split anywhere across chunks decode as they were sent', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (bodies, cuts) => {
        const frames = bodies.map((b) => framed(Buffer.from(b)));
        const wire = Buffer.concat(frames);
        const at = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
        const decoder = new StreamDecoder(1 << 20);
        const got: Buffer[] = [];
        let from = 0;
        for (const to of [...at, wire.length]) {
          got.push(...decoder.write(Buffer.from(wire.subarray(from, to))));
          from = to;
        }
        assert.deepEqual(got, frames);
      },
    ),
  );
});
