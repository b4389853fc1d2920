/** Options of the agent's collector sinks (E2E / DFO / BE, single or chain), defaults, parser. */
import { ValidationError } from '../../core/errors';
import type { GrpcTuning } from '../../core/grpc/tuning';
import { DEFAULT_COLLECTOR_PORT } from '../../core/ports';

/**
 * - `E2E`: `append` resolves on the END_TO_END ack (the batch is in storage). After a reconnect
 *   the sink asks the collector which unacked batches are stored, and resends the others.
 * - `DFO`: resolves on the HOP ack (the batch is in the collector's channel); while no collector
 *   answers, appends wait (the batches stay in the agent's durable channel) and are sent when
 *   one returns.
 * - `BE`: resolves on the HOP ack; a batch the connection fails to deliver (no collector within
 *   `connectTimeoutMs`, stream lost before the ack, refused) is dropped, counted, and resolves.
 */
export type DeliveryMode = 'E2E' | 'DFO' | 'BE';

export interface AgentSinkOptions {
  /** `host:port` of each collector, in failover order (one for a plain sink, more for a chain). */
  collectors: string[];
  mode: DeliveryMode;
  /** The sender's name, told to the collector in the hello (the physical node). */
  agent: string;
  flow: string;
  /** Appends in flight at once (the driver's window). */
  window: number;
  /**
   * Bytes sent and not yet acked, at most (one batch always goes): a few round trips' worth.
   * More only piles batches up in the collector's channel, beyond what its memory cache holds.
   */
  windowBytes: number;
  /** How long one connection attempt may take. */
  connectTimeoutMs: number;
  /** Backoff between rounds of the chain when no collector answers. */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** After failing over away from the first collector, try it again this often. */
  failbackMs: number;
  /** E2E: a hop-acked batch with no END_TO_END ack after this long restarts the stream (resend). */
  e2eTimeoutMs: number;
  /**
   * `close()` waits this long for the acks of appends in flight (while a stream is up) before
   * failing them: the node's driver has waited for its appends already (node/logical-node.ts).
   */
  closeGraceMs: number;
  grpc: Partial<GrpcTuning>;
}

const AGENT_SINK_DEFAULTS: Omit<AgentSinkOptions, 'collectors' | 'mode'> = {
  agent: 'agent',
  flow: 'default',
  window: 64,
  // Bytes on the wire and not yet acked. 8 MB (from 16) keeps the agent's RSS under 150 MB through
  // a 1 GB backlog (issue 16 item 9; with core/gc-pace.ts): agent-backlog 1 GB, peak RSS 198 → 142 MB.
  windowBytes: 8 * 1024 * 1024,
  connectTimeoutMs: 3_000,
  backoffInitialMs: 100,
  backoffMaxMs: 5_000,
  failbackMs: 30_000,
  e2eTimeoutMs: 60_000,
  closeGraceMs: 1_000,
  grpc: {},
};

const INTEGER_KEYS = [
  'window',
  'windowBytes',
  'connectTimeoutMs',
  'backoffInitialMs',
  'backoffMaxMs',
  'failbackMs',
  'e2eTimeoutMs',
  'closeGraceMs',
] as const;
const TARGET = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;

export function parseAgentSinkOptions(input: Partial<AgentSinkOptions> & Pick<AgentSinkOptions, 'collectors' | 'mode'>): AgentSinkOptions {
  const problems: Error[] = [];
  const known = new Set([...Object.keys(AGENT_SINK_DEFAULTS), 'collectors', 'mode']);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) problems.push(new Error(`unknown option "${key}" (known: ${[...known].join(', ')})`));
  }
  const out: AgentSinkOptions = { ...AGENT_SINK_DEFAULTS, ...input };
  if (!Array.isArray(out.collectors) || out.collectors.length === 0) {
    problems.push(new Error('option "collectors" must list at least one host:port'));
  } else {
    for (const c of out.collectors) {
      const m = TARGET.exec(String(c));
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) problems.push(new Error(`collector "${String(c)}" is not host:port`));
    }
  }
  if (!['E2E', 'DFO', 'BE'].includes(out.mode)) problems.push(new Error(`option "mode" must be E2E, DFO or BE, got ${String(out.mode)}`));
  for (const key of INTEGER_KEYS) {
    const v = out[key];
    if (!Number.isInteger(v) || v < 0) problems.push(new Error(`option "${key}" must be a non-negative integer, got ${String(v)}`));
  }
  if (out.window < 1) problems.push(new Error('option "window" must be at least 1'));
  if (problems.length > 0) throw new ValidationError(problems, 'collector sink options');
  return out;
}

/** Flume OG's collector port, used when a spec names a collector host without one. */

/**
 * Collector targets from spec arguments, as Flume OG wrote them: `agentE2ESink("h", 35853)`
 * (host and port), `agentE2ESink("h")` (default port), `agentE2EChain("h1:p1", "h2", ...)`
 * (each a host with an optional port). Returns `host:port` strings in order; throws a
 * ValidationError listing every bad argument.
 */
export function collectorTargets(args: ReadonlyArray<string | number>): string[] {
  const problems: Error[] = [];
  const out: string[] = [];
  if (args.length === 0) problems.push(new Error('at least one collector is needed'));
  const single = args.length === 2 && typeof args[0] === 'string' && typeof args[1] === 'number';
  const items: Array<[string, number | undefined]> = single
    ? [[args[0] as string, args[1] as number]]
    : args.map((a) => {
        const text = String(a);
        const m = /^(.*):(\d+)$/.exec(text);
        return m && !m[1].endsWith(':') ? [m[1], Number(m[2])] : [text, undefined];
      });
  for (const [rawHost, port] of items) {
    const host = rawHost.startsWith('[') ? rawHost : rawHost.includes(':') ? `[${rawHost}]` : rawHost;
    const p = port ?? DEFAULT_COLLECTOR_PORT;
    if (!Number.isInteger(p) || p < 1 || p > 65535) problems.push(new Error(`bad port ${String(port)} for collector "${rawHost}"`));
    else if (!TARGET.test(`${host}:${p}`)) problems.push(new Error(`bad collector host "${rawHost}"`));
    else out.push(`${host}:${p}`);
  }
  if (problems.length > 0) throw new ValidationError(problems, 'collector list');
  return out;
}
