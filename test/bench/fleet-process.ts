/**
 * What the fleet bench's two kinds of load process (fleet-load.ts, fleet-lean.ts) share: their
 * arguments, the ramp that starts their nodes, and the event-loop delay they report.
 *
 * argv: MASTERS(comma) FIRST COUNT CA_FILE KEY_FILE CERTS_FILE RAMP_PER_S
 * IPC: {t: 'lag0'} starts measuring the event-loop delay afresh; {t: 'lag'} is answered with
 * {t: 'lag', p99} (ms, how late a 10 ms timer ran, p99 since `lag0`).
 * {t: 'mark', at} starts tracing failovers (FailoverTraces); {t: 'trace'} is answered with
 * {t: 'trace', nodes: [[was, noticeMs, attempts, backMs, reasons]]}: per node, since the mark, the
 * master it streamed to then, when its stream first broke, how many streams it opened until one
 * answered, when one answered (-1: not yet), and why each broke.
 */
import * as fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { readFleetCerts } from './fleet-certs';

export interface LoadArgs {
  masters: string[];
  /** This process runs nodes first .. first + count - 1. */
  first: number;
  count: number;
  ca: Buffer;
  /** The key every simulated node shares (fleet-certs.ts). */
  key: Buffer;
  /** Node i's certificate is certs[i - first]. */
  certs: string[];
  /** Nodes started per second. */
  rampPerS: number;
}

export function loadArgs(argv = process.argv.slice(2)): LoadArgs {
  const [masters, first, count, caFile, keyFile, certsFile, rampPerS] = argv;
  return {
    masters: masters.split(','),
    first: Number(first),
    count: Number(count),
    ca: fs.readFileSync(caFile),
    key: fs.readFileSync(keyFile),
    certs: readFleetCerts(certsFile, Number(first), Number(count)),
    rampPerS: Number(rampPerS),
  };
}

const RAMP_MS = 50;

/** Starts every node of `args` at its ramp rate, in batches every RAMP_MS. */
export async function ramp(args: LoadArgs, start: (i: number) => void): Promise<void> {
  const t0 = performance.now();
  const end = args.first + args.count;
  let next = args.first;
  while (next < end) {
    const due = Math.min(end, args.first + Math.ceil(((performance.now() - t0) / 1000) * args.rampPerS) + 1);
    for (; next < due; next++) start(next);
    await new Promise((r) => setTimeout(r, RAMP_MS));
  }
}

/** The masters in node i's order: node i starts with master i mod M and fails over in list order, so the fleet is spread. */
export function mastersOf(masters: readonly string[], i: number): string[] {
  const shift = i % masters.length;
  return [...masters.slice(shift), ...masters.slice(0, shift)];
}

/**
 * The nodes' failovers since the parent's mark, node k of this process at index k. The nodes
 * call `broken` when a stream of theirs breaks or is given up, and `back` when one answers.
 */
export class FailoverTraces {
  private markAt = 0;
  private traces: Array<{ was: string; notice: number; attempts: number; back: number; reasons: string[] }> = [];

  /** `streamingTo(k)`: the master node k streams to now ('' for none). */
  constructor(private readonly streamingTo: (k: number) => string) {}

  broken(k: number, reason: string): void {
    const t = this.markAt ? this.traces[k] : undefined;
    if (!t) return;
    if (t.notice < 0) t.notice = this.sinceMark();
    t.attempts++;
    t.reasons.push(reason);
  }

  back(k: number): void {
    const t = this.markAt ? this.traces[k] : undefined;
    if (t && t.notice >= 0) t.back = this.sinceMark();
  }

  /** Answers the parent's `mark` and `trace` messages for `count` nodes; true if `m` was one. */
  message(m: { t: string; at?: number }, count: number): boolean {
    if (m.t === 'mark') {
      this.markAt = m.at!;
      this.traces = Array.from({ length: count }, (_, k) => ({ was: this.streamingTo(k), notice: -1, attempts: 0, back: -1, reasons: [] }));
    } else if (m.t === 'trace') {
      process.send?.({ t: 'trace', nodes: this.traces.map((t) => [t.was, t.notice, t.attempts, t.back, t.reasons]) });
    } else return false;
    return true;
  }

  private sinceMark(): number {
    return Math.round(performance.timeOrigin + performance.now() - this.markAt);
  }
}

const LAG_RESOLUTION_MS = 10;
const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
lag.enable();

/** Answers the parent's `lag0` and `lag` messages; true if `m` was one. */
export function lagMessage(m: { t: string }): boolean {
  if (m.t === 'lag0') lag.reset();
  else if (m.t === 'lag') process.send?.({ t: 'lag', p99: Math.max(0, lag.percentile(99) / 1e6 - LAG_RESOLUTION_MS) });
  else return false;
  return true;
}
