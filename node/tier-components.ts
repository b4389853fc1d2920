/**
 * The tier components in the registry: `collectorSource` on the collector side, and the agent
 * sinks `agentE2ESink` / `agentDFOSink` / `agentBESink` with their chain forms
 * `agentE2EChain("h1:p1", "h2:p2", ...)` etc. (Flume OG's names and arguments).
 *
 * A collector source and the storage writers of its logical node meet through the node's
 * ledger: a writer reports each batch it has made durable (`ledger.stored`), the source turns
 * that into an end-to-end ack, and answers an agent's `Stored` query from the writers' indexes.
 */
import { CollectorSink } from '../agent/sinks/collector-sink';
import { collectorTargets, type DeliveryMode } from '../agent/sinks/options';
import { CollectorSource } from '../collector/source/collector-source';
import type { ComponentContext, Source, SourceOutput } from '../core/component';
import type { ArgValue, ComponentDef, SinkDef, SourceDef } from '../core/registry';

export const DEFAULT_COLLECTOR_PORT = 35853;

/** Opens a CollectorSource on the node's own channel and ties it to the node's ledger. */
class LedgerCollectorSource implements Source {
  private source: CollectorSource | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly ctx: ComponentContext,
  ) {}

  get boundPort(): number {
    return this.source?.port ?? 0;
  }

  async open(out: SourceOutput): Promise<void> {
    const ledger = this.ctx.ledger;
    this.source = new CollectorSource({ host: this.host, port: this.port }, {
      channel: out.channel,
      logger: this.ctx.logger,
      counters: this.ctx.counters,
      isStored: ledger ? (origin, seqs) => ledger.isStored(origin, seqs) : undefined,
    });
    const source = this.source;
    this.unsubscribe = ledger?.onStored((origin, seq) => source.ackEndToEnd(origin, seq)) ?? null;
    await source.open(out);
    this.ctx.logger.info('collector source listening', { host: this.host, port: source.port });
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.source?.close();
  }
}

const collectorSourceDef: SourceDef = {
  kind: 'source',
  name: 'collectorSource',
  doc: 'Receives batches from agents over gRPC, commits them to this node\'s durable channel (hop ack) '
    + 'and acks end to end once the node\'s storage writer has them on disk.',
  args: [
    { name: 'port', type: 'number', default: DEFAULT_COLLECTOR_PORT, doc: 'port to listen on (0: any free port)' },
    { name: 'host', type: 'string', default: '127.0.0.1', doc: 'address to listen on (0.0.0.0 or :: for every interface)' },
  ],
  durableChannel: true,
  create: (args, ctx) => new LedgerCollectorSource(args.string('host'), args.number('port'), ctx),
};

function agentSink(ctx: ComponentContext, mode: DeliveryMode, targets: ArgValue[]): CollectorSink {
  return new CollectorSink(
    { collectors: collectorTargets(targets.map((t) => (typeof t === 'number' ? t : String(t)))), mode, agent: ctx.physicalNode },
    { logger: ctx.logger, counters: ctx.counters },
  );
}

const MODES: Array<{ mode: DeliveryMode; what: string }> = [
  { mode: 'E2E', what: 'deletes a batch from the agent\'s WAL only once the collector has it in storage (end-to-end ack); resends after a timeout' },
  { mode: 'DFO', what: 'deletes a batch once the collector has it in its durable channel (hop ack); while no collector answers, batches wait on disk' },
  { mode: 'BE', what: 'best effort: a memory channel; what the connection fails to deliver is dropped and counted' },
];

function agentDefs(): SinkDef[] {
  const defs: SinkDef[] = [];
  for (const { mode, what } of MODES) {
    defs.push({
      kind: 'sink',
      name: `agent${mode}Sink`,
      doc: `Sends to one collector; ${what}.`,
      args: [
        { name: 'host', type: 'string', default: 'localhost', doc: 'collector host (or host:port)' },
        { name: 'port', type: 'number', doc: `collector port (default ${DEFAULT_COLLECTOR_PORT})` },
      ],
      durableChannel: mode !== 'BE',
      create: (args, ctx) => {
        const port = args.optionalNumber('port');
        return agentSink(ctx, mode, port === undefined ? [args.string('host')] : [args.string('host'), port]);
      },
    });
    defs.push({
      kind: 'sink',
      name: `agent${mode}Chain`,
      doc: `Sends to the first collector that answers, failing over in order and back to the first; ${what}.`,
      args: [{ name: 'collectors', type: 'string', rest: true, required: true, doc: 'collectors as "host:port", in failover order' }],
      durableChannel: mode !== 'BE',
      create: (args, ctx) => agentSink(ctx, mode, args.list('collectors')),
    });
  }
  return defs;
}

export const TIER_COMPONENTS: ComponentDef[] = [collectorSourceDef, ...agentDefs()];
