/**
 * The master's Prometheus metrics, in the process's one registry (core/metrics `Metrics`).
 * Heartbeat handling records into histograms with fixed buckets: no allocation per call. The
 * delay from a node sending its status to the master handling it has fine buckets up to 1 s:
 * the fleet's p99 is what an operator (and the fleet bench, from two scrapes) reads.
 */
import { Counter, Gauge, Histogram } from 'prom-client';

/** Buckets of flume_master_status_delay_seconds. */
const STATUS_DELAY_BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1];
import type { Metrics } from '../core/metrics';

export class MasterMetrics {
  private readonly heartbeats: Counter;
  private readonly heartbeatSeconds: Histogram;
  private readonly statusDelay: Histogram;
  readonly controlStreams: Gauge;
  private readonly commands: Counter<'state'>;
  private readonly nodesLost: Counter;
  private readonly connectionErrors: Counter;
  readonly leader: Gauge;
  readonly fresh: Gauge;
  readonly nodes: Gauge<'state'>;
  readonly configs: Gauge;

  constructor(readonly metrics: Metrics) {
    const registers = [metrics.registry];
    this.heartbeats = new Counter({ name: 'flume_master_heartbeats_total', help: 'Heartbeats answered.', registers });
    this.heartbeatSeconds = new Histogram({
      name: 'flume_master_heartbeat_seconds',
      help: 'Time to handle one heartbeat inside the master.',
      buckets: [0.00001, 0.0001, 0.001, 0.01, 0.1],
      registers,
    });
    this.statusDelay = new Histogram({
      name: 'flume_master_status_delay_seconds',
      help: 'From a node sending its status (its clock) to this master handling it.',
      buckets: STATUS_DELAY_BUCKETS,
      registers,
    });
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
  }

  /** One status handled in `ms`; `delayMs` since the node sent it, if known. */
  heartbeat(ms: number, delayMs?: number): void {
    this.heartbeats.inc();
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
}
