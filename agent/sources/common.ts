/**
 * What the sources share: their defaults (named once, here), the argument schemas that recur
 * (port, host, size limits), and how a source reports input it refuses.
 */
import type { ComponentContext } from '../../core/component';
import { LogThrottle } from '../../core/log-throttle';
import { BYTES_REJECTED, EVENTS_REJECTED } from '../../core/metrics';
import type { ArgSchema, ArgValue } from '../../core/registry';

export const SOURCE_DEFAULTS = {
  /** Push sources listen on loopback unless told otherwise. */
  bindHost: '127.0.0.1',
  /** The largest event a source accepts; a bigger one is dropped and counted. */
  maxEventBytes: 1024 * 1024,
  /** Events per batch. */
  batchEvents: 1000,
  /** How long a partly filled batch may wait for more events before it is put. */
  lingerMs: 5,
  /** How often a poll source looks again once it has read everything. */
  pollMs: 50,
} as const;

/**
 * How a file tail batches (tail-follower.ts): put only when full or caught up, and read on while
 * at most two finished batches (~2 MB each) wait for their put, one being put and the next. The
 * batcher's default of four let a tail hold 8 MB while a WAL sync was slow; pipeline-e2e 50M
 * lines, two interleaved pairs: agent peak RSS 142/150 MB against 152/149, events/s 1.36M/1.06M
 * against 1.27M/1.17M (load 3-5; issue 16 item 9).
 */
export const TAIL_BATCHING = { lingerMs: 0, maxPending: 2 } as const;

export const positiveInteger = (v: ArgValue): string | null =>
  typeof v === 'number' && Number.isInteger(v) && v > 0 ? null : 'must be a positive integer';
export const nonNegativeInteger = (v: ArgValue): string | null =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 ? null : 'must be an integer ≥ 0';
const portNumber = (v: ArgValue): string | null =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535 ? null : 'must be a port number (0 to 65535; 0 picks a free one)';
export const notEmpty = (v: ArgValue): string | null => (String(v).length > 0 ? null : 'must not be empty');

export const PORT_ARG: ArgSchema = {
  name: 'port',
  type: 'number',
  required: true,
  check: portNumber,
  doc: 'TCP/UDP port to listen on (0: any free port)',
};
export const HOST_ARG: ArgSchema = {
  name: 'host',
  type: 'string',
  default: SOURCE_DEFAULTS.bindHost,
  check: notEmpty,
  doc: 'address to bind',
};
export const MAX_EVENT_ARG: ArgSchema = {
  name: 'maxEventBytes',
  type: 'number',
  default: SOURCE_DEFAULTS.maxEventBytes,
  check: positiveInteger,
  doc: 'largest event accepted; a larger one is dropped and counted',
};

/**
 * Counts and logs what a source refuses. The first refusal is logged at warn, then at most one
 * line every 10 s with the number refused meanwhile ({@link LogThrottle}): bad input never floods the log.
 */
export class Rejects {
  private total = 0;
  private readonly rejectLines = new LogThrottle();
  private readonly noteLines = new LogThrottle();

  constructor(private readonly ctx: ComponentContext) {}

  get count(): number {
    return this.total;
  }

  /**
   * Logs a refusal that is not of input (a connection over a limit: its own counter counts it),
   * throttled as rejections are (counted apart from them), so that a flood of connections does not flood the log.
   */
  note(reason: string, fields: Record<string, unknown> = {}): void {
    const since = this.noteLines.count();
    if (since > 0) this.ctx.logger.warn(`Refused: ${reason}.`, { refusedSinceLastReport: since, ...fields });
  }

  reject(reason: string, bytes: number, fields: Record<string, unknown> = {}): void {
    this.total++;
    this.ctx.counters.add(EVENTS_REJECTED, 1);
    if (bytes > 0) this.ctx.counters.add(BYTES_REJECTED, bytes);
    const since = this.rejectLines.count();
    if (since > 0)
      this.ctx.logger.warn(`Rejected input: ${reason}.`, { bytes, rejectedSinceLastReport: since, rejectedTotal: this.total, ...fields });
  }
}

/** The pause of a polling source between rounds, which `wake` (a close, new work) cuts short. */
export class Pause {
  private cut: (() => void) | null = null;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.cut = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.cut = done;
    });
  }

  wake(): void {
    this.cut?.();
  }
}
