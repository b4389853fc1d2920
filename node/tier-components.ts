/**
 * The tier components in the registry: `collectorSource` on the collector side, and the agent
 * sinks `agentE2ESink` / `agentDFOSink` / `agentBESink` with their chain forms
 * `agentE2EChain("h1:p1", "h2:p2", ...)` etc. (Flume OG's names and arguments), and the
 * automatic forms: `autoCollectorSource(port)` registers the collector with the master, and
 * `autoE2EChain` / `autoDFOChain` / `autoBEChain` send to the chain the master assigns (see
 * master/chains.ts, node/chains.ts), following its changes live.
 *
 * A collector source and the storage writers of its logical node meet through the node's
 * ledger: a writer reports each batch it has made durable (`ledger.stored`), the source turns
 * that into an end-to-end ack, and answers an agent's `Stored` query from the writers' indexes.
 */
import { CollectorSink } from '../agent/sinks/collector-sink';
import { collectorTargets, type DeliveryMode } from '../agent/sinks/options';
import { CollectorSource } from '../collector/source/collector-source';
import type { Batch } from '../core/channel';
import type { ComponentContext, Sink, Source, SourceOutput } from '../core/component';
import { FlumeError } from '../core/errors';
import { sleep } from '../core/retry';
import type { ArgValue, ComponentDef, SinkDef, SourceDef } from '../core/registry';

export const DEFAULT_COLLECTOR_PORT = 35853;

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
    // In master mode every collector source registers for automatic chains, with the port it
    // really bound (port 0 included); standalone there is no master to tell.
    if (this.ctx.chains) this.unadvertise = this.ctx.chains.advertise(this.ctx.logicalNode, advertisedAddress(this.host, source.port, this.ctx.host));
    else if (this.auto) this.ctx.logger.warn('autoCollectorSource without a master: no agent will be assigned to it automatically.');
  }

  async close(): Promise<void> {
    this.unadvertise?.();
    this.unsubscribe?.();
    await this.source?.close();
  }
}

/** The address agents reach a collector at: its listen host, or this host's name for a wildcard. */
export function advertisedAddress(listenHost: string, port: number, nodeHost: string): string {
  const host = listenHost === '' || listenHost === '0.0.0.0' || listenHost === '::' ? nodeHost : listenHost;
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
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

const autoCollectorSourceDef: SourceDef = {
  ...collectorSourceDef,
  name: 'autoCollectorSource',
  doc: 'A collectorSource that registers with the master for automatic chains (the port it really bound, '
    + 'so port 0 works): agents using autoE2EChain / autoDFOChain / autoBEChain of its flow are assigned to it.',
  create: (args, ctx) => new LedgerCollectorSource(args.string('host'), args.number('port'), ctx, true),
};

/** How long an auto chain's open waits for the master to name a first collector. */
export const AUTO_CHAIN_OPEN_WAIT_MS = 5_000;

export class NoMasterError extends FlumeError {
  constructor(name: string) {
    super(`${name} needs a master to assign its collectors: run flume-node with --master, or use agent*Chain("host:port", ...)`);
  }
}

/**
 * An agent sink whose chain is the master's: built on an empty CollectorSink (appends wait,
 * or drop in BE, until a collector is named) whose chain follows every new version.
 */
class AutoChainSink implements Sink {
  private readonly sink: CollectorSink;
  private unwatch: (() => void) | null = null;

  constructor(private readonly name: string, mode: DeliveryMode, private readonly flow: string | undefined, private readonly ctx: ComponentContext) {
    this.sink = new CollectorSink(
      { collectors: [], mode, agent: ctx.physicalNode, ...(flow ? { flow } : {}) },
      { logger: ctx.logger, counters: ctx.counters },
    );
  }

  get window(): number {
    return this.sink.window;
  }

  /** The CollectorSink underneath (tests, status). */
  get inner(): CollectorSink {
    return this.sink;
  }

  async open(): Promise<void> {
    const chains = this.ctx.chains;
    if (!chains) throw new NoMasterError(this.name);
    // Watch first so no change between the first answer and the subscription is missed.
    this.unwatch = chains.watch(this.ctx.logicalNode, this.flow, (list) => this.sink.setCollectors(list));
    const deadline = Date.now() + AUTO_CHAIN_OPEN_WAIT_MS;
    let list = await chains.current(this.ctx.logicalNode, this.flow);
    while (list.length === 0 && Date.now() < deadline) {
      await sleep(250);
      list = await chains.current(this.ctx.logicalNode, this.flow);
    }
    if (list.length > 0) this.sink.setCollectors(list);
    else this.ctx.logger.warn('No live collector for this agent yet; batches wait until the master names one.', { flow: this.flow ?? '' });
    await this.sink.open();
  }

  append(batch: Batch): Promise<void> {
    return this.sink.append(batch);
  }

  async close(): Promise<void> {
    this.unwatch?.();
    await this.sink.close();
  }
}

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
    defs.push({
      kind: 'sink',
      name: `auto${mode}Chain`,
      doc: `Sends to the chain of up to 3 collectors the master assigns (consistent hashing over the live collectors of the flow), `
        + `following its changes; ${what}. Needs --master.`,
      args: [{ name: 'flow', type: 'string', doc: 'flow whose collectors to use (default: this logical node\'s flow)' }],
      durableChannel: mode !== 'BE',
      create: (args, ctx) => new AutoChainSink(`auto${mode}Chain`, mode, args.optionalString('flow'), ctx),
    });
  }
  return defs;
}

export const TIER_COMPONENTS: ComponentDef[] = [collectorSourceDef, autoCollectorSourceDef, ...agentDefs()];
