/**
 * The collector's gRPC server: agents' Append streams in, batches into the collector's channel,
 * hop acks out once committed, end-to-end acks once the storage writer says a batch is stored.
 *
 * Per stream (one {@link AppendStream}):
 * - the first message is an AppendRequest with a hello; every later one is one EventBatch;
 * - batches are CRC-checked, then put into the channel one transaction each, as the bytes they
 *   arrived as, strictly in arrival order: the next put starts only once the previous batch's
 *   commit has been *called*, so commits (and what the storage writer sees) keep the order of
 *   the stream while a durable channel can still group-commit several of them (intake.ts; given
 *   a node's SourceOutput instead of a channel, one batch is committed at a time per stream);
 * - end-to-end acks: see the DESIGN note in e2e-acks.ts (how they survive a lost connection);
 * - a HOP ack answers each batch once its commit resolves;
 * - at most `window` batches are between arrival and hop ack; beyond that the stream is paused
 *   (grpc-js then stops reading the HTTP/2 stream, and flow control stops the agent).
 *
 * Refusals: bad checksum → REJECTED ack with code DATA_LOSS (stream goes on); channel refuses for
 * good (batch too large) → REJECTED ack; channel full past `putTimeoutMs` or closed → RETRY ack,
 * then the stream ends with RESOURCE_EXHAUSTED / UNAVAILABLE so that nothing after the refused
 * batch is committed out of order; malformed messages or no hello → INVALID_ARGUMENT, stream
 * ended; messages over the size limit are refused by grpc-js itself (RESOURCE_EXHAUSTED) and show
 * here as an aborted stream. Each refusal is counted; other streams are not disturbed.
 *
 * Identity (with `deps.tls`; see core/tls/identity.ts): a stream or `Stored` query is served only
 * to a client certificate of role agent or collector (a relay) from the cluster's CA; others are
 * refused (UNAUTHENTICATED / PERMISSION_DENIED) and counted as `tls_rejected_<reason>`. The
 * origin a batch is recorded under (de-duplication, end-to-end acks, the writers' index) is
 * `<certificate name>/<origin the batch names>`: a client can name any origin, but only inside
 * its own certificate's space, so it cannot make another agent's batches look stored. Acks go
 * back under the origin the client sent. Without `deps.tls` (insecure mode) origins are as sent.
 *
 * Known limit: batches whose commits are in flight together may, if an earlier commit fails and
 * a later one succeeds (a disk error in a durable channel), reach the channel out of order; the
 * agent then resends the failed one.
 */
import * as grpc from '@grpc/grpc-js';
import type { Channel } from '../../core/channel';
import type { ComponentCounters, SourceOutput } from '../../core/component';
import { collectorService, type StoredQuery, type StoredReply } from '../../core/grpc/append';
import { TierCounters } from '../../core/grpc/counters';
import { bindTuned, serverOptions } from '../../core/grpc/tuning';
import type { LifecycleState } from '../../core/lifecycle';
import { type Logger, silentLogger } from '../../core/logger';
import { GrpcPeers, PeerRefusedError, type PeerRole, type TlsContext } from '../../core/tls';
import { AppendStream, COLLECTOR_COUNTERS, type StreamHost } from './append-stream';
import { EndToEndAcks } from './e2e-acks';
import { ChannelIntake, type Intake, OutputIntake } from './intake';
import { type CollectorServerOptions, parseCollectorServerOptions } from './options';

/** Asks the storage writer's durable index which of `seqs` it holds for `origin`. */
type StoredLookup = (origin: string, seqs: number[]) => Promise<number[]>;

export interface CollectorServerDeps {
  logger?: Logger;
  counters?: ComponentCounters;
  /** The storage writer's durable index of stored batch ids, when it has one. */
  isStored?: StoredLookup;
  /** Mutual TLS (core/tls); absent: plaintext, origins as sent (insecure mode). */
  tls?: TlsContext;
  /** The process's `tls` component, where refusals are counted; default: `counters`. */
  tlsCounters?: ComponentCounters;
}

/** Who may push batches: agents, and collectors relaying to another collector. */
const SENDER_ROLES: readonly PeerRole[] = ['agent', 'collector'];

type Call = grpc.ServerDuplexStream<Buffer, Buffer>;

export class CollectorServer implements StreamHost {
  readonly options: CollectorServerOptions;
  readonly counters: TierCounters;
  private readonly logger: Logger;
  private readonly e2e: EndToEndAcks;
  private readonly streams = new Set<AppendStream>();
  private server: grpc.Server | null = null;
  private boundPort = 0;
  private lifecycle: LifecycleState = 'IDLE';
  private maxUnanswered = 0;
  private readonly peers: GrpcPeers | undefined;
  readonly intake: Intake;

  /**
   * `target`: the collector's channel (preferred: commits pipelined, no re-parse), or the
   * logical node's SourceOutput (one commit at a time per stream), or any {@link Intake}.
   */
  constructor(
    target: Channel | SourceOutput | Intake,
    options: Partial<CollectorServerOptions> = {},
    private readonly deps: CollectorServerDeps = {},
  ) {
    this.options = parseCollectorServerOptions(options);
    this.intake = intakeOf(target, this.options.putTimeoutMs);
    this.logger = (deps.logger ?? silentLogger()).child({ component: 'collector-server' });
    this.counters = new TierCounters(deps.counters);
    this.e2e = new EndToEndAcks(this.options.rememberStored, this.options.pendingDedupMs);
    this.peers = deps.tls ? new GrpcPeers(deps.tlsCounters ?? deps.counters) : undefined;
  }

  get state(): LifecycleState {
    return this.lifecycle;
  }

  /** The bound port (the real one when started with port 0). */
  get port(): number {
    return this.boundPort;
  }

  get streamCount(): number {
    return this.streams.size;
  }

  async start(): Promise<void> {
    if (this.lifecycle === 'RUNNING') return;
    this.lifecycle = 'STARTING';
    const tuning = { ...this.options.grpc, maxMessageBytes: this.options.maxBatchBytes + 64 };
    const server = new grpc.Server(serverOptions(tuning));
    server.addService(collectorService(), {
      Append: (call: Call) => this.openStream(call),
      Stored: (call: grpc.ServerUnaryCall<StoredQuery, StoredReply>, cb: grpc.sendUnaryData<StoredReply>) => {
        let scope: string;
        try {
          scope = this.scopeOf(call, 'ask what is stored');
        } catch (err) {
          cb({ code: (err as PeerRefusedError).grpcCode, details: (err as Error).message });
          return;
        }
        this.stored({ ...call.request, origin: scope + call.request.origin }).then(
          (r) => cb(null, r),
          (err: Error) => cb({ code: grpc.status.UNAVAILABLE, details: err.message }),
        );
      },
    });
    try {
      this.boundPort = await bindTuned(server, this.options.host, this.options.port, {
        tuning,
        onSession: (session) => {
          // A connection that fails below gRPC (not HTTP/2, a protocol error): refused by Node, counted here.
          // A session over its memory limit (a PING flood) ends the same way; so does a connection
          // over the limit (null).
          if (!session) this.counters.add(COLLECTOR_COUNTERS.connectionsRefused);
          else {
            session.once('error', () => this.counters.add(COLLECTOR_COUNTERS.connectionsRefused));
            this.peers?.track(session);
          }
        },
        credentials: this.deps.tls?.serverCredentials(),
        counters: this.counters,
        logger: this.logger,
      });
    } catch (err) {
      this.lifecycle = 'ERROR';
      server.forceShutdown();
      throw err;
    }
    this.server = server;
    this.lifecycle = 'RUNNING';
    this.logger.info('Collector server listening.', { host: this.options.host, port: this.boundPort, tls: this.deps.tls !== undefined });
  }

  /** Stops accepting streams, lets open ones finish for `stopGraceMs`, then cuts them. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.lifecycle = 'STOPPING';
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, this.options.stopGraceMs);
      for (const s of this.streams) s.finishSoon();
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.lifecycle = 'STOPPED';
  }

  /** Cuts every connection at once, as a crash would (for tests of reconnection). */
  kill(): void {
    this.server?.forceShutdown();
    this.server = null;
    this.lifecycle = 'STOPPED';
  }

  /**
   * The storage writer made batch `origin#seq` durable: sends its END_TO_END ack on the stream
   * that carried it, or remembers it for `Stored` (see e2e-acks.ts). Cheap for batches that
   * nobody waits on.
   */
  ackEndToEnd(origin: string, seq: number): void {
    if (this.e2e.stored(origin, seq)) this.counters.add(COLLECTOR_COUNTERS.e2eAcks);
  }

  /** The batch went to the dead-letter store: its END_TO_END ack is REJECTED, with why. */
  rejectEndToEnd(origin: string, seq: number, reason: string): void {
    this.e2e.stored(origin, seq, reason);
  }

  /** What `Stored` answers: recently stored here, plus the storage writer's index. */
  async stored(query: StoredQuery): Promise<StoredReply> {
    const seqs = (query.seqs ?? []).map(Number);
    const found = new Set(this.e2e.query(query.origin, seqs));
    const rest = seqs.filter((s) => !found.has(s));
    if (rest.length > 0 && this.deps.isStored) {
      for (const s of await this.deps.isStored(query.origin, rest)) found.add(s);
    }
    return { stored: seqs.filter((s) => found.has(s)) };
  }

  stats(): Record<string, number> {
    return {
      ...this.counters.snapshot(),
      streams: this.streams.size,
      e2ePending: this.e2e.pendingCount,
      maxUnanswered: this.maxUnanswered,
    };
  }

  /** @internal the high-water mark of batches awaiting their answer on one stream. */
  noteUnanswered(n: number): void {
    if (n > this.maxUnanswered) this.maxUnanswered = n;
  }

  /** The origin prefix of the call's sender (`<name>/`, '' without TLS); throws the counted refusal. */
  private scopeOf(call: { getPeer(): string }, what: string): string {
    return this.peers ? `${this.peers.require(call, SENDER_ROLES, what).name}/` : '';
  }

  private openStream(call: Call): void {
    if (this.lifecycle !== 'RUNNING') {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'collector is stopping' });
      return;
    }
    let scope: string;
    try {
      scope = this.scopeOf(call, 'send batches');
    } catch (err) {
      this.logger.warn('Append stream refused.', { peer: call.getPeer(), error: (err as Error).message });
      call.emit('error', { code: (err as PeerRefusedError).grpcCode, details: (err as Error).message });
      return;
    }
    const stream = new AppendStream(this, call, this.e2e, this.logger, scope);
    this.streams.add(stream);
    this.counters.add(COLLECTOR_COUNTERS.streamsOpened);
    stream.closed.then(() => this.streams.delete(stream));
  }
}

function intakeOf(target: Channel | SourceOutput | Intake, putTimeoutMs: number): Intake {
  if ('transaction' in target) return new ChannelIntake(target, putTimeoutMs);
  if ('begin' in target) return target;
  return new OutputIntake(target, putTimeoutMs, `${target.origin}.output`);
}
