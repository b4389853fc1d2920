/**
 * The counters every component keeps, under the same names, in one place.
 *
 * A process builds one {@link Metrics} (its own prom-client Registry, no global) in its
 * composition root. Each component gets a {@link CounterSet} from `metrics.component(node, name)`:
 * it counts into the Prometheus counters `flume_<name>_total{node, component}` and keeps a local
 * copy for `/status`. Count per batch, not per event: `add(EVENTS_ACCEPTED, batch.count)`.
 */
import { Counter, Gauge, Histogram, Registry as PromRegistry } from 'prom-client';
import type { ComponentCounters } from './component';

/** The standard counter names. Components may add their own (`[a-z_]+`), counted the same way. */
export const EVENTS_RECEIVED = 'events_received';
export const BYTES_RECEIVED = 'bytes_received';
export const EVENTS_ACCEPTED = 'events_accepted';
export const BYTES_ACCEPTED = 'bytes_accepted';
export const EVENTS_REJECTED = 'events_rejected';
export const BYTES_REJECTED = 'bytes_rejected';
export const BATCHES = 'batches';
export const ERRORS = 'errors';
/** A sink: batches handed to the next hop or storage, acked (promise kept), sent again. */
export const SINK_BATCHES_SENT = 'sink_batches_sent';
export const SINK_BATCHES_ACKED = 'sink_batches_acked';
export const SINK_BATCHES_RETRIED = 'sink_batches_retried';
/** Events and bytes a sink or decorator passed on (after filtering, sampling, splitting). */
export const EVENTS_SENT = 'events_sent';
export const BYTES_SENT = 'bytes_sent';

/** Batches (and their events) that could never be delivered and went to the dead-letter store. */
export const DEAD_LETTER_BATCHES = 'dead_letter_batches';
export const DEAD_LETTER_EVENTS = 'dead_letter_events';

/**
 * What a durable channel's recovery had to drop for damage (a bad CRC, a torn tail, an unreadable
 * segment): batches, their events as far as the damaged headers still tell, and bytes.
 */
export const WAL_RECOVERY_LOST_BATCHES = 'wal_recovery_lost_batches';
export const WAL_RECOVERY_LOST_EVENTS = 'wal_recovery_lost_events';
export const WAL_RECOVERY_LOST_BYTES = 'wal_recovery_lost_bytes';

/** A listener: connections refused for being over its limit, and closed for breaking one (core/limits.ts). */
export const CONNECTIONS_REFUSED = 'connections_refused';
export const CONNECTIONS_CLOSED_IDLE = 'connections_closed_idle';
export const CONNECTIONS_CLOSED_SLOW = 'connections_closed_slow';
export const CONNECTIONS_CLOSED_BUFFERED = 'connections_closed_buffered';
export const CONNECTIONS_CLOSED_FRAMING = 'connections_closed_framing';
/**
 * An HTTP/2 listener (core/grpc/tuning.ts, core/grpc/session-guard.ts): sessions ended for a flood
 * or their memory limit, or for more streams open at once than the limit; streams whose peer does
 * not read.
 */
export const CONNECTIONS_CLOSED_FLOOD = 'connections_closed_flood';
export const CONNECTIONS_CLOSED_STREAMS = 'connections_closed_streams';
export const STREAMS_CLOSED_UNREAD = 'streams_closed_unread';
/** An HTTP/2 listener: connections in their TLS handshake closed to let in one from another address (core/grpc/handshake-gate.ts). */
export const CONNECTIONS_CLOSED_SHARE = 'connections_closed_share';
/** An HTTP listener (core/http-limits.ts) or HTTP/2 listener: requests whose headers were over the size limit. */
export const CONNECTIONS_CLOSED_HEADERS = 'connections_closed_headers';

const STANDARD_COUNTERS: Readonly<Record<string, string>> = {
  [EVENTS_RECEIVED]: 'Events received by a component.',
  [BYTES_RECEIVED]: 'Bytes received by a component.',
  [EVENTS_ACCEPTED]: 'Events a component accepted (put to its channel, written, passed on).',
  [BYTES_ACCEPTED]: 'Bytes a component accepted.',
  [EVENTS_REJECTED]: 'Events a component rejected as malformed or over a limit.',
  [BYTES_REJECTED]: 'Bytes a component rejected.',
  [BATCHES]: 'Batches a component handled.',
  [ERRORS]: 'Errors a component met (each one logged).',
  [SINK_BATCHES_SENT]: 'Batches a sink sent or wrote.',
  [SINK_BATCHES_ACKED]: 'Batches a sink delivered for good (written, acknowledged).',
  [SINK_BATCHES_RETRIED]: 'Batches a sink failed and will be tried again.',
  [EVENTS_SENT]: 'Events a sink or decorator passed on.',
  [BYTES_SENT]: 'Bytes a sink or decorator passed on.',
  [DEAD_LETTER_BATCHES]: "Batches that can never be delivered, quarantined in the node's dead-letter store.",
  [DEAD_LETTER_EVENTS]: 'Events of the batches quarantined in the dead-letter store.',
  [WAL_RECOVERY_LOST_BATCHES]: 'Batches a WAL dropped for damage (bad checksum, torn tail, unreadable segment).',
  [WAL_RECOVERY_LOST_EVENTS]: 'Events of the batches a WAL dropped for damage, as far as their damaged headers still tell.',
  [WAL_RECOVERY_LOST_BYTES]: 'Bytes a WAL dropped for damage (bad checksum, torn tail, unreadable segment).',
  [CONNECTIONS_REFUSED]: 'Connections a listener closed at once for being over its connection limit.',
  [CONNECTIONS_CLOSED_IDLE]: 'Connections closed for sending nothing for the idle timeout.',
  [CONNECTIONS_CLOSED_SLOW]: 'Connections closed for not finishing a message (or request headers) within the message timeout.',
  [CONNECTIONS_CLOSED_BUFFERED]:
    'Connections closed because their unfinished message would take the listener over its buffered-bytes limit.',
  [CONNECTIONS_CLOSED_FRAMING]:
    'Connections closed for a framing error (an octet count over the event size limit, bytes that are not HTTP, a failed TLS handshake).',
  [CONNECTIONS_CLOSED_FLOOD]:
    'HTTP/2 connections ended for a flood (PINGs or SETTINGS never read, resets) or for going over their session memory.',
  [CONNECTIONS_CLOSED_STREAMS]: 'HTTP/2 connections closed for opening more streams at once than the limit.',
  [CONNECTIONS_CLOSED_SHARE]:
    'Connections in their TLS handshake closed, while the handshake slots were all taken, to let in one from an address holding fewer.',
  [STREAMS_CLOSED_UNREAD]: 'Streams ended because their peer left more than the outbound limit unread.',
  [CONNECTIONS_CLOSED_HEADERS]: 'HTTP and HTTP/2 connections closed for request headers over the size limit.',
};

/** Channel fill, as gauges: `flume_channel_fill_bytes{node}` and friends. */
export const CHANNEL_FILL_BYTES = 'channel_fill_bytes';
export const CHANNEL_FILL_BATCHES = 'channel_fill_batches';
export const CHANNEL_CAPACITY_BYTES = 'channel_capacity_bytes';

/** Histograms (milliseconds): how old a batch's first event was when the next tier acknowledged it. */
export const DELIVERY_MS = 'delivery';
const HISTOGRAM_HELP: Readonly<Record<string, string>> = {
  [DELIVERY_MS]: "Age of a batch's first event when the next tier acknowledged the batch (end to end in E2E mode), ms.",
};
const HISTOGRAM_BUCKETS_MS = [1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000, 30000];

const NAME = /^[a-z][a-z0-9_]*$/;

/** The counters of one component: Prometheus counters plus a local snapshot for /status. */
export class CounterSet implements ComponentCounters {
  private readonly values = new Map<string, number>();
  private readonly children = new Map<string, { inc(v: number): void }>();
  private readonly histograms = new Map<string, { observe(v: number): void }>();

  constructor(
    private readonly metrics: Metrics,
    readonly node: string,
    readonly component: string,
  ) {}

  add(name: string, value = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + value);
    let child = this.children.get(name);
    if (!child) {
      child = this.metrics.counter(name).labels(this.node, this.component);
      this.children.set(name, child);
    }
    child.inc(value);
  }

  observe(name: string, ms: number): void {
    let h = this.histograms.get(name);
    if (!h) this.histograms.set(name, (h = this.metrics.histogram(name).labels(this.node, this.component)));
    h.observe(ms);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.values);
  }
}

export class Metrics {
  readonly registry: PromRegistry;
  private readonly counters = new Map<string, Counter<'node' | 'component'>>();
  private readonly gauges = new Map<string, Gauge<'node'>>();
  private readonly histograms = new Map<string, Histogram<'node' | 'component'>>();

  constructor(registry = new PromRegistry()) {
    this.registry = registry;
  }

  /** The counters of one component of a logical node; `component` is its path, e.g. `sink.0.batch`. */
  component(node: string, component: string): CounterSet {
    return new CounterSet(this, node, component);
  }

  /** @internal The Prometheus counter for a name; created on first use. */
  counter(name: string): Counter<'node' | 'component'> {
    let c = this.counters.get(name);
    if (c) return c;
    if (!NAME.test(name)) throw new Error(`bad counter name ${JSON.stringify(name)}: use [a-z][a-z0-9_]*`);
    c = new Counter({
      name: `flume_${name}_total`,
      help: STANDARD_COUNTERS[name] ?? `Component counter ${name}.`,
      labelNames: ['node', 'component'],
      registers: [this.registry],
    });
    this.counters.set(name, c);
    return c;
  }

  /** @internal The Prometheus histogram `flume_<name>_ms`; created on first use. */
  histogram(name: string): Histogram<'node' | 'component'> {
    let h = this.histograms.get(name);
    if (h) return h;
    if (!NAME.test(name)) throw new Error(`bad histogram name ${JSON.stringify(name)}: use [a-z][a-z0-9_]*`);
    h = new Histogram({
      name: `flume_${name}_ms`,
      help: HISTOGRAM_HELP[name] ?? `Component histogram ${name}, ms.`,
      labelNames: ['node', 'component'],
      buckets: HISTOGRAM_BUCKETS_MS,
      registers: [this.registry],
    });
    this.histograms.set(name, h);
    return h;
  }

  /** Sets a per-logical-node gauge such as CHANNEL_FILL_BYTES. */
  setGauge(name: string, node: string, value: number): void {
    let g = this.gauges.get(name);
    if (!g) {
      if (!NAME.test(name)) throw new Error(`bad gauge name ${JSON.stringify(name)}`);
      g = new Gauge({ name: `flume_${name}`, help: `Logical node gauge ${name}.`, labelNames: ['node'], registers: [this.registry] });
      this.gauges.set(name, g);
    }
    g.labels(node).set(value);
  }

  private readonly collectors = new Set<() => void>();

  /** Registers a function that refreshes gauges just before each scrape; returns its remover. */
  onCollect(fn: () => void): () => void {
    this.collectors.add(fn);
    return () => this.collectors.delete(fn);
  }

  /** Prometheus text exposition of everything registered. */
  async text(): Promise<string> {
    for (const fn of this.collectors) fn();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
