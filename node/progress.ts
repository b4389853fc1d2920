/**
 * What a logical node says while it catches up, at the default level and rate-limited:
 *
 *   - while a backlog drains:  info "Draining backlog: 120,000 events left, 35,000/s."
 *                              ... then once: info "Backlog caught up."
 *   - while its WAL opens:     info "Replaying the WAL: 40% done."   (a long replay only)
 *
 * DESIGN
 * - A backlog is worth lines only when it is large (at least {@link DRAIN_MIN_BATCHES} batches,
 *   or {@link DRAIN_MIN_EVENTS} events: a tail's batches hold up to 16,000 lines) and shrinking;
 *   a node keeping up with its input holds a few batches at a time and says nothing. A growing
 *   backlog is the sink's business: it warns when it loses its collector (agent/sinks/agent-sink.ts).
 * - Events left are estimated: the channel counts batches and bytes, so events are batches times
 *   the average batch seen in this run (the first lines after a restart may have no estimate).
 * - At most one line per `everyMs`; a replay that ends before the first interval says nothing.
 */
import type { Channel } from '../core/channel';
import type { NodeView } from '../core/component';
import type { Logger } from '../core/logger';
import { BATCHES, type CounterSet, EVENTS_ACCEPTED, SINK_BATCHES_ACKED } from '../core/metrics';

/** Below this many batches, and {@link DRAIN_MIN_EVENTS} events, a backlog is not reported as draining. */
export const DRAIN_MIN_BATCHES = 256;
export const DRAIN_MIN_EVENTS = 250_000;

export interface Backlog {
  batches: number;
  bytes: number;
  /** Estimated; absent until a batch has been seen. */
  events?: number;
}

/**
 * What waits in `channel` for the sink; events estimated from the batches the sink acked in this
 * run (`driver`), or else those the source put (`put`).
 */
export function backlogOf(channel: Channel | null, driver: CounterSet, put: CounterSet): Backlog {
  const stats = channel?.stats();
  const backlog: Backlog = { batches: stats?.batches ?? 0, bytes: stats?.bytes ?? 0 };
  const [events, batches] =
    driver.get(SINK_BATCHES_ACKED) > 0
      ? [driver.get(EVENTS_ACCEPTED), driver.get(SINK_BATCHES_ACKED)]
      : [put.get(EVENTS_ACCEPTED), put.get(BATCHES)];
  if (batches > 0) backlog.events = Math.round((backlog.batches * events) / batches);
  return backlog;
}

/**
 * `n` with its thousands separated by commas, as `toLocaleString('en-US')` writes it but without
 * ICU: the first locale call maps about 7 MB of the node binary's ICU data and 2 MB of heap into
 * the process for good, which took a long-running agent's RSS past its 150 MB budget the first
 * time it reported a drain (issue 16, item 9).
 */
export function grouped(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Samples a channel's backlog (call `tick` every second or so) and logs its drain. */
export class DrainReporter {
  private lastBatches = 0;
  /** Start of the current interval (0: the backlog is small) and the acked count then. */
  private windowStart = 0;
  private windowAcked = 0;
  private reporting = false;

  constructor(
    private readonly log: Logger,
    private readonly everyMs: number,
  ) {}

  /** `acked`: events the sink has acked since the node opened (a counter). */
  tick(backlog: Backlog, acked: number, now = Date.now()): void {
    const shrinking = backlog.batches < this.lastBatches;
    this.lastBatches = backlog.batches;
    if (backlog.batches < DRAIN_MIN_BATCHES && (backlog.events ?? 0) < DRAIN_MIN_EVENTS) {
      if (this.reporting) this.log.info('Backlog caught up.', { batchesLeft: backlog.batches, bytesLeft: backlog.bytes });
      this.reporting = false;
      this.windowStart = 0;
      return;
    }
    if (this.windowStart === 0) {
      this.windowStart = now;
      this.windowAcked = acked;
      return;
    }
    if (!shrinking || now - this.windowStart < this.everyMs) return;
    const rate = Math.round(((acked - this.windowAcked) * 1000) / (now - this.windowStart));
    this.windowStart = now;
    this.windowAcked = acked;
    this.reporting = true;
    const left = backlog.events === undefined ? `${grouped(backlog.batches)} batches` : `${grouped(backlog.events)} events`;
    this.log.info(`Draining backlog: ${left} left, ${grouped(rate)} events/s.`, {
      batchesLeft: backlog.batches,
      bytesLeft: backlog.bytes,
      ...(backlog.events === undefined ? {} : { eventsLeft: backlog.events }),
      eventsPerSec: rate,
    });
  }
}

/** How often the backlog is sampled for drain progress. */
const DRAIN_SAMPLE_MS = 1_000;

/** Samples `backlog()` and `acked()` every second into a {@link DrainReporter}; returns the stopper. */
export function reportDrain(log: Logger, everyMs: number, backlog: () => Backlog, acked: () => number): () => void {
  const drain = new DrainReporter(log, everyMs);
  const timer = setInterval(() => drain.tick(backlog(), acked()), DRAIN_SAMPLE_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** How far a WAL's open has scanned (core/wal/wal.ts `replay`), null when not scanning. */
export interface ReplayProgress {
  segment: string;
  doneBytes: number;
  totalBytes: number;
}

/** Logs `progress()` every `everyMs` while it is not null; returns the stopper. */
export function reportReplay(log: Logger, progress: () => ReplayProgress | null, everyMs: number): () => void {
  const started = Date.now();
  const timer = setInterval(() => {
    const p = progress();
    if (!p) return;
    const percent = p.totalBytes > 0 ? Math.floor((100 * p.doneBytes) / p.totalBytes) : 100;
    log.info(`Replaying the WAL: ${percent}% done.`, {
      segment: p.segment,
      doneBytes: p.doneBytes,
      totalBytes: p.totalBytes,
      forMs: Date.now() - started,
    });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** The {@link NodeView}s a logical node hands its components, and what they show in /status. */
export class NodeViews {
  private readonly shown = new Map<string, () => Readonly<Record<string, unknown>>>();

  constructor(private readonly backlog: () => Backlog) {}

  /** The view of the component at `componentPath` (`sink.autoE2EChain`, ...). */
  view(componentPath: string): NodeView {
    return {
      backlog: this.backlog,
      showStatus: (show) => {
        this.shown.set(componentPath, show);
        return () => {
          if (this.shown.get(componentPath) === show) this.shown.delete(componentPath);
        };
      },
    };
  }

  /** What the components show now, by path; undefined when none shows anything. */
  statuses(): Record<string, Readonly<Record<string, unknown>>> | undefined {
    let out: Record<string, Readonly<Record<string, unknown>>> | undefined;
    for (const [p, show] of this.shown) (out ??= {})[p] = show();
    return out;
  }
}
