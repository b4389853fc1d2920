/**
 * The master's Prometheus metrics, in the process's one registry (core/metrics `Metrics`).
 * Heartbeat handling records into a histogram with fixed buckets: no allocation per call.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Metrics } from '../core/metrics';

export class MasterMetrics {
  private readonly heartbeats: Counter;
  private readonly heartbeatSeconds: Histogram;
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
      name: 'flume_master_heartbeat_seconds', help: 'Time to handle one heartbeat inside the master.',
      buckets: [0.00001, 0.0001, 0.001, 0.01, 0.1], registers,
    });
    this.commands = new Counter({ name: 'flume_master_commands_total', help: 'Commands finished, by final state.', labelNames: ['state'], registers });
    this.connectionErrors = new Counter({ name: 'flume_master_connection_errors_total', help: 'Connections to the gRPC port closed for a protocol error (garbage, not HTTP/2).', registers });
    this.nodesLost = new Counter({ name: 'flume_master_nodes_lost_total', help: 'Nodes that went silent long enough to be LOST (counted by the leader).', registers });
    this.leader = new Gauge({ name: 'flume_master_leader', help: '1 while this master is the leader.', registers });
    this.fresh = new Gauge({ name: 'flume_master_store_fresh', help: '1 while this master\'s view of the store is current.', registers });
    this.nodes = new Gauge({ name: 'flume_master_nodes', help: 'Physical nodes known, by state.', labelNames: ['state'], registers });
    this.configs = new Gauge({ name: 'flume_master_configs', help: 'Logical node configs.', registers });
  }

  heartbeat(ms: number): void {
    this.heartbeats.inc();
    this.heartbeatSeconds.observe(ms / 1000);
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
