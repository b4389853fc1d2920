/**
 * One error hierarchy. Every error carries data in fields, not only prose, and says whether
 * trying again may succeed. `grpcCode` is the status a server answers with for it.
 */
import { status } from '@grpc/grpc-js';

export class FlumeError extends Error {
  readonly retriable: boolean = false;
  /** Trying again can never succeed: the input itself is at fault (see {@link failureKind}). */
  readonly permanent: boolean = false;
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
  override readonly permanent = true;
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
  override readonly permanent = true;
  override readonly grpcCode = status.DATA_LOSS;
  constructor(readonly what: string, readonly expected: number, readonly actual: number) {
    super(`checksum mismatch in ${what}: expected ${expected.toString(16)}, got ${actual.toString(16)}`);
  }
}

export class MalformedBatchError extends FlumeError {
  override readonly permanent = true;
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

const RETRIABLE_CODES = new Set([
  // The machine or the network, for now: space, quotas, descriptors, permissions an operator fixes.
  'ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE', 'EBUSY', 'EAGAIN', 'ENOENT',
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'CONNECTION_LOSS',
]);
// Values no file system or encoder will ever take: a name too long, a NUL in a path, a bad argument.
const PERMANENT_CODES = new Set(['ENAMETOOLONG', 'ERR_INVALID_ARG_VALUE', 'ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE', 'ERR_BUFFER_OUT_OF_BOUNDS']);

/**
 * The one place that says what a failure means for the data that met it:
 * - 'retriable': the world may change (space freed, a peer back): retry with backoff, for ever;
 * - 'permanent': the data itself is at fault: retrying cannot help (quarantine it, core/dead-letter.ts);
 * - 'unknown': neither is known; callers retry it (quarantining on a guess would move the data of
 *   a sink that is merely down).
 */
export function failureKind(err: unknown): 'retriable' | 'permanent' | 'unknown' {
  if (err instanceof FlumeError) return err.retriable ? 'retriable' : err.permanent ? 'permanent' : 'unknown';
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number') {
    if (code === status.UNAVAILABLE || code === status.RESOURCE_EXHAUSTED || code === status.DEADLINE_EXCEEDED || code === status.ABORTED) return 'retriable';
    if (code === status.INVALID_ARGUMENT || code === status.DATA_LOSS) return 'permanent';
  }
  if (typeof code === 'string') {
    if (RETRIABLE_CODES.has(code)) return 'retriable';
    if (PERMANENT_CODES.has(code)) return 'permanent';
  }
  return 'unknown';
}

/** The one place that says which errors are worth retrying. */
export function isRetriable(err: unknown): boolean {
  return failureKind(err) === 'retriable';
}
