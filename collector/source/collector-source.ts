/**
 * `collectorSource(port)` as a {@link Source}: the collector server, started when the logical
 * node opens its source and stopped when it closes it.
 *
 * Batches go into the node's channel directly when the node hands it over (`channel`, the fast
 * path: commits pipelined per stream), else through the SourceOutput (`out.put`, one commit at a
 * time per stream). Whoever builds the storage writer passes its "stored" events to
 * {@link CollectorSource.ackEndToEnd}, and its durable index to `isStored`.
 */
import type { Channel } from '../../core/channel';
import type { Source, SourceOutput } from '../../core/component';
import { FlumeError } from '../../core/errors';
import { CollectorServer, type CollectorServerDeps } from './collector-server';
import type { CollectorServerOptions } from './options';

export interface CollectorSourceDeps extends CollectorServerDeps {
  /** The node's channel, for the pipelined path. */
  channel?: Channel;
}

export class CollectorSource implements Source {
  private server: CollectorServer | null = null;

  constructor(
    private readonly options: Partial<CollectorServerOptions>,
    private readonly deps: CollectorSourceDeps = {},
  ) {}

  /** The bound port once open (the real one when asked for port 0). */
  get port(): number {
    return this.server?.port ?? 0;
  }

  /** The running server, for stats and tests. */
  get collector(): CollectorServer | null {
    return this.server;
  }

  async open(out: SourceOutput): Promise<void> {
    if (this.server) throw new FlumeError('collectorSource is already open');
    const { channel, ...serverDeps } = this.deps;
    const server = new CollectorServer(channel ?? out, this.options, serverDeps);
    await server.start();
    this.server = server;
  }

  /** Stops accepting streams and lets open ones finish (answers for what they sent). */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    await server?.stop();
  }

  /** The storage writer made `origin#seq` durable (see e2e-acks.ts). */
  ackEndToEnd(origin: string, seq: number): void {
    this.server?.ackEndToEnd(origin, seq);
  }

  rejectEndToEnd(origin: string, seq: number, reason: string): void {
    this.server?.rejectEndToEnd(origin, seq, reason);
  }
}
