/**
 * The Collector service's Append stream on the wire, shared by the collector source and the
 * agent sinks.
 *
 * Append is a raw method (proto/index.ts): grpc-js hands us each message's bytes. The first
 * request message is a `flume.AppendRequest` carrying `hello`; every later one is the bytes of
 * one `flume.EventBatch`, sent and stored exactly as the agent's channel holds them (no wrapper:
 * wrapping each batch in an AppendRequest would cost the agent one more allocation and copy of
 * every batch, which the benchmark shows as GC time). Responses are `flume.Ack` encodings.
 * Stored is an ordinary (decoded) unary method.
 */
import * as grpc from '@grpc/grpc-js';
import { MalformedBatchError } from '../errors';
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

/**
 * Reads the first message of an Append stream, which must be an AppendRequest carrying a hello.
 * Throws MalformedBatchError otherwise.
 */
export function parseHello(message: Buffer): AppendHello {
  if (message.length < 2 || message[0] !== TAG_HELLO) {
    throw new MalformedBatchError('the first message of an Append stream must be an AppendRequest with a hello');
  }
  let decoded: { hello?: { agent?: string; flow?: string; endToEnd?: boolean } };
  try {
    decoded = decodeMessage('AppendRequest', message);
  } catch (err) {
    throw new MalformedBatchError(`undecodable hello: ${(err as Error).message}`);
  }
  const h = decoded.hello;
  if (!h) throw new MalformedBatchError('append request without a hello');
  return { agent: h.agent ?? '', flow: h.flow ?? '', endToEnd: !!h.endToEnd };
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
