/**
 * The agent's sink to collectors: E2E, DFO or BE delivery over one Append stream at a time, to
 * the first collector of an ordered chain that answers.
 *
 * Ordering and concurrency:
 * - `append` may be called up to `window` times before earlier calls resolve; batches are sent
 *   in the order `append` was called, as long as the bytes sent and not yet acked stay within
 *   `windowBytes` (one batch always goes). After a reconnect the unacked ones are resent in that
 *   same order, ahead of anything newer. Acks are matched by (origin, seq).
 * - One stream is open at a time. When it fails, the sink tries the next collector of the chain
 *   at once, and after a full round without success backs off (core/retry.ts `Backoff`).
 *   While on another collector than the first, it tries the first again every `failbackMs` and
 *   moves back when it answers.
 * - E2E: before resending after a reconnect the sink asks the new stream's collector (`Stored`)
 *   which unacked batches are already in storage, resolves those and resends only the rest
 *   (see collector/source/e2e-acks.ts for the whole scheme).
 * - A batch the collector REJECTS (bad checksum, too large) can never be delivered: in E2E and
 *   DFO its append rejects with a non-retriable {@link BatchRejectedError}; in BE it is dropped
 *   and counted.
 * - Each batch moves through the states of batch-state.ts (QUEUED, SENT, HOP_ACKED, then ACKED,
 *   FAILED or DROPPED); this class decides when, {@link SinkBatch} enforces the order.
 * - Losing the collectors is said once per outage, with the backlog, and its end once
 *   (link-state.ts); `linkStatus` is what the node's /status shows of the link.
 */
import { status } from '@grpc/grpc-js';
import { batchPool } from '../../core/buffer-pool';
import { type Batch } from '../../core/channel';
import type { ComponentContext, Sink } from '../../core/component';
import { FlumeError } from '../../core/errors';
import { GcPacer } from '../../core/gc-pace';
import { firstEventTimestamp } from '../../core/event';
import { type Ack, AckKind, AckStatus, batchKey } from '../../core/grpc/append';
import { TierCounters } from '../../core/grpc/counters';
import { installFrameInPlace } from '../../core/grpc/frame-in-place';
import { type Logger, silentLogger } from '../../core/logger';
import { DELIVERY_MS } from '../../core/metrics';
import { Backoff, pause, sleep } from '../../core/retry';
import { SinkBatch } from './batch-state';
import { CollectorLink, type SinkLinkStatus } from './link-state';
import { type AppendStream, CollectorConnection } from './connection';
import { type AgentSinkOptions, parseAgentSinkOptions } from './options';

const SINK_COUNTERS = {
  sent: 'sink_batches_sent',
  acked: 'sink_batches_acked',
  retried: 'sink_batches_retried',
  eventsSent: 'events_sent',
  bytesSent: 'bytes_sent',
  batchesDropped: 'batches_dropped',
  eventsDropped: 'events_dropped',
  rejected: 'batches_rejected',
  storedOnReconnect: 'batches_found_stored',
  reconnects: 'reconnects',
  failovers: 'failovers',
  e2eTimeouts: 'e2e_timeouts',
  errors: 'errors',
} as const;

/** The first drop of a run is reported at once; later ones are summed for this long. */
const DROP_REPORT_MS = 5_000;

export class BatchRejectedError extends FlumeError {
  override readonly permanent = true;
  constructor(
    readonly origin: string,
    readonly seq: number,
    readonly code: number,
    reason: string,
  ) {
    super(`collector rejected batch ${origin}#${seq}: ${reason}`);
  }
}

class SinkClosedError extends FlumeError {
  override readonly retriable = true;
  override readonly grpcCode = status.UNAVAILABLE;
  constructor(readonly sink: string) {
    super(`sink ${sink} is closed`);
  }
}

export interface AgentSinkDeps {
  logger?: Logger;
  counters?: ComponentContext['counters'];
  /** Mutual TLS to the collectors (core/tls); absent: plaintext. */
  tls?: ComponentContext['tls'];
  /** The logical node: its channel's backlog for the outage lines, and /status (node/logical-node.ts). */
  node?: ComponentContext['node'];
}

export class AgentSink implements Sink {
  readonly options: AgentSinkOptions;
  readonly counters: TierCounters;
  private readonly logger: Logger;
  private connections: CollectorConnection[];
  /** The chain now (an auto chain's list changes with the master's assignments). */
  private collectors: string[];
  /** Appends not yet resolved, in append order. */
  private readonly entries = new Map<string, SinkBatch>();
  private stream: AppendStream | null = null;
  /** Index in the chain of the collector the stream goes to. */
  private current = 0;
  private ready = false;
  /** Bytes of the batches on the wire (SENT, HOP_ACKED) of the current stream. */
  private sentBytes = 0;
  private readonly gcPacer: GcPacer; // frees the garbage of sends soon (core/gc-pace.ts)
  /** Between rounds of the chain in which no collector answered. */
  private readonly backoff: Backoff;
  private closing = false;
  private loop: Promise<void> | null = null;
  private readonly abort = new AbortController();
  private wake: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastFailback = 0;
  /**
   * A move we chose (failback) waits until nothing sent is unacked: a batch hop-acked by the old
   * collector and resent to the new one would be stored by both, which cannot know of each other.
   * Meanwhile new batches wait unsent.
   */
  private moveTo: number | null = null;
  /** BE drops not yet reported in a warning (one per {@link DROP_REPORT_MS} at most). */
  private unreported = { batches: 0, events: 0, reason: '' };
  private lastDropReport = 0;
  /** The outage of the collectors now, if any: said once, summarised, and its end said once. */
  private readonly link: CollectorLink;
  private lastError = '';
  private hideStatus: (() => void) | null = null;

  constructor(
    options: Partial<AgentSinkOptions> & Pick<AgentSinkOptions, 'collectors' | 'mode'>,
    private readonly deps: AgentSinkDeps = {},
  ) {
    this.options = parseOptions(options);
    this.collectors = [...this.options.collectors];
    this.logger = (deps.logger ?? silentLogger()).child({ component: `sink.${this.options.mode.toLowerCase()}` });
    this.counters = new TierCounters(deps.counters);
    this.connections = this.collectors.map((t) => new CollectorConnection(t, this.options.grpc, deps.tls));
    this.backoff = new Backoff({ initialMs: this.options.backoffInitialMs, maxMs: this.options.backoffMaxMs });
    this.link = new CollectorLink(this.logger, deps.node);
    this.gcPacer = new GcPacer(Math.max(this.options.windowBytes, 1024 * 1024));
  }

  get window(): number {
    return this.options.window;
  }

  /** The collector the sink is streaming to now, or null while it has none. */
  get connectedTo(): string | null {
    return this.ready ? this.collectors[this.current] : null;
  }

  get inFlight(): number {
    return this.entries.size;
  }

  /**
   * Replaces the chain (a new auto-chain assignment). The stream stays where it is if its
   * collector is still in the list; otherwise it moves to the new first collector, resending
   * what is unacked there (after a `Stored` query in E2E mode).
   */
  setCollectors(collectors: string[]): void {
    const parsed = parseOptions({ ...this.options, collectors }).collectors;
    const connectedTo = this.ready ? this.collectors[this.current] : null;
    const old = new Map(this.collectors.map((t, i) => [t, this.connections[i]]));
    this.connections = parsed.map((t) => old.get(t) ?? new CollectorConnection(t, this.options.grpc, this.deps.tls));
    for (const [t, c] of old) if (!parsed.includes(t)) c.close();
    this.collectors = [...parsed];
    const stillThere = connectedTo === null ? -1 : parsed.indexOf(connectedTo);
    if (stillThere >= 0) this.current = stillThere;
    else if (this.stream) this.restartStream(0);
    else {
      this.current = 0;
      this.wake?.(); // the loop may be waiting for a first collector
    }
    this.logger.info('Collector chain changed.', { collectors: parsed.join(',') });
  }

  async open(): Promise<void> {
    if (this.loop) return;
    if (!installFrameInPlace()) this.logger.warn('grpc-js is not the version this sink knows: every batch is copied to be sent.');
    this.hideStatus = this.deps.node?.showStatus(() => ({ ...this.linkStatus() })) ?? null;
    this.loop = this.run();
    this.timer = setInterval(() => this.tick(), 500);
    this.timer.unref();
  }

  append(batch: Batch): Promise<void> {
    if (this.closing) return Promise.reject(new SinkClosedError(this.collectors.join(',')));
    const key = batchKey(batch.origin, batch.seq);
    if (this.entries.has(key)) return Promise.reject(new FlumeError(`batch ${batch.origin}#${batch.seq} is already in flight`));
    return new Promise<void>((resolve, reject) => {
      const entry = new SinkBatch(batch, key, resolve, reject);
      this.entries.set(key, entry);
      if (this.ready && this.stream && this.moveTo === null) this.pump();
      else if (!this.ready && this.options.mode === 'BE') {
        entry.dropTimer = setTimeout(() => this.drop(entry, 'no collector answered'), this.options.connectTimeoutMs);
      }
    });
  }

  /** Waits up to `closeGraceMs` for acks while a stream is up, then fails what is left and cancels (a hung collector would keep the call). */
  async close(): Promise<void> {
    if (this.closing) return;
    const deadline = Date.now() + this.options.closeGraceMs;
    while (this.entries.size > 0 && Date.now() < deadline && this.ready) await sleep(20);
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    this.abort.abort();
    this.wake?.();
    this.stream?.[this.entries.size > 0 ? 'cancel' : 'end']();
    this.stream = null;
    this.ready = false;
    for (const e of [...this.entries.values()]) this.fail(e, new SinkClosedError(this.collectors.join(',')));
    this.reportDrops();
    for (const c of this.connections) c.close(); // first: a connection attempt in the loop then ends at once
    await this.loop?.catch(() => undefined);
    this.hideStatus?.();
  }

  stats(): Record<string, number> {
    return { ...this.counters.snapshot(), inFlight: this.entries.size };
  }

  /** The link to the collectors, as /status shows it. */
  linkStatus(): SinkLinkStatus {
    return this.link.status(this.ready, this.collectors[this.current], this.entries.size);
  }

  // -- the connection loop ------------------------------------------------------------------

  private async run(): Promise<void> {
    let failedInRound = 0;
    while (!this.closing) {
      if (this.collectors.length === 0) {
        // An automatic chain with no live collector yet: E2E/DFO appends wait (the batches
        // stay in the agent's channel), BE ones drop after connectTimeoutMs; setCollectors wakes us.
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        continue;
      }
      if (this.current >= this.collectors.length) this.current = 0;
      const index = this.current;
      const ok = await this.connect(index);
      if (this.closing) return;
      if (ok) {
        this.backoff.reset();
        failedInRound = 0;
        // Wait until the stream ends (onClosed, restartStream or close call `wake`).
        if (this.ready) await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        if (this.closing) return;
        this.counters.add(SINK_COUNTERS.reconnects);
        continue; // `current` was set by whoever ended the stream
      }
      failedInRound++;
      this.link.failed(this.lastError, this.collectors[index], this.entries.size);
      if (this.collectors.length > 1) {
        this.current = (index + 1) % this.collectors.length;
        this.counters.add(SINK_COUNTERS.failovers);
      }
      if (failedInRound >= this.collectors.length) {
        failedInRound = 0;
        await pause(this.backoff.next(), this.abort.signal);
      }
    }
  }

  /** Connects to collector `index`, recovers (E2E), resends in order. False if it did not answer. */
  private async connect(index: number): Promise<boolean> {
    const conn = this.connections[index];
    const { mode, agent, flow, connectTimeoutMs } = this.options;
    try {
      await conn.ready(connectTimeoutMs, this.abort.signal);
    } catch (err) {
      this.lastError = (err as Error).message;
      this.logger.debug('Collector did not answer.', { collector: conn.target, error: this.lastError });
      return false;
    }
    if (this.closing) return false;
    const stream = conn.openStream(
      { agent, flow, endToEnd: mode === 'E2E' },
      { onAck: (ack) => this.onAck(stream, ack), onClosed: (err) => this.onClosed(stream, err) },
    );
    this.stream = stream;
    if (mode === 'E2E' && this.entries.size > 0) {
      try {
        await this.resolveStored(conn);
      } catch (err) {
        this.logger.debug('Stored query failed; resending everything unacked.', { collector: conn.target, error: (err as Error).message });
      }
    }
    if (!stream.open || this.stream !== stream) {
      this.lastError = 'the stream ended before it was ready';
      return false;
    }
    this.ready = true;
    this.link.ready();
    this.logger.info('Streaming to collector.', { collector: conn.target, resend: this.entries.size });
    this.pump();
    return true;
  }

  /** E2E after a reconnect: resolves the unacked batches the collector says are stored. */
  private async resolveStored(conn: CollectorConnection): Promise<void> {
    const byOrigin = new Map<string, number[]>();
    for (const e of this.entries.values()) {
      const seqs = byOrigin.get(e.batch.origin) ?? [];
      seqs.push(e.batch.seq);
      byOrigin.set(e.batch.origin, seqs);
    }
    for (const [origin, seqs] of byOrigin) {
      const stored = await conn.stored(origin, seqs, this.options.connectTimeoutMs);
      for (const seq of stored) {
        const e = this.entries.get(batchKey(origin, seq));
        if (!e) continue;
        this.counters.add(SINK_COUNTERS.storedOnReconnect);
        this.ack(e);
      }
    }
  }

  /** Sends the unsent batches in order, as far as `windowBytes` allows. */
  private pump(): void {
    const stream = this.stream;
    if (!this.ready || !stream || this.moveTo !== null) return;
    for (const e of this.entries.values()) {
      if (e.state !== 'QUEUED') continue;
      if (this.sentBytes > 0 && this.sentBytes + e.batch.bytes.length > this.options.windowBytes) return;
      this.send(stream, e);
    }
  }

  private send(stream: AppendStream, e: SinkBatch): void {
    e.send();
    this.sentBytes += e.batch.bytes.length;
    stream.send(e.batch.bytes);
    this.gcPacer.sent(e.batch.bytes.length);
    this.counters.add(SINK_COUNTERS.sent);
    this.counters.add(SINK_COUNTERS.eventsSent, e.batch.count);
    this.counters.add(SINK_COUNTERS.bytesSent, e.batch.bytes.length);
  }

  private onAck(stream: AppendStream, ack: Ack): void {
    if (stream !== this.stream) return;
    const e = this.entries.get(batchKey(ack.origin, ack.seq));
    if (!e) return; // already settled (an E2E ack that overtook its HOP ack, a late duplicate)
    if (ack.status === AckStatus.OK) {
      this.link.acked(this.collectors[this.current]);
      if (ack.kind === AckKind.END_TO_END || this.options.mode !== 'E2E') return this.ack(e);
      if (e.state === 'SENT') e.hopAcked(Date.now()); // a hop ack for a batch not on the wire is stale
      return;
    }
    if (ack.status === AckStatus.REJECTED) {
      this.counters.add(SINK_COUNTERS.rejected);
      this.logger.warn('Collector rejected a batch.', { origin: ack.origin, seq: ack.seq, reason: ack.message });
      if (this.options.mode === 'BE') return this.drop(e, ack.message);
      return this.fail(e, new BatchRejectedError(ack.origin, ack.seq, ack.code, ack.message));
    }
    // RETRY: the collector ends the stream after it; the batch goes again on the next one.
    this.counters.add(SINK_COUNTERS.retried);
    this.requeue(e);
    if (this.options.mode === 'BE') this.drop(e, ack.message);
  }

  private onClosed(stream: AppendStream, err: Error | null): void {
    if (stream !== this.stream) return;
    this.stream = null;
    this.ready = false;
    if (!this.closing) {
      const collector = this.collectors[this.current];
      this.logger.debug('Stream to collector lost.', { collector, error: err?.message ?? 'closed' });
      this.link.failed(`stream lost: ${err?.message ?? 'closed'}`, collector, this.entries.size);
    }
    for (const e of [...this.entries.values()]) {
      if (this.options.mode === 'BE' && e.onWire) this.drop(e, 'stream lost before the ack');
      else this.requeue(e);
    }
    if (this.collectors.length > 1 && err) {
      this.current = (this.current + 1) % this.collectors.length;
      this.counters.add(SINK_COUNTERS.failovers);
    }
    this.wake?.();
  }

  /** Periodic: E2E timeouts and failback to the first collector. */
  private tick(): void {
    if (this.closing || !this.ready || !this.stream) return;
    const now = Date.now();
    this.link.tick(this.collectors[this.current], now);
    if (this.options.mode === 'E2E') {
      for (const e of this.entries.values()) {
        if (e.hopAt > 0 && now - e.hopAt > this.options.e2eTimeoutMs) {
          this.counters.add(SINK_COUNTERS.e2eTimeouts);
          this.logger.warn('No end-to-end ack in time; resending.', { origin: e.batch.origin, seq: e.batch.seq });
          this.restartStream(this.current);
          return;
        }
      }
    }
    if (this.current !== 0 && now - this.lastFailback > this.options.failbackMs) {
      this.lastFailback = now;
      void this.connections[0].ready(this.options.connectTimeoutMs).then(
        () => {
          if (this.closing || this.current === 0 || !this.stream) return;
          this.logger.info('First collector is back; failing back once what is in flight is acked.', { collector: this.collectors[0] });
          this.moveTo = 0;
          this.moveWhenDrained();
        },
        () => undefined,
      );
    }
  }

  /** Drops the current stream and reconnects to collector `index` (unacked batches resent there). */
  private restartStream(index: number): void {
    const stream = this.stream;
    this.stream = null;
    this.ready = false;
    stream?.cancel();
    this.moveTo = null;
    for (const e of this.entries.values()) this.requeue(e);
    this.current = index;
    this.wake?.();
  }

  private drop(e: SinkBatch, reason: string): void {
    const onWire = e.onWire;
    e.dropped();
    this.release(e, onWire);
    this.counters.add(SINK_COUNTERS.batchesDropped);
    this.counters.add(SINK_COUNTERS.eventsDropped, e.batch.count);
    this.logger.debug('Batch dropped (best effort).', { origin: e.batch.origin, seq: e.batch.seq, reason });
    const u = this.unreported;
    u.batches++;
    u.events += e.batch.count;
    u.reason = reason;
    if (Date.now() - this.lastDropReport >= DROP_REPORT_MS || this.closing) this.reportDrops();
    // gRPC may still hold the bytes of a batch its stream never acked, to send them later.
    batchPool.forget(e.batch.bytes);
  }

  /** Best effort loses data only out loud: one warning with the count, at most every few seconds. */
  private reportDrops(): void {
    const u = this.unreported;
    if (u.batches === 0) return;
    this.logger.warn('Best effort: dropped events no collector took.', { batches: u.batches, events: u.events, lastReason: u.reason });
    this.unreported = { batches: 0, events: 0, reason: '' };
    this.lastDropReport = Date.now();
  }

  /** Makes the chosen move once no sent batch waits for an ack. */
  private moveWhenDrained(): void {
    if (this.moveTo === null) return;
    for (const e of this.entries.values()) if (e.onWire) return;
    const index = this.moveTo;
    this.moveTo = null;
    this.restartStream(index);
  }

  /** A batch on the wire goes back to the queue (its stream ended); one already queued stays. */
  private requeue(e: SinkBatch): void {
    if (!e.onWire) return;
    this.sentBytes -= e.batch.bytes.length;
    e.requeue();
  }

  private ack(e: SinkBatch): void {
    const onWire = e.onWire;
    e.acked();
    this.release(e, onWire);
    this.counters.add(SINK_COUNTERS.acked);
    const first = firstEventTimestamp(e.batch.bytes); // for the delivery histogram
    if (first > 0) this.counters.observe(DELIVERY_MS, Date.now() - first);
  }

  private fail(e: SinkBatch, err: Error): void {
    const onWire = e.onWire;
    e.failed(err);
    this.release(e, onWire);
  }

  /** Takes a batch that just settled out of the books: entries, and the window if it was on the wire. */
  private release(e: SinkBatch, onWire: boolean): void {
    this.entries.delete(e.key);
    if (onWire) this.sentBytes -= e.batch.bytes.length;
    queueMicrotask(() => this.pump());
    if (this.moveTo !== null) queueMicrotask(() => this.moveWhenDrained());
  }
}

/**
 * The options parser wants at least one collector; an automatic chain may start with none and
 * get them later from the master (`setCollectors`), so an empty list is accepted here.
 */
function parseOptions(input: Partial<AgentSinkOptions> & Pick<AgentSinkOptions, 'collectors' | 'mode'>): AgentSinkOptions {
  if (Array.isArray(input.collectors) && input.collectors.length === 0) {
    return { ...parseAgentSinkOptions({ ...input, collectors: ['none:1'] }), collectors: [] };
  }
  return parseAgentSinkOptions(input);
}
