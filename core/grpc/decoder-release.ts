/**
 * grpc-js's message decoder lets go of a message once it has been read.
 *
 * THE PROBLEM. grpc-js (1.14.7, the newest release) reads every call's messages with one
 * `StreamDecoder`, on servers and clients alike. After a message is complete, the decoder still
 * holds its pieces (`readCompressFlag` and `readPartialMessage`: slices of the HTTP/2 chunks the
 * message came in, which keep those chunks' ArrayBuffers alive) until the next message begins.
 * On a long-lived stream that carries a message a second (a node's control stream, see
 * master/control-stream.ts) that is about one second: longer than two young-generation GCs, so
 * V8 copies every message's pieces twice and then promotes them to the old generation, where they
 * die and wait for a major GC. A master holding 10,000 control streams promoted ~1.3 MB per
 * scavenge, which made scavenges 2x longer and the heap ~100 MB larger (figures in issue 17).
 *
 * THE WORKAROUND (two private grpc-js fields, touched only here): {@link releaseDecodedMessages}
 * wraps `StreamDecoder.prototype.write` once per process; when a write ends between messages,
 * the decoder's two fields are pointed at empty values. That changes nothing the decoder does:
 * the next write at a message boundary assigns both before it reads either. If grpc-js renames
 * the fields or the state, the wrapper finds no such fields and does nothing, and
 * core/grpc/decoder-release.test.ts fails (it checks that a decoder keeps no slice of what it
 * read). When grpc-js clears them itself, delete this file.
 */
import { StreamDecoder } from '@grpc/grpc-js/build/src/stream-decoder';

/** The private fields of grpc-js's StreamDecoder that this workaround reads and clears. */
interface DecoderFields {
  readState: number;
  readCompressFlag: Buffer;
  readPartialMessage: Buffer[];
}

/** `ReadState.NO_DATA` of grpc-js's stream-decoder.ts: between two messages. */
const BETWEEN_MESSAGES = 0;
const NO_FLAG = Buffer.alloc(1);
/** Frozen: were a grpc-js change to push into it, the push throws instead of sharing pieces between decoders. */
const NO_PIECES: Buffer[] = Object.freeze([]) as unknown as Buffer[];

let released = false;

/** Makes every grpc-js decoder of this process forget a message once it is read (see the header). Idempotent. */
export function releaseDecodedMessages(): void {
  if (released) return;
  released = true;
  const write = StreamDecoder.prototype.write;
  StreamDecoder.prototype.write = function (this: StreamDecoder, data: Buffer): Buffer[] {
    const messages = write.call(this, data);
    const fields = this as unknown as DecoderFields;
    if (fields.readState === BETWEEN_MESSAGES && fields.readPartialMessage !== undefined) {
      fields.readCompressFlag = NO_FLAG;
      fields.readPartialMessage = NO_PIECES;
    }
    return messages;
  };
}
