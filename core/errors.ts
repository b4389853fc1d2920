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
  /** Trying again can never succeed: the input itself is at fault (see {@link failureKind}). */
  readonly permanent: boolean = false;
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
  constructor(
    readonly channel: string,
    readonly waitedMs: number,
  ) {
    super(`channel ${channel} stayed full for ${waitedMs} ms`);
  }
}

/**
 * A durable channel could not write: its disk is short of space (below the headroom the WAL
 * keeps, or ENOSPC/EDQUOT), or another write failure the machine may recover from (`code`).
 * Nothing of the put was recorded; the same put may be tried again later, once space returns.
 */
export class DiskFullError extends FlumeError {
  override readonly retriable = true;
  override readonly grpcCode = status.RESOURCE_EXHAUSTED;
  constructor(
    readonly channel: string,
    readonly dir: string,
    /** The system error code (ENOSPC, EDQUOT, EIO, ...), or 'HEADROOM': free space under the WAL's floor. */
    readonly code: string,
    readonly freeBytes: number,
    options?: { cause?: unknown },
  ) {
    super(`channel ${channel} cannot write to ${dir} (${code}, ${freeBytes} bytes free)`, options);
  }
}

export class BatchTooLargeError extends FlumeError {
  override readonly permanent = true;
  override readonly grpcCode = status.RESOURCE_EXHAUSTED;
  constructor(
    readonly channel: string,
    readonly batchBytes: number,
    readonly limitBytes: number,
  ) {
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
  constructor(
    readonly operation: string,
    readonly state: string,
  ) {
    super(`cannot ${operation} a transaction that is ${state}`);
  }
}

export class ChecksumError extends FlumeError {
  override readonly permanent = true;
  override readonly grpcCode = status.DATA_LOSS;
  constructor(
    readonly what: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`checksum mismatch in ${what}: expected ${expected.toString(16)}, got ${actual.toString(16)}`);
  }
}

export class MalformedBatchError extends FlumeError {
  override readonly permanent = true;
  override readonly grpcCode = status.INVALID_ARGUMENT;
}

/** No collector to send to: none answered, or none is assigned yet. */
export class NoCollectorError extends FlumeError {
  override readonly retriable = true;
  override readonly grpcCode = status.UNAVAILABLE;
  constructor(
    readonly sink: string,
    reason: string,
  ) {
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
  constructor(
    readonly problems: Error[],
    what = 'validation',
  ) {
    super(`${what} failed:\n${problems.map((p) => `  ${p.message}`).join('\n')}`);
  }
}

/** Another live process holds the lock of a data dir (core/lock.ts). */
export class LockHeldError extends FlumeError {
  constructor(
    readonly dir: string,
    readonly lockFile: string,
    readonly pid: number,
    readonly host: string,
  ) {
    super(`${dir} is in use by process ${pid}${host ? ` on ${host}` : ''} (lock file ${lockFile}); stop that process first`);
  }
}

/**
 * gRPC codes a client may retry (ABORTED too: gRPC's advice is "retry at a higher level"), and
 * the ones that say the data itself is at fault. Every other code is unknown.
 */
const RETRIABLE_GRPC_CODES: ReadonlySet<number> = new Set([
  status.UNAVAILABLE,
  status.RESOURCE_EXHAUSTED,
  status.DEADLINE_EXCEEDED,
  status.ABORTED,
]);
const PERMANENT_GRPC_CODES: ReadonlySet<number> = new Set([status.INVALID_ARGUMENT, status.DATA_LOSS]);

/**
 * Node system errors of the machine or the network, for now: space, quotas, descriptors,
 * permissions an operator fixes, a peer away.
 */
const RETRIABLE_SYSTEM_CODES: ReadonlySet<string> = new Set([
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EROFS',
  'EACCES',
  'EPERM',
  'EMFILE',
  'ENFILE',
  'EBUSY',
  'EAGAIN',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
/** Values no file system or encoder will ever take: a name too long, a NUL in a path, a bad argument. */
const PERMANENT_SYSTEM_CODES: ReadonlySet<string> = new Set([
  'ENAMETOOLONG',
  'ERR_INVALID_ARG_VALUE',
  'ERR_INVALID_ARG_TYPE',
  'ERR_OUT_OF_RANGE',
  'ERR_BUFFER_OUT_OF_BOUNDS',
]);

/**
 * The one place that says what a failure means for the data that met it: a FlumeError by its
 * flags, a gRPC error (a number `code`) by its status, a Node system error (a string `code`) by
 * its kind.
 * - 'retriable': the world may change (space freed, a peer back): retry with backoff, for ever;
 * - 'permanent': the data itself is at fault: retrying cannot help (quarantine it, core/dead-letter.ts);
 * - 'unknown': neither is known; callers retry it (quarantining on a guess would move the data of
 *   a sink that is merely down).
 */
export function failureKind(err: unknown): 'retriable' | 'permanent' | 'unknown' {
  if (err instanceof FlumeError) return err.retriable ? 'retriable' : err.permanent ? 'permanent' : 'unknown';
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number')
    return RETRIABLE_GRPC_CODES.has(code) ? 'retriable' : PERMANENT_GRPC_CODES.has(code) ? 'permanent' : 'unknown';
  if (typeof code === 'string')
    return RETRIABLE_SYSTEM_CODES.has(code) ? 'retriable' : PERMANENT_SYSTEM_CODES.has(code) ? 'permanent' : 'unknown';
  return 'unknown';
}

/** Whether an error is worth retrying (see {@link failureKind}). */
export function isRetriable(err: unknown): boolean {
  return failureKind(err) === 'retriable';
}
