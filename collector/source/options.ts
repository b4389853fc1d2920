/** Options of the collector's gRPC server, their defaults, and the one parser that checks them. */
import { ValidationError } from '../../core/errors';
import { GRPC_TUNING_DEFAULTS, type GrpcTuning } from '../../core/grpc/tuning';

export interface CollectorServerOptions {
  /** Address to listen on; `::` for every interface. */
  host: string;
  /** 0: any free port (read it back from `CollectorServer.port`). */
  port: number;
  /**
   * Per stream: batches received and not yet hop-acked. When reached, the server stops reading
   * the stream (HTTP/2 flow control then stops the agent), so a slow channel slows agents and
   * never grows memory.
   */
  window: number;
  /** Largest batch accepted; larger gRPC messages are refused by grpc-js (RESOURCE_EXHAUSTED). */
  maxBatchBytes: number;
  /**
   * How long a batch may wait for room in the channel before the stream is told RETRY
   * (RESOURCE_EXHAUSTED) and closed, so that its agent can fail over to another collector.
   */
  putTimeoutMs: number;
  /** End-to-end acks remembered after they were due, for `Stored` queries. */
  rememberStored: number;
  /**
   * A resent batch still pending here (committed, not yet stored) is not put again unless it
   * has been pending this long (see e2e-acks.ts, point 4). Keep below the agents' e2eTimeoutMs.
   */
  pendingDedupMs: number;
  /** How long `stop()` lets streams finish before it cuts them. */
  stopGraceMs: number;
  /** HTTP/2 window and frame tuning (core/grpc/tuning.ts). */
  grpc: Partial<GrpcTuning>;
}

export const COLLECTOR_SERVER_DEFAULTS: CollectorServerOptions = {
  host: '127.0.0.1',
  port: 0,
  window: 32,
  maxBatchBytes: GRPC_TUNING_DEFAULTS.maxMessageBytes - 64,
  putTimeoutMs: 30_000,
  rememberStored: 100_000,
  pendingDedupMs: 30_000,
  stopGraceMs: 2_000,
  grpc: {},
};

const INTEGER_KEYS = ['port', 'window', 'maxBatchBytes', 'putTimeoutMs', 'rememberStored', 'pendingDedupMs', 'stopGraceMs'] as const;

/** Fills defaults; rejects unknown keys and bad values, all problems at once. */
export function parseCollectorServerOptions(input: Partial<CollectorServerOptions> = {}): CollectorServerOptions {
  const problems: Error[] = [];
  const known = new Set(Object.keys(COLLECTOR_SERVER_DEFAULTS));
  for (const key of Object.keys(input)) {
    if (!known.has(key)) problems.push(new Error(`unknown option "${key}" (known: ${[...known].join(', ')})`));
  }
  const out: CollectorServerOptions = { ...COLLECTOR_SERVER_DEFAULTS, ...input };
  for (const key of INTEGER_KEYS) {
    const v = out[key];
    if (!Number.isInteger(v) || v < 0) problems.push(new Error(`option "${key}" must be a non-negative integer, got ${String(v)}`));
  }
  if (out.port > 65535) problems.push(new Error(`option "port" must be at most 65535, got ${out.port}`));
  if (out.window < 1) problems.push(new Error('option "window" must be at least 1'));
  if (typeof out.host !== 'string' || out.host === '') problems.push(new Error('option "host" must be a non-empty string'));
  if (problems.length > 0) throw new ValidationError(problems, 'collector server options');
  return out;
}
