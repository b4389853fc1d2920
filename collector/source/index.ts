/**
 * The collector sources in the registry: `collectorSource(port)` and `autoCollectorSource(port)`,
 * which also registers the collector with the master for automatic chains.
 *
 * A collector source and the storage writers of its logical node meet through the node's
 * ledger: a writer reports each batch it has made durable (`ledger.stored`), the source turns
 * that into an end-to-end ack, and answers an agent's `Stored` query from the writers' indexes.
 */
import { DEFAULT_COLLECTOR_PORT } from '../../core/ports';
import { type ComponentContext, networkTls, type Source, type SourceOutput } from '../../core/component';
import type { SourceDef } from '../../core/registry';
import { CollectorSource } from './collector-source';

/** Opens a CollectorSource on the node's own channel and ties it to the node's ledger. */
class LedgerCollectorSource implements Source {
  private source: CollectorSource | null = null;
  private unsubscribe: (() => void) | null = null;
  private unadvertise: (() => void) | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly ctx: ComponentContext,
    private readonly auto = false,
  ) {}

  get boundPort(): number {
    return this.source?.port ?? 0;
  }

  async open(out: SourceOutput): Promise<void> {
    const ledger = this.ctx.ledger;
    this.source = new CollectorSource(
      { host: this.host, port: this.port },
      {
        channel: out.channel,
        logger: this.ctx.logger,
        counters: this.ctx.counters,
        isStored: ledger ? (origin, seqs) => ledger.isStored(origin, seqs) : undefined,
        tls: networkTls(this.ctx),
      },
    );
    const source = this.source;
    const unstored = ledger?.onStored((origin, seq) => source.ackEndToEnd(origin, seq));
    const unrejected = ledger?.onRejected((origin, seq, reason) => source.rejectEndToEnd(origin, seq, reason));
    this.unsubscribe = () => {
      unstored?.();
      unrejected?.();
    };
    await source.open(out);
    this.ctx.logger.info('collector source listening', { host: this.host, port: source.port });
    // In master mode every collector source registers for automatic chains, with the port it
    // really bound (port 0 included); standalone there is no master to tell.
    if (this.ctx.chains)
      this.unadvertise = this.ctx.chains.advertise(this.ctx.logicalNode, advertisedAddress(this.host, source.port, this.ctx.host));
    else if (this.auto) this.ctx.logger.warn('autoCollectorSource without a master: no agent will be assigned to it automatically.');
  }

  async close(): Promise<void> {
    this.unadvertise?.();
    this.unsubscribe?.();
    await this.source?.close();
  }
}

/** The address agents reach a collector at: its listen host, or this host's name for a wildcard. */
function advertisedAddress(listenHost: string, port: number, nodeHost: string): string {
  const host = listenHost === '' || listenHost === '0.0.0.0' || listenHost === '::' ? nodeHost : listenHost;
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

const collectorSourceDef: SourceDef = {
  kind: 'source',
  name: 'collectorSource',
  doc:
    "Receives batches from agents over gRPC, commits them to this node's durable channel (hop ack) " +
    "and acks end to end once the node's storage writer has them on disk.",
  args: [
    { name: 'port', type: 'number', default: DEFAULT_COLLECTOR_PORT, doc: 'port to listen on (0: any free port)' },
    { name: 'host', type: 'string', default: '127.0.0.1', doc: 'address to listen on (0.0.0.0 or :: for every interface)' },
  ],
  durableChannel: true,
  create: (args, ctx) => new LedgerCollectorSource(args.string('host'), args.number('port'), ctx),
};

const autoCollectorSourceDef: SourceDef = {
  ...collectorSourceDef,
  name: 'autoCollectorSource',
  doc:
    'A collectorSource that registers with the master for automatic chains (the port it really bound, ' +
    'so port 0 works): agents using autoE2EChain / autoDFOChain / autoBEChain of its flow are assigned to it.',
  create: (args, ctx) => new LedgerCollectorSource(args.string('host'), args.number('port'), ctx, true),
};

export const COLLECTOR_SOURCES: SourceDef[] = [collectorSourceDef, autoCollectorSourceDef];
