/**
 * One error hierarchy. Every error carries data in fields, not only prose, and says whether
 * trying again may succeed (`retriable`). `grpcCode` is the status a server answers with for it.
 *
 * The two go together on purpose: a server answers a retriable error with a code that
 * `isRetriable` (below, the one place that decides) treats as retriable on the client.
 * UNAVAILABLE (closed, no collector), RESOURCE_EXHAUSTED (a channel full for too long)
 * and DEADLINE_EXCEEDED: try again, later or elsewhere. DATA_LOSS (bad checksum) and
 * INVALID_ARGUMENT (malformed, bad spec): the same request can never succeed. One exception:
 * a batch larger than a channel's capacity is RESOURCE_EXHAUSTED but not retriable.
 */
import { status } from '@grpc/grpc-js';

export class FlumeError extends Error {
  readonly retriable: boolean = false;
  readonly grpcCode: status = status.INTERNAL;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A put waited `waitedMs` for room in a full channel and gave up (backpressure). */
export class ChannelFullError extends FlumeError {
  override readonly retriable = true;
  override readonly grpcCode = status.RESOURCE_EXHAUSTED;
  constructor(readonly channel: string, readonly waitedMs: number) {
    super(`channel ${channel} stayed full for ${waitedMs} ms`);
  }
}

export class BatchTooLargeError extends FlumeError {
  override readonly grpcCode = status.RESOURCE_EXHAUSTED;
  constructor(readonly channel: string, readonly batchBytes: number, readonly limitBytes: number) {
    super(`batch of ${batchBytes} bytes exceeds the ${limitBytes}-byte limit of ${channel}`);
  }
}

export class ChannelClosedError extends FlumeError {
  override readonly retriable = true;
  override readonly grpcCode = status.UNAVAILABLE;
  constructor(readonly channel: string) {
    super(`channel ${channel} is closed`);
  }
}

export class TransactionStateError extends FlumeError {
  constructor(readonly operation: string, readonly state: string) {
    super(`cannot ${operation} a transaction that is ${state}`);
  }
}

export class ChecksumError extends FlumeError {
  override readonly grpcCode = status.DATA_LOSS;
  constructor(readonly what: string, readonly expected: number, readonly actual: number) {
    super(`checksum mismatch in ${what}: expected ${expected.toString(16)}, got ${actual.toString(16)}`);
  }
}

export class MalformedBatchError extends FlumeError {
  override readonly grpcCode = status.INVALID_ARGUMENT;
}

/** No collector to send to: none answered, or none is assigned yet. */
export class NoCollectorError extends FlumeError {
  override readonly retriable = true;
  override readonly grpcCode = status.UNAVAILABLE;
  constructor(readonly sink: string, reason: string) {
    super(`${sink}: ${reason}`);
  }
}

export class SpecSyntaxError extends FlumeError {
  override readonly grpcCode = status.INVALID_ARGUMENT;
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
    readonly found: string,
    readonly expected: string[],
  ) {
    super(`${line}:${column}: ${message}`);
  }
}

/** Several problems found at once (a spec, an option set); each keeps its own fields. */
export class ValidationError extends FlumeError {
  override readonly grpcCode = status.INVALID_ARGUMENT;
  constructor(readonly problems: Error[], what = 'validation') {
    super(`${what} failed:\n${problems.map((p) => `  ${p.message}`).join('\n')}`);
  }
}

/**
 * gRPC codes a client may retry (ABORTED too: gRPC's advice is "retry at a higher level").
 * Every other code, DATA_LOSS and INVALID_ARGUMENT first, is final.
 */
const RETRIABLE_GRPC_CODES: ReadonlySet<number> = new Set([
  status.UNAVAILABLE, status.RESOURCE_EXHAUSTED, status.DEADLINE_EXCEEDED, status.ABORTED,
]);

/** Node system errors of a connection or a busy resource, worth another try. */
const RETRIABLE_SYSTEM_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAGAIN']);

/**
 * The one place that says which errors are worth retrying: a FlumeError by its flag, a gRPC
 * error (a number `code`) by its status, a Node system error (a string `code`) by its kind.
 */
export function isRetriable(err: unknown): boolean {
  if (err instanceof FlumeError) return err.retriable;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number') return RETRIABLE_GRPC_CODES.has(code);
  if (typeof code === 'string') return RETRIABLE_SYSTEM_CODES.has(code);
  return false;
}
