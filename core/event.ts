/**
 * Events and batches as bytes: the one place every layer imports them from.
 *
 * A batch travels, and rests in every durable channel, as the protobuf encoding of
 * `flume.EventBatch` (proto/flume.proto), written and read by hand so that the hot path
 * allocates per batch, not per event. The code is in three files of one concern each:
 *
 *   - event-model.ts    {@link Event}, {@link Priority}, the field tags and varint writers;
 *   - batch-builder.ts  {@link BatchBuilder}, {@link encodeBatch}, {@link encodeEvents}: events
 *                       into one buffer;
 *   - batch-reader.ts   {@link parseBatchHeader}, {@link verifyBatch}, {@link EventCursor},
 *                       {@link firstEventTimestamp}, {@link decodeEvents}: the header and the
 *                       events read in place.
 *
 * The CRC32C covers the concatenation of every encoded `events` field (tag, length, value).
 * Our writer puts the events last and contiguous; the reader accepts any field order.
 */
export { BatchBuilder, encodeBatch, encodeEvents } from './batch-builder';
export { EventCursor, decodeEvents, firstEventTimestamp, parseBatchHeader, verifyBatch } from './batch-reader';
export { type BatchHeader, type Event, Priority, makeEvent, varintSize, writeVarint } from './event-model';
