/**
 * The contracts of the components a logical node is built from. A logical node is
 * `source | sink`: the source puts batches into the node's channel, and the node's driver takes
 * them from the channel and appends them to the sink tree (decorators, fan-out, failover and
 * wrappers are sinks that hold other sinks, as in Flume OG).
 */
import type { Batch, Channel } from './channel';
import type { Logger } from './logger';
import type { ListenerLimits } from './limits';
import { TlsConfigError, type TlsContext } from './tls/context';

/** Counters every component keeps under the same names (core/metrics.ts exports them). */
export interface ComponentCounters {
  add(name: string, value?: number): void;
  /** Records a duration in milliseconds into the histogram `name` (`flume_<name>_ms`); per batch, not per event. */
  observe?(name: string, ms: number): void;
}

/** What a component is given when it is built: nothing reaches for a global. */
export interface ComponentContext {
  logger: Logger;
  /** The logical node this component belongs to; also the origin of the batches it makes. */
  logicalNode: string;
  physicalNode: string;
  /** This host's name, stamped on events by sources. */
  host: string;
  /** A directory of the logical node's own for durable state (offsets, WAL, dedup ids). */
  dataDir: string;
  counters: ComponentCounters;
  /**
   * Extra values for path escapes, set by an enclosing wrapper: `roll` sets `rolltag` for the
   * body it builds, so `escapedFile("/d", "log-%{rolltag}")` names each roll's file.
   */
  tags?: Readonly<Record<string, string>>;
  /** The logical node's storage ledger (set by the node driver); see {@link StorageLedger}. */
  ledger?: StorageLedger;
  /** Automatic chains from the master; absent in standalone mode. See {@link ChainSource}. */
  chains?: ChainSource;
  /** What a listener holds its clients to (the node's site config); absent: the defaults. */
  limits?: ListenerLimits;
  /** The node's mutual TLS (core/tls) for its listeners and clients; absent: insecure mode. */
  tls?: TlsContext;
  /**
   * Set when TLS is on but the node has no certificate (a standalone flow run without tls.*):
   * why a component may not listen or connect. Read through {@link networkTls}.
   */
  tlsRefusal?: string;
  /** The logical node, as far as a component may ask it or show through it; see {@link NodeView}. */
  node?: NodeView;
}

/**
 * The TLS of a component that listens on or connects to the network: `ctx.tls`, or undefined in
 * insecure mode. Throws when the node has no certificate, so such a node runs local flows only.
 */
export function networkTls(ctx: ComponentContext): TlsContext | undefined {
  if (ctx.tlsRefusal !== undefined) throw new TlsConfigError(undefined, ctx.tlsRefusal);
  return ctx.tls;
}

/**
 * What a component may ask of its logical node, or show through it (node/logical-node.ts).
 * - `backlog` is what waits in the node's channel for the sink now: batches, the channel's bytes
 *   (a WAL: its segment files), and events estimated from the average batch seen so far (absent
 *   while none was).
 * - `showStatus` adds what `status` returns to the node's /status under this component's path
 *   (called when /status is read); returns the remover.
 */
export interface NodeView {
  backlog(): { batches: number; bytes: number; events?: number };
  showStatus(status: () => Readonly<Record<string, unknown>>): () => void;
}

/**
 * The master's automatic chains, as a node sees them (node/chains.ts in master mode).
 * - `current` resolves with the collectors (`host:port`, failover order) the master assigns to
 *   the agent logical node `logical` in `flow` ('' or absent: its config's flow); [] while none.
 * - `watch` calls `cb` with each new list, in order, whenever the master's version of it
 *   changes (not for the list `current` would give at the time of the call); returns the
 *   unsubscriber.
 * - `advertise` registers a collector: the master counts `address` as a live collector of
 *   `logical`'s flow until the returned function is called.
 */
export interface ChainSource {
  current(logical: string, flow?: string): Promise<string[]>;
  watch(logical: string, flow: string | undefined, cb: (collectors: string[]) => void): () => void;
  advertise(logical: string, address: string): () => void;
}

/**
 * One per logical node: what its storage writers have made durable, for end-to-end acks.
 * A storage writer calls `stored(origin, seq)` once a batch is durable in storage and registers
 * its durable index of stored ids with `addIndex`; a collector source listens with `onStored`
 * (to send end-to-end acks) and answers an agent's "which of these do you hold" with `isStored`.
 */
export interface StorageLedger {
  stored(origin: string, seq: number): void;
  /** Calls `listener` for every batch stored from now on; returns the unsubscriber. */
  onStored(listener: (origin: string, seq: number) => void): () => void;
  /** Adds a writer's durable index; returns its remover. */
  addIndex(lookup: (origin: string, seqs: number[]) => Promise<number[]>): () => void;
  /** The subset of `seqs` of `origin` that some registered index holds. */
  isStored(origin: string, seqs: number[]): Promise<number[]>;
  /** The batch can never be stored and went to the dead-letter store (core/dead-letter.ts). */
  rejected(origin: string, seq: number, reason: string): void;
  /** Calls `listener` for every batch rejected from now on; returns the unsubscriber. */
  onRejected(listener: (origin: string, seq: number, reason: string) => void): () => void;
}

/** Where a source puts what it produces. */
export interface SourceOutput {
  /** The origin of batch ids; batches are built with `new BatchBuilder(out.origin)`. */
  readonly origin: string;
  /** The next batch sequence number: unique per origin across restarts. */
  nextSeq(): number;
  /**
   * Commits one encoded batch to the channel; resolves once committed (on disk, for a durable
   * channel), so a push source acknowledges its client only after this resolves. Waits while the
   * channel is full: that is the backpressure a source passes on to its clients. The buffer is
   * the channel's from then on: once the put resolves it may already be reused for another batch.
   */
  put(batch: Buffer): Promise<void>;
  /**
   * The node's channel itself, for a source that runs its own transactions (the collector source
   * pipelines commits per stream). Such a source counts what it puts; everyone else uses `put`.
   */
  readonly channel?: Channel;
}

export interface Source {
  /** Starts producing into `out`: push sources listen, poll sources start polling. */
  open(out: SourceOutput): Promise<void>;
  /** Stops producing; resolves once everything the source accepted has been put. */
  close(): Promise<void>;
  /** Finite sources only (a file read once, a counted generator): resolves when drained. */
  readonly done?: Promise<void>;
}

export interface Sink {
  open(): Promise<void>;
  /**
   * Delivers one batch. Resolves once the sink's promise is kept (written for a file sink, acked
   * for an agent sink); the driver then commits the batch's take. Rejects on failure: the driver
   * rolls the take back and tries again later, so an append must be safe to repeat. Once it
   * resolves, the batch's bytes may be reused for another batch (core/buffer-pool.ts): a sink
   * that keeps them longer copies them.
   */
  append(batch: Batch): Promise<void>;
  /** Makes everything appended so far durable where the sink buffers. */
  flush?(): Promise<void>;
  close(): Promise<void>;
  /** How many appends the driver may have in flight at once; 1 when absent. */
  readonly window?: number;
}
