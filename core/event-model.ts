/**
 * An event, and the protobuf fields of `flume.Event` / `flume.EventBatch` (proto/flume.proto) that
 * the batch encoder (batch-builder.ts) and decoder (batch-reader.ts) write and read by hand.
 *
 * Contract:
 * - {@link Event} is the decoded form, for code that needs an object (decorators, tests); the hot
 *   path never makes one: it appends fields to a BatchBuilder and walks bytes with an EventCursor.
 * - The tags below are the wire format: a change to them is a change to every batch on the wire
 *   and in every WAL (test/wire.test.ts and the golden WAL fixture pin both).
 * - Varints are non-negative integers below 2^53 (JavaScript numbers), never negative.
 */
export enum Priority {
  FATAL = 0,
  ERROR = 1,
  WARN = 2,
  INFO = 3,
  DEBUG = 4,
  TRACE = 5,
}

/** A decoded event, for code that needs one as an object (decorators, tests). */
export interface Event {
  body: Buffer;
  attributes: Map<string, Buffer>;
  timestamp: number;
  nanos: number;
  priority: Priority;
  host: string;
}

export function makeEvent(body: Buffer | string, fields: Partial<Omit<Event, 'body'>> = {}): Event {
  return {
    body: typeof body === 'string' ? Buffer.from(body) : body,
    attributes: fields.attributes ?? new Map(),
    timestamp: fields.timestamp ?? Date.now(),
    nanos: fields.nanos ?? 0,
    priority: fields.priority ?? Priority.INFO,
    host: fields.host ?? '',
  };
}

export interface BatchHeader {
  origin: string;
  seq: number;
  count: number;
  crc: number;
  /** Byte range of the events when they are contiguous (always, for batches we write). */
  eventsStart: number;
  eventsEnd: number;
}

/** `events` (field 15, length-delimited) of EventBatch: one byte, 0x7a. */
export const EVENTS_TAG = (15 << 3) | 2;
export const TAG_ID = (1 << 3) | 2;
export const TAG_COUNT = (2 << 3) | 0;
export const TAG_CRC = (3 << 3) | 5;

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes a non-negative integer below 2^53 as a varint; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}
