/**
 * One error hierarchy. Every error carries data in fields, not only prose, and says whether
 * trying again may succeed. `grpcCode` is the status a server answers with for it.
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

export class ChannelFullError extends FlumeError {
  override readonly retriable = true;
  override readonly grpcCode = status.RESOURCE_EXHAUSTED;
  constructor(readonly channel: string, readonly capacityBytes: number) {
    super(`channel ${channel} is full (${capacityBytes} bytes)`);
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

export class NoCollectorError extends FlumeError {
  override readonly retriable = true;
  override readonly grpcCode = status.UNAVAILABLE;
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

/** Another live process holds the lock of a data dir (core/lock.ts). */
export class LockHeldError extends FlumeError {
  constructor(readonly dir: string, readonly lockFile: string, readonly pid: number, readonly host: string) {
    super(`${dir} is in use by process ${pid}${host ? ` on ${host}` : ''} (lock file ${lockFile}); stop that process first`);
  }
}

/** The one place that says which errors are worth retrying. */
export function isRetriable(err: unknown): boolean {
  if (err instanceof FlumeError) return err.retriable;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number') {
    return code === status.UNAVAILABLE || code === status.RESOURCE_EXHAUSTED || code === status.DEADLINE_EXCEEDED
      || code === status.ABORTED;
  }
  if (typeof code === 'string') {
    return ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAGAIN', 'CONNECTION_LOSS'].includes(code);
  }
  return false;
}
