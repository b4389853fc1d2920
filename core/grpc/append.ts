/**
 * The Collector service's Append stream on the wire, shared by the collector source and the
 * agent sinks.
 *
 * Append is a raw method (proto/index.ts): grpc-js hands us each message's bytes. Requests are
 * `flume.AppendRequest` encodings: the first carries `hello`, every later one `batch`, whose
 * value is an EventBatch encoding; the collector takes it as a subarray of the message (no
 * copy, no decode) and stores exactly those bytes. Responses are `flume.Ack` encodings.
 * Stored is an ordinary (decoded) unary method.
 */
import * as grpc from '@grpc/grpc-js';
import { MalformedBatchError } from '../errors';
import { varintSize, writeVarint } from '../event';
import { decodeMessage, encodeMessage, serviceDefinition } from '../../proto';

export enum AckKind {
  HOP = 0,
  END_TO_END = 1,
}

export enum AckStatus {
  OK = 0,
  REJECTED = 1,
  RETRY = 2,
}

export interface Ack {
  origin: string;
  seq: number;
  kind: AckKind;
  status: AckStatus;
  message: string;
  /** gRPC status code of the cause, for REJECTED and RETRY; 0 otherwise. */
  code: number;
}

export interface AppendHello {
  agent: string;
  flow: string;
  /** The sender waits for END_TO_END acks (E2E mode): the collector tracks them for it. */
  endToEnd: boolean;
}

export type AppendRequest = { kind: 'hello'; hello: AppendHello } | { kind: 'batch'; bytes: Buffer };

export interface StoredQuery {
  origin: string;
  seqs: number[];
}

export interface StoredReply {
  stored: number[];
}

export const APPEND_PATH = '/flume.Collector/Append';
export const STORED_PATH = '/flume.Collector/Stored';

let definition: grpc.ServiceDefinition | undefined;

/** The grpc-js definition of flume.Collector, Append raw. */
export function collectorService(): grpc.ServiceDefinition {
  definition ??= serviceDefinition('Collector', ['Append']);
  return definition;
}

export function encodeHello(hello: AppendHello): Buffer {
  return encodeMessage('AppendRequest', { hello: { agent: hello.agent, flow: hello.flow, endToEnd: hello.endToEnd } });
}

const TAG_HELLO = (1 << 3) | 2;
const TAG_BATCH = (2 << 3) | 2;

/** An AppendRequest carrying `batch` (the bytes of one EventBatch): one copy, no encoding. */
export function wrapBatch(batch: Buffer): Buffer {
  const out = Buffer.allocUnsafe(1 + varintSize(batch.length) + batch.length);
  out[0] = TAG_BATCH;
  const p = writeVarint(out, 1, batch.length);
  batch.copy(out, p);
  return out;
}

/**
 * Reads one AppendRequest. A batch comes back as a view of `message`. Throws MalformedBatchError
 * on anything that is not exactly one hello or one batch.
 */
export function parseAppendRequest(message: Buffer): AppendRequest {
  if (message.length < 2) throw new MalformedBatchError(`append request of ${message.length} bytes`);
  const tag = message[0];
  if (tag === TAG_BATCH) {
    let len = 0;
    let mult = 1;
    let pos = 1;
    for (;;) {
      if (pos >= message.length || pos > 6) throw new MalformedBatchError('bad length of the batch field');
      const b = message[pos++];
      len += (b & 0x7f) * mult;
      if (b < 0x80) break;
      mult *= 128;
    }
    if (pos + len !== message.length) {
      throw new MalformedBatchError(`batch field of ${len} bytes in a request of ${message.length - pos} bytes`);
    }
    return { kind: 'batch', bytes: message.subarray(pos) };
  }
  if (tag === TAG_HELLO) {
    let decoded: { hello?: { agent?: string; flow?: string; endToEnd?: boolean } };
    try {
      decoded = decodeMessage('AppendRequest', message);
    } catch (err) {
      throw new MalformedBatchError(`undecodable hello: ${(err as Error).message}`);
    }
    const h = decoded.hello;
    if (!h) throw new MalformedBatchError('append request without hello or batch');
    return { kind: 'hello', hello: { agent: h.agent ?? '', flow: h.flow ?? '', endToEnd: !!h.endToEnd } };
  }
  throw new MalformedBatchError(`append request starts with tag 0x${tag.toString(16)}`);
}

export function encodeAck(ack: Ack): Buffer {
  return encodeMessage('Ack', {
    id: { origin: ack.origin, seq: ack.seq },
    kind: ack.kind,
    status: ack.status,
    message: ack.message,
    code: ack.code,
  });
}

export function decodeAck(bytes: Buffer): Ack {
  const a = decodeMessage<{ id?: { origin: string; seq: number }; kind: number; status: number; message: string; code: number }>(
    'Ack',
    bytes,
  );
  return {
    origin: a.id?.origin ?? '',
    seq: a.id?.seq ?? 0,
    kind: a.kind,
    status: a.status,
    message: a.message,
    code: a.code,
  };
}

/** The key acks are matched by. */
export function batchKey(origin: string, seq: number): string {
  return `${origin}\u0000${seq}`;
}
