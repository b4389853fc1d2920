/**
 * The master's Prometheus metrics, in the process's one registry (core/metrics `Metrics`).
 * Heartbeat handling records into histograms with fixed buckets (core/fixed-histogram.ts) and a
 * plain count added to its counter when scraped: no allocation per status. The delay from a node
 * sending its status to the master handling it has fine buckets up to 1 s: the fleet's p99 is
 * what an operator (and the fleet bench, from two scrapes) reads.
 *
 * The process itself (event-loop delay, garbage collection, memory) has a few gauges of its own
 * (`ProcessGauges`) instead of prom-client's default metrics: those list every open handle and
 * file descriptor on each scrape, which with 10,000 connections blocked the event loop 30-80 ms.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { FixedHistogram } from '../core/fixed-histogram';
import type { Metrics } from '../core/metrics';

/** Buckets of flume_master_status_delay_seconds. */
const STATUS_DELAY_BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1];

export class MasterMetrics {
  /** Heartbeats since flume_master_heartbeats_total was last read (it adds them then). */
  private heartbeatsSince = 0;
  private readonly heartbeatSeconds: FixedHistogram;
  private readonly statusDelay: FixedHistogram;
  readonly controlStreams: Gauge;
  private readonly commands: Counter<'state'>;
  private readonly nodesLost: Counter;
  private readonly connectionErrors: Counter;
  readonly leader: Gauge;
  readonly fresh: Gauge;
  readonly nodes: Gauge<'state'>;
  readonly configs: Gauge;
  private readonly process: ProcessGauges;

  constructor(readonly metrics: Metrics) {
    const registers = [metrics.registry];
    const heartbeatsSince = (): number => {
      const n = this.heartbeatsSince;
      this.heartbeatsSince = 0;
      return n;
    };
    new Counter({
      name: 'flume_master_heartbeats_total',
      help: 'Heartbeats answered.',
      registers,
      collect(): void {
        this.inc(heartbeatsSince());
      },
    });
    this.heartbeatSeconds = new FixedHistogram(
      'flume_master_heartbeat_seconds',
      'Time to handle one heartbeat inside the master.',
      [0.00001, 0.0001, 0.001, 0.01, 0.1],
      registers,
    );
    this.statusDelay = new FixedHistogram(
      'flume_master_status_delay_seconds',
      'From a node sending its status (its clock) to this master handling it.',
      STATUS_DELAY_BUCKETS,
      registers,
    );
    this.controlStreams = new Gauge({
      name: 'flume_master_control_streams',
      help: 'Control streams of nodes open on this master.',
      registers,
    });
    this.commands = new Counter({
      name: 'flume_master_commands_total',
      help: 'Commands finished, by final state.',
      labelNames: ['state'],
      registers,
    });
    this.connectionErrors = new Counter({
      name: 'flume_master_connection_errors_total',
      help: 'Connections to the gRPC port closed for a protocol error (garbage, not HTTP/2).',
      registers,
    });
    this.nodesLost = new Counter({
      name: 'flume_master_nodes_lost_total',
      help: 'Nodes that went silent long enough to be LOST (counted by the leader).',
      registers,
    });
    this.leader = new Gauge({ name: 'flume_master_leader', help: '1 while this master is the leader.', registers });
    this.fresh = new Gauge({ name: 'flume_master_store_fresh', help: "1 while this master's view of the store is current.", registers });
    this.nodes = new Gauge({ name: 'flume_master_nodes', help: 'Physical nodes known, by state.', labelNames: ['state'], registers });
    this.configs = new Gauge({ name: 'flume_master_configs', help: 'Logical node configs.', registers });
    this.process = new ProcessGauges(registers);
  }

  /** One status handled in `ms`; `delayMs` since the node sent it, if known. */
  heartbeat(ms: number, delayMs?: number): void {
    this.heartbeatsSince++;
    this.heartbeatSeconds.observe(ms / 1000);
    if (delayMs !== undefined && delayMs >= 0) this.statusDelay.observe(delayMs / 1000);
  }

  commandFinished(state: string): void {
    this.commands.inc({ state });
  }

  connectionError(): void {
    this.connectionErrors.inc();
  }

  lost(n: number): void {
    this.nodesLost.inc(n);
  }

  /** Stops the process gauges' event-loop and GC observers. */
  close(): void {
    this.process.close();
  }
}

/** The event loop's delay is what a timer of this period fires late. */
const LOOP_TICK_MS = 10;
const LOOP_DELAY_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2];

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/**
 * What a busy master's own process does: how late its event loop runs a timer (a histogram, and
 * the longest since the previous scrape), GC pauses, memory. Node's monitorEventLoopDelay is not
 * used: resetting it between scrapes drops the interval after the reset, and a block in it.
 */
class ProcessGauges {
  private readonly ticker: NodeJS.Timeout;
  private readonly gc: PerformanceObserver;

  constructor(registers: Registry[]) {
    const delays = new Histogram({
      name: 'flume_master_event_loop_delay_seconds',
      help: `How late the event loop ran a timer due every ${LOOP_TICK_MS} ms.`,
      buckets: LOOP_DELAY_BUCKETS,
      registers,
    });
    let longest = 0;
    new Gauge({
      name: 'flume_master_event_loop_delay_max_seconds',
      help: 'The longest delay of the event loop since the previous scrape.',
      registers,
      collect(): void {
        this.set(longest);
        longest = 0;
      },
    });
    let last = performance.now();
    this.ticker = setInterval(() => {
      const now = performance.now();
      const late = Math.max(0, now - last - LOOP_TICK_MS) / 1000;
      last = now;
      delays.observe(late);
      if (late > longest) longest = late;
    }, LOOP_TICK_MS);
    this.ticker.unref();
    const pauses = new Counter({
      name: 'flume_master_gc_seconds_total',
      help: 'Time in garbage collection, by kind.',
      labelNames: ['kind'],
      registers,
    });
    const count = new Counter({ name: 'flume_master_gcs_total', help: 'Garbage collections, by kind.', labelNames: ['kind'], registers });
    this.gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = GC_KINDS[(e as unknown as { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'other';
        pauses.inc({ kind }, e.duration / 1000);
        count.inc({ kind });
      }
    });
    this.gc.observe({ entryTypes: ['gc'] });
    new Gauge({
      name: 'flume_master_heap_used_bytes',
      help: 'JavaScript heap in use.',
      registers,
      collect(): void {
        this.set(v8.getHeapStatistics().used_heap_size);
      },
    });
    new Gauge({
      name: 'flume_master_resident_memory_bytes',
      help: 'Resident memory of the process.',
      registers,
      collect(): void {
        this.set(process.memoryUsage.rss());
      },
    });
  }

  close(): void {
    clearInterval(this.ticker);
    this.gc.disconnect();
  }
}
