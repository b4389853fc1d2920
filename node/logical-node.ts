/**
 * The logical-node driver: `source | sink` with a channel between them.
 *
 *     source --put--> channel --take (one transaction per batch)--> sink tree
 *
 * - open: validate the spec, open the channel (memory or WAL) and the sink tree, start up to
 *   `sink.window` workers, then open the source. Sinks are ready before the first event arrives.
 * - run: each worker takes a batch in a transaction, appends it to the sink, commits on success;
 *   on failure it rolls back (the batch returns to the head of the channel) and backs off.
 * - close: stop the source (it resolves once everything it accepted is in the channel), let the
 *   workers drain a memory channel (a durable one keeps its batches for the next start), wait for
 *   appends in flight; past `closeTimeoutMs` give up waiting (cancel) and say what was left.
 *   Then close the sink tree and the channel. With a durable channel nothing is worth waiting
 *   for long: a batch in flight stays in the WAL, uncommitted, and goes again at the next start
 *   (the collector drops one it already stored), so the wait is {@link DURABLE_STOP_MS} at most.
 *
 * Catching up is said (node/progress.ts): WAL replay and backlog drain progress, also in /status
 * beside what components show through `ctx.node` (an agent sink's link to its collectors).
 *
 * Concurrency: workers run in parallel up to the window, so with a window above 1 a batch that
 * failed and was retried may arrive after later ones. Every method is safe to call once; `close`
 * is idempotent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { batchOf, type Channel, inTransaction } from '../core/channel';
import type { ChainSource, ComponentContext, Sink, Source, SourceOutput } from '../core/component';
import { failureKind, FlumeError, ValidationError } from '../core/errors';
import type { Logger } from '../core/logger';
import { MemoryChannel, MEMORY_CHANNEL_DEFAULTS } from '../core/memory-channel';
import {
  BATCHES,
  BYTES_ACCEPTED,
  BYTES_REJECTED,
  type CounterSet,
  ERRORS,
  EVENTS_ACCEPTED,
  EVENTS_REJECTED,
  type Metrics,
  SINK_BATCHES_ACKED,
  SINK_BATCHES_RETRIED,
  SINK_BATCHES_SENT,
} from '../core/metrics';
import { type Registry, validateNode } from '../core/registry';
import { Backoff, pause, sleep, withDeadline } from '../core/retry';
import type { LogicalNodeSpec } from '../core/spec/ast';
import { WAL_DEFAULTS, WalChannel } from '../core/wal/wal';
import { type Backlog, backlogOf, NodeViews, reportDrain, type ReplayProgress, reportReplay } from './progress';
import { buildSink, buildSource, needsDurableChannel } from './builder';
import { countWalLoss, reportChannel } from './channel-metrics';
import { NodeLedger } from './ledger';
import { SequenceAllocator } from './seq';
import { LISTENER_LIMIT_DEFAULTS, type ListenerLimits } from '../core/limits';
import { NodeDeadLetters } from './dead-letters';
import type { TlsContext } from '../core/tls';

export type ChannelKind = 'memory' | 'wal';

export interface LogicalNodeOptions {
  /** memory: fast, lost on crash; wal: durable, replayed on start (in `<dataDir>/wal`). */
  channel: ChannelKind;
  /** Capacity of a WAL channel (chosen, or needed by an end-to-end sink); 0: the WAL's default. */
  walCapacityBytes: number;
  /** Size at which a WAL segment rolls; 0: the WAL's default. */
  walSegmentBytes: number;
  /** Capacity of a memory channel; 0: its default. */
  memoryCapacityBytes: number;
  /** How long `close` waits for the source, the drain and the appends in flight (with a WAL: {@link DURABLE_STOP_MS} at most). */
  closeTimeoutMs: number;
  /** How long a worker waits on an empty channel before looking again. */
  takeWaitMs: number;
  /** What the push sources' listeners hold their clients to. */
  limits: ListenerLimits;
  /** Backoff after a failed append: first step and cap. */
  retryInitialMs: number;
  retryMaxMs: number;
  /** The least time between two progress lines (WAL replay, backlog drain). */
  progressMs: number;
}

/**
 * What closing a node with a durable channel waits at most for its source and the appends in
 * flight. Then the sink tree closes (an agent sink in 1 s at most: agent/sinks/options.ts
 * closeGraceMs) and the process exits 1 s after that whatever handle is left (node/cli.ts): an
 * agent stops within ~4 s. An operator and systemd expect a stop within seconds whatever the
 * sink's state, and stopping loses no batch (issue 16).
 */
const DURABLE_STOP_MS = 2_000;

export const LOGICAL_NODE_DEFAULTS: LogicalNodeOptions = {
  channel: 'memory',
  walCapacityBytes: 0,
  walSegmentBytes: 0,
  memoryCapacityBytes: 0,
  closeTimeoutMs: 30_000,
  takeWaitMs: 250,
  limits: LISTENER_LIMIT_DEFAULTS,
  retryInitialMs: 100,
  retryMaxMs: 10_000,
  progressMs: 5_000,
};

/** What a logical node is given; the manager or the CLI builds it once. */
export interface LogicalNodeDeps {
  registry: Registry;
  metrics: Metrics;
  logger: Logger;
  physicalNode: string;
  host: string;
  /** The node's own directory (sequence numbers, WAL, source offsets). */
  dataDir: string;
  /** Automatic chains from the master (master mode only). */
  chains?: ChainSource;
  /** Mutual TLS, handed to every component (absent: insecure mode). */
  tls?: TlsContext;
  /** Why components may not use the network (core/component.ts `networkTls`). */
  tlsRefusal?: string;
}

export type LogicalNodeState = 'IDLE' | 'OPENING' | 'ACTIVE' | 'CLOSING' | 'CLOSED' | 'ERROR';

export interface LogicalNodeStatus {
  name: string;
  state: LogicalNodeState;
  source: string;
  sink: string;
  /** `diskFull`: a WAL's puts are refused for want of disk space (the sources are held back). */
  channel: { kind: ChannelKind; batches: number; bytes: number; capacityBytes: number; inFlight: number; diskFull?: boolean } | null;
  error?: string;
  /** Counters by component path (`source.tail`, `channel`, `driver`, `sink.batch`...). */
  counters: Record<string, Record<string, number>>;
  /** What waits in the channel; events estimated (node/progress.ts). */
  backlog?: Backlog;
  /** A WAL being replayed while the node opens. */
  replay?: ReplayProgress;
  /** What components show of themselves, by component path (an agent sink's link to its collectors). */
  components?: Record<string, Readonly<Record<string, unknown>>>;
}

export class LogicalNode {
  readonly name: string;
  readonly options: LogicalNodeOptions;
  private lifecycle: LogicalNodeState = 'IDLE';
  private failure: string | undefined;
  private channel: Channel | null = null;
  private channelKind: ChannelKind = 'memory';
  private sink: Sink | null = null;
  private source: Source | null = null;
  private workers: Promise<void>[] = [];
  private stopWorkers = false;
  /** Wakes workers sleeping in a backoff when the node stops. */
  private readonly stopSignal = new AbortController();
  private inFlightAppends = 0;
  /** Failed appends in a row (any worker); reset by a success. */
  private readonly backoff: Backoff;
  private deadLetters: NodeDeadLetters | null = null;
  private closing: Promise<void> | null = null;
  private removeCollector: (() => void) | null = null;
  private readonly counterSets = new Map<string, CounterSet>();
  /** Storage writers report durable batches here; a collector source acks end to end from it. */
  readonly ledger = new NodeLedger();
  private readonly log: Logger;
  private readonly channelCounters: CounterSet;
  private readonly driverCounters: CounterSet;
  /** The WAL while it opens (its replay progress), then null. */
  private opening: WalChannel | null = null;
  /** What components ask of the node and show through it (ctx.node). */
  private readonly views = new NodeViews(() => this.backlog());
  private stopDrainReports: (() => void) | null = null;

  constructor(
    readonly spec: LogicalNodeSpec,
    private readonly deps: LogicalNodeDeps,
    options: Partial<LogicalNodeOptions> = {},
  ) {
    const unknown = Object.keys(options).filter((k) => !(k in LOGICAL_NODE_DEFAULTS));
    if (unknown.length > 0) throw new FlumeError(`unknown logical node options: ${unknown.join(', ')}`);
    this.options = { ...LOGICAL_NODE_DEFAULTS, ...options };
    this.backoff = new Backoff({ initialMs: this.options.retryInitialMs, maxMs: this.options.retryMaxMs });
    this.name = spec.name;
    this.log = deps.logger.child({ component: `node.${spec.name}` });
    this.channelCounters = this.countersFor('channel');
    this.driverCounters = this.countersFor('driver');
  }

  get state(): LogicalNodeState {
    return this.lifecycle;
  }

  /** Whether the source is finite (has `done`), once open: what `--oneshot` needs. */
  get finite(): boolean {
    return this.source?.done !== undefined;
  }

  /** Builds and starts everything; throws (leaving nothing open) if any part cannot start. */
  async open(): Promise<void> {
    if (this.lifecycle !== 'IDLE') throw new FlumeError(`logical node ${this.name} is ${this.lifecycle}, cannot open`);
    this.lifecycle = 'OPENING';
    try {
      const problems = validateNode(this.deps.registry, this.spec);
      if (problems.length > 0) throw new ValidationError(problems, `logical node ${this.name}`);
      fs.mkdirSync(this.deps.dataDir, { recursive: true });
      const seq = SequenceAllocator.open(this.deps.dataDir);
      this.channel = await this.openChannel();
      countWalLoss(this.channel, this.channelCounters);
      this.deadLetters = new NodeDeadLetters(
        path.join(this.deps.dataDir, 'dead-letter'),
        this.channel,
        this.ledger,
        this.driverCounters,
        this.log,
      );
      const makeContext = (p: string, tags?: Readonly<Record<string, string>>): ComponentContext => this.context(p, tags);
      this.sink = buildSink(this.deps.registry, this.spec.sink, makeContext);
      const source = buildSource(this.deps.registry, this.spec.source, makeContext);
      await this.sink.open();
      const window = Math.max(1, Math.floor(this.sink.window ?? 1));
      for (let i = 0; i < window; i++) this.workers.push(this.work());
      // Set first: a source that fails half-way through open is closed like any other.
      this.source = source;
      await source.open(this.output(seq));
      this.removeCollector = this.deps.metrics.onCollect(() =>
        reportChannel(this.channel, this.channelCounters, this.deps.metrics, this.name),
      );
      const acked = (): number => this.driverCounters.get(EVENTS_ACCEPTED);
      this.stopDrainReports = reportDrain(this.log, this.options.progressMs, () => this.backlog(), acked);
      this.lifecycle = 'ACTIVE';
      this.log.info('logical node opened', { source: this.spec.sourceText, sink: this.spec.sinkText, channel: this.channelKind, window });
    } catch (err) {
      this.failure = err instanceof Error ? err.message : String(err);
      this.log.error('logical node failed to open', { error: this.failure });
      await this.teardown(0).catch(() => undefined);
      this.lifecycle = 'ERROR';
      throw err;
    }
  }

  /**
   * Resolves once a finite source is drained, its events have left the channel and the sink tree
   * is flushed: what `--oneshot` waits for. Never resolves for an endless source.
   */
  async finished(): Promise<void> {
    const done = this.source?.done;
    if (!done) return new Promise<void>(() => undefined);
    await done;
    await this.drained(Infinity);
    await this.sink?.flush?.();
  }

  /** Stops the node; see the module comment. Idempotent. */
  close(timeoutMs = this.options.closeTimeoutMs): Promise<void> {
    if (!this.closing) this.closing = this.doClose(timeoutMs);
    return this.closing;
  }

  status(): LogicalNodeStatus {
    countWalLoss(this.channel, this.channelCounters);
    const stats = this.channel?.stats();
    const counters: Record<string, Record<string, number>> = {};
    for (const [p, c] of this.counterSets) counters[p] = c.snapshot();
    const replay = this.opening?.replay;
    const components = this.views.statuses();
    return {
      name: this.name,
      state: this.lifecycle,
      source: this.spec.sourceText,
      sink: this.spec.sinkText,
      channel: stats
        ? { kind: this.channelKind, ...stats, ...(this.channel instanceof WalChannel ? { diskFull: this.channel.diskFull } : {}) }
        : null,
      ...(this.failure ? { error: this.failure } : {}),
      counters,
      ...(stats ? { backlog: this.backlog() } : {}),
      ...(replay ? { replay: { ...replay } } : {}),
      ...(components ? { components } : {}),
    };
  }

  private backlog(): Backlog {
    return backlogOf(this.channel, this.driverCounters, this.channelCounters);
  }

  private async doClose(timeoutMs: number): Promise<void> {
    // IDLE: nothing was opened; ERROR: open failed and already released what it had opened.
    if (this.lifecycle === 'IDLE' || this.lifecycle === 'CLOSED' || this.lifecycle === 'ERROR') {
      this.lifecycle = 'CLOSED';
      return;
    }
    this.lifecycle = 'CLOSING';
    this.log.info('logical node closing');
    await this.teardown(timeoutMs);
    this.lifecycle = 'CLOSED';
    this.log.info('logical node closed', { counters: this.driverCounters.snapshot() });
  }

  private async teardown(timeoutMs: number): Promise<void> {
    // The sink tree may take the whole timeout to close (a storage writer flushing its files); with
    // a WAL, the source and the appends in flight only DURABLE_STOP_MS.
    const closeBy = Date.now() + timeoutMs;
    const deadline = this.channel?.durable ? Math.min(closeBy, Date.now() + DURABLE_STOP_MS) : closeBy;
    this.removeCollector?.();
    this.removeCollector = null;
    this.stopDrainReports?.();
    if (this.source) {
      try {
        const closed = await withDeadline(this.source.close(), deadline);
        if (!closed) this.log.error('source did not close in time; cancelling it');
      } catch (err) {
        this.log.error('source failed to close', { error: String(err) });
      }
    }
    if (this.channel && !this.channel.durable && this.sink) {
      if (!(await this.drained(deadline - Date.now()))) {
        const left = this.channel.stats();
        this.log.error('channel not drained in time: its batches are lost', { batches: left.batches, bytes: left.bytes });
      }
    }
    this.stopWorkers = true;
    this.stopSignal.abort();
    // Workers that wait in take() (a node whose open failed: deadline 0) end with the channel;
    // only appends that were cut off are worth a line.
    if (!(await withDeadline(Promise.all(this.workers), deadline)) && this.inFlightAppends > 0) {
      const inFlight = this.inFlightAppends;
      if (this.channel?.durable)
        this.log.info('Appends in flight at the stop; their batches stay in the WAL for the next start', { inFlight });
      else this.log.error('appends still in flight at the close deadline; cancelling them', { inFlight });
    }
    if (this.sink) {
      try {
        await withDeadline(this.sink.close(), Math.max(closeBy, Date.now() + 1000));
      } catch (err) {
        this.log.error('sink failed to close', { error: String(err) });
      }
    }
    this.deadLetters?.close();
    if (this.channel) await this.channel.stop();
    reportChannel(this.channel, this.channelCounters, this.deps.metrics, this.name);
  }

  /** Waits until the channel is empty and no append is in flight, up to `ms`. */
  private async drained(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = this.channel?.stats();
      if (!s || (s.batches === 0 && s.inFlight === 0 && this.inFlightAppends === 0)) return true;
      if (Date.now() >= deadline || this.workers.length === 0) return false;
      await sleep(Math.min(20, Math.max(1, deadline - Date.now())));
    }
  }

  private async openChannel(): Promise<Channel> {
    const { walCapacityBytes, walSegmentBytes, memoryCapacityBytes } = this.options;
    this.channelKind = this.options.channel === 'wal' || needsDurableChannel(this.deps.registry, this.spec) ? 'wal' : 'memory';
    if (this.channelKind === 'wal') {
      const wal = new WalChannel(path.join(this.deps.dataDir, 'wal'), `${this.name}.wal`, {
        capacityBytes: walCapacityBytes > 0 ? walCapacityBytes : WAL_DEFAULTS.capacityBytes,
        segmentBytes: walSegmentBytes > 0 ? walSegmentBytes : WAL_DEFAULTS.segmentBytes,
        logger: this.log.child({ component: `node.${this.name}.wal` }),
      });
      this.opening = wal;
      const stopReporting = reportReplay(this.log, () => wal.replay, this.options.progressMs);
      try {
        await wal.start();
      } finally {
        stopReporting();
        this.opening = null;
      }
      return wal;
    }
    return new MemoryChannel(`${this.name}.memory`, {
      capacityBytes: memoryCapacityBytes > 0 ? memoryCapacityBytes : MEMORY_CHANNEL_DEFAULTS.capacityBytes,
    });
  }

  private output(seq: SequenceAllocator): SourceOutput {
    const channel = this.channel!;
    const counters = this.channelCounters;
    return {
      origin: this.name,
      channel,
      nextSeq: () => seq.nextSeq(),
      put: async (bytes: Buffer) => {
        let batch;
        try {
          batch = batchOf(bytes);
        } catch (err) {
          counters.add(BYTES_REJECTED, bytes.length);
          counters.add(EVENTS_REJECTED, 1);
          counters.add(ERRORS);
          throw err;
        }
        await inTransaction(channel, (tx) => tx.put(batch));
        counters.add(EVENTS_ACCEPTED, batch.count);
        counters.add(BYTES_ACCEPTED, bytes.length);
        counters.add(BATCHES);
      },
    };
  }

  private async work(): Promise<void> {
    const channel = this.channel!;
    const sink = this.sink!;
    const c = this.driverCounters;
    let turns = 0;
    while (!this.stopWorkers) {
      // A memory channel and a synchronous sink resolve on microtasks alone: yield now and then
      // so timers (heartbeats), I/O and signals are not starved.
      if (++turns % 64 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const tx = channel.transaction();
      tx.begin();
      let batch;
      try {
        batch = await tx.take(this.options.takeWaitMs);
      } catch (err) {
        tx.rollback();
        tx.close();
        if (this.stopWorkers) break;
        c.add(ERRORS);
        this.log.error('take failed', { error: String(err) });
        await this.pause(this.options.retryMaxMs);
        continue;
      }
      if (!batch) {
        tx.rollback();
        tx.close();
        continue;
      }
      this.inFlightAppends++;
      c.add(SINK_BATCHES_SENT);
      try {
        await sink.append(batch);
        await tx.commit();
        tx.close();
        this.backoff.reset();
        c.add(SINK_BATCHES_ACKED);
        c.add(EVENTS_ACCEPTED, batch.count);
        c.add(BYTES_ACCEPTED, batch.bytes.length);
      } catch (err) {
        if (tx.state === 'OPEN' && failureKind(err) === 'permanent' && (await this.deadLetters!.quarantine(batch, err))) {
          await tx.commit();
          tx.close();
          this.backoff.reset();
          continue;
        }
        if (tx.state === 'OPEN') tx.rollback();
        tx.close();
        c.add(ERRORS);
        c.add(SINK_BATCHES_RETRIED);
        const delay = this.backoff.next();
        // Stopping fails the appends left; their batches wait in the channel, nothing to say.
        if (!this.stopWorkers)
          this.log.warn('append failed; the batch goes back to the channel', {
            batch: `${batch.origin}#${batch.seq}`,
            retryInMs: Math.round(delay),
            error: err instanceof Error ? err.message : String(err),
          });
        await this.pause(delay);
      } finally {
        this.inFlightAppends--;
      }
    }
  }

  /** Sleeps for a backoff, cut short when the node stops. */
  private pause(ms: number): Promise<void> {
    return pause(ms, this.stopSignal.signal);
  }

  private context(componentPath: string, tags?: Readonly<Record<string, string>>): ComponentContext {
    return {
      logger: this.deps.logger.child({ component: `${this.name}.${componentPath}` }),
      logicalNode: this.name,
      physicalNode: this.deps.physicalNode,
      host: this.deps.host,
      dataDir: this.deps.dataDir,
      counters: this.countersFor(componentPath),
      ledger: this.ledger,
      limits: this.options.limits,
      ...(this.deps.chains ? { chains: this.deps.chains } : {}),
      ...(this.deps.tls ? { tls: this.deps.tls } : {}),
      ...(this.deps.tlsRefusal !== undefined ? { tlsRefusal: this.deps.tlsRefusal } : {}),
      ...(tags ? { tags } : {}),
      node: this.views.view(componentPath),
    };
  }

  private countersFor(componentPath: string): CounterSet {
    let c = this.counterSets.get(componentPath);
    if (!c) {
      c = this.deps.metrics.component(this.name, componentPath);
      this.counterSets.set(componentPath, c);
    }
    return c;
  }
}
