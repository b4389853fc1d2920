/**
 * Sends pooled batches without grpc-js's copy.
 *
 * THE PROBLEM. grpc-js frames every message it sends in a new buffer: the 5-byte prefix (a
 * "compressed" flag and the big-endian length) and a copy of the message (compression-filter.js,
 * `IdentityHandler.writeMessage`). For an agent that is a fresh ~2 MB of malloc'd memory per
 * batch, about 75 MB per million events, dead once the socket has taken it but freed only when
 * V8 collects the small object in front of it: one that outlived a young-generation collection
 * waits for a full one. Those dead frames were 15–35 MB of an agent's peak RSS (issue 16, item 9:
 * 150 MB) and a memcpy of everything sent.
 *
 * THE WORKAROUND (one private grpc-js method, touched only here). Batches live in `batchPool`
 * buffers, which leave {@link GRPC_FRAME_PREFIX} bytes free in front of every buffer they hand
 * out. `IdentityHandler.prototype.writeMessage` is wrapped: for a message that is such a buffer
 * itself (`batchPool.ownsHeadroom`), the prefix is written into those bytes and the frame is a
 * view of the same memory; any other message is framed by grpc-js as before (hellos, acks,
 * compressed streams, batches not from the pool).
 *
 * Why the pool may reuse the memory later: a channel gives a batch's buffer back once the batch
 * is acked, and the collector acks only what it received whole, so the socket is done with the
 * bytes; a stream cancelled before that sends no more of them (a best-effort batch dropped with
 * its stream is forgotten by the pool, agent-sink.ts). Sending one batch twice (a resend on a new
 * stream) writes the same prefix again.
 *
 * grpc-js does not export the class: its prototype is reached through a `CompressionFilter`
 * made for the purpose, whose `sendCompression` starts as one. If that shape is not found (another
 * grpc-js), nothing is wrapped, the agent sink warns, and batches are copied as before;
 * core/grpc/frame-in-place.test.ts checks the shape of the grpc-js we ship.
 */
import { batchPool, GRPC_FRAME_PREFIX } from '../buffer-pool';

type WriteMessage = (message: Buffer, compress: boolean) => Promise<Buffer>;

let installed: boolean | undefined;

/** The frame of `message`, in place in its pooled buffer's headroom. */
function frameInPlace(message: Buffer): Buffer {
  const frame = Buffer.from(message.buffer, message.byteOffset - GRPC_FRAME_PREFIX, message.length + GRPC_FRAME_PREFIX);
  frame[0] = 0; // not compressed
  frame.writeUInt32BE(message.length, 1);
  return frame;
}

/**
 * Wraps grpc-js's identity framing once per process; true when pooled batches are now framed
 * in place (false: grpc-js is not the shape this was written for; messages are copied).
 */
export function installFrameInPlace(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a private module of grpc-js, reached on purpose (see above)
    const { CompressionFilter } = require('@grpc/grpc-js/build/src/compression-filter') as {
      CompressionFilter: new (options: object, shared: object) => { sendCompression?: object };
    };
    const handler = new CompressionFilter({}, {}).sendCompression;
    const proto = handler ? (Object.getPrototypeOf(handler) as { writeMessage?: WriteMessage }) : undefined;
    const original = proto?.writeMessage;
    if (!proto || typeof original !== 'function' || proto.constructor.name !== 'IdentityHandler') return false;
    proto.writeMessage = function (this: unknown, message: Buffer, compress: boolean): Promise<Buffer> {
      if (Buffer.isBuffer(message) && batchPool.ownsHeadroom(message)) return Promise.resolve(frameInPlace(message));
      return original.call(this, message, compress);
    };
    installed = true;
  } catch {
    installed = false;
  }
  return installed;
}
