/**
 * The agent sinks in the registry, Flume OG's names and arguments: `agentE2ESink` /
 * `agentDFOSink` / `agentBESink`, their chain forms `agentE2EChain("h1:p1", "h2:p2", ...)` etc.,
 * and the automatic forms `autoE2EChain` / `autoDFOChain` / `autoBEChain`, which send to the
 * chain the master assigns (see master/chains.ts, node/chains.ts) and follow its changes live.
 */
import type { Batch } from '../../core/channel';
import { type ComponentContext, networkTls, type Sink } from '../../core/component';
import { FlumeError, NoCollectorError } from '../../core/errors';
import { DEFAULT_COLLECTOR_PORT } from '../../core/ports';
import type { ArgValue, SinkDef } from '../../core/registry';
import { retry } from '../../core/retry';
import { AgentSink } from './agent-sink';
import { collectorTargets, type DeliveryMode } from './options';

/** How long an auto chain's open waits for the master to name a first collector. */
const AUTO_CHAIN_OPEN_WAIT_MS = 5_000;

class NoMasterError extends FlumeError {
  constructor(name: string) {
    super(`${name} needs a master to assign its collectors: run flume-node with --master, or use agent*Chain("host:port", ...)`);
  }
}

/**
 * An agent sink whose chain is the master's: built on an empty AgentSink (appends wait,
 * or drop in BE, until a collector is named) whose chain follows every new version.
 */
class AutoChainSink implements Sink {
  private readonly sink: AgentSink;
  private unwatch: (() => void) | null = null;

  constructor(
    private readonly name: string,
    mode: DeliveryMode,
    private readonly flow: string | undefined,
    private readonly ctx: ComponentContext,
  ) {
    this.sink = new AgentSink(
      { collectors: [], mode, agent: ctx.physicalNode, ...(flow ? { flow } : {}) },
      { logger: ctx.logger, counters: ctx.counters, tls: networkTls(ctx), node: ctx.node },
    );
  }

  get window(): number {
    return this.sink.window;
  }

  /** The AgentSink underneath (tests, status). */
  get inner(): AgentSink {
    return this.sink;
  }

  async open(): Promise<void> {
    const chains = this.ctx.chains;
    if (!chains) throw new NoMasterError(this.name);
    // Watch first so no change between the first answer and the subscription is missed.
    this.unwatch = chains.watch(this.ctx.logicalNode, this.flow, (list) => this.sink.setCollectors(list));
    const list = await retry(
      async () => {
        const named = await chains.current(this.ctx.logicalNode, this.flow);
        if (named.length === 0) throw new NoCollectorError(this.name, 'the master names no live collector yet');
        return named;
      },
      { initialMs: 250, maxMs: 1_000, deadlineMs: AUTO_CHAIN_OPEN_WAIT_MS, retriable: (err) => err instanceof NoCollectorError },
    ).catch((err: unknown) => {
      if (err instanceof NoCollectorError) return [];
      throw err;
    });
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

function agentSink(ctx: ComponentContext, mode: DeliveryMode, targets: ArgValue[]): AgentSink {
  return new AgentSink(
    { collectors: collectorTargets(targets.map((t) => (typeof t === 'number' ? t : String(t)))), mode, agent: ctx.physicalNode },
    { logger: ctx.logger, counters: ctx.counters, tls: networkTls(ctx), node: ctx.node },
  );
}

const MODES: Array<{ mode: DeliveryMode; what: string }> = [
  {
    mode: 'E2E',
    what: "deletes a batch from the agent's WAL only once the collector has it in storage (end-to-end ack); resends after a timeout",
  },
  {
    mode: 'DFO',
    what: 'deletes a batch once the collector has it in its durable channel (hop ack); while no collector answers, batches wait on disk',
  },
  { mode: 'BE', what: 'best effort: a memory channel; what the connection fails to deliver is dropped and counted' },
];

function agentSinkDefs(): SinkDef[] {
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
      doc:
        `Sends to the chain of up to 3 collectors the master assigns (consistent hashing over the live collectors of the flow), ` +
        `following its changes; ${what}. Needs --master.`,
      args: [{ name: 'flow', type: 'string', doc: "flow whose collectors to use (default: this logical node's flow)" }],
      durableChannel: mode !== 'BE',
      create: (args, ctx) => new AutoChainSink(`auto${mode}Chain`, mode, args.optionalString('flow'), ctx),
    });
  }
  return defs;
}

export const AGENT_SINKS: SinkDef[] = agentSinkDefs();
