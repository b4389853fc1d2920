/**
 * One agent's Append stream on the collector (the rules are in collector-server.ts's header):
 * hello, then batches checked, put in arrival order, hop-acked once committed; paused while
 * `window` batches await their answer. With a `scope` (the sender's certificate name and `/`),
 * each batch is recorded under `scope + origin` (rewritten once, as it is copied out of grpc-js's
 * buffer; the CRC covers the events only, so it stays) and answered under the origin it came with.
 */
import * as grpc from '@grpc/grpc-js';
import { batchPool } from '../../core/buffer-pool';
import { batchOf } from '../../core/channel';
import { Deque } from '../../core/deque';
import { ChecksumError, FlumeError, isRetriable } from '../../core/errors';
import { encodeBatch, parseBatchHeader, verifyBatch } from '../../core/event';
import { AckKind, AckStatus, type AppendHello, batchKey, encodeAck, parseHello } from '../../core/grpc/append';
import type { TierCounters } from '../../core/grpc/counters';
import type { Logger } from '../../core/logger';
import type { AckTarget, EndToEndAcks } from './e2e-acks';
import type { Intake } from './intake';
import type { CollectorServerOptions } from './options';

/** Counter names of the collector server (beside core/metrics.ts's standard ones). */
export const COLLECTOR_COUNTERS = {
  streamsOpened: 'streams_opened',
  streamsAborted: 'streams_aborted',
  connectionsRefused: 'connections_refused',
  batchesReceived: 'batches',
  eventsReceived: 'events_received',
  bytesReceived: 'bytes_received',
  eventsAccepted: 'events_accepted',
  bytesAccepted: 'bytes_accepted',
  eventsRejected: 'events_rejected',
  checksumFailures: 'checksum_failures',
  malformedMessages: 'malformed_messages',
  batchesRetry: 'batches_retry',
  duplicatesSkipped: 'duplicates_skipped',
  streamPauses: 'stream_pauses',
  hopAcks: 'acks_hop',
  e2eAcks: 'acks_e2e',
  errors: 'errors',
} as const;

/** What a stream needs from its server. */
export interface StreamHost {
  readonly options: CollectorServerOptions;
  readonly counters: TierCounters;
  readonly intake: Intake;
  noteUnanswered(n: number): void;
}

type Call = grpc.ServerDuplexStream<Buffer, Buffer>;

/** One agent's Append stream. */
export class AppendStream implements AckTarget {
  private hello: AppendHello | null = null;
  /** Batches received and not yet answered. */
  private unanswered = 0;
  private paused = false;
  private readonly queue = new Deque<Buffer>();
  private pumping = false;
  private ended = false;
  private halfClosed = false;
  /** Keys of pending end-to-end acks bound to this stream. */
  private readonly e2eKeys = new Set<string>();
  private closeStream!: () => void;
  readonly closed = new Promise<void>((resolve) => (this.closeStream = resolve));

  constructor(
    private readonly owner: StreamHost,
    private readonly call: Call,
    private readonly e2e: EndToEndAcks,
    private readonly logger: Logger,
    private readonly scope = '',
  ) {
    call.on('data', (message: Buffer) => this.onMessage(message));
    call.on('end', () => {
      this.halfClosed = true;
      this.maybeFinish();
    });
    call.on('cancelled', () => this.onGone(true));
    call.on('error', () => this.onGone(false));
    call.on('close', () => this.onGone(false));
  }

  private get c(): TierCounters {
    return this.owner.counters;
  }

  sendEndToEnd(origin: string, seq: number, rejected?: string): boolean {
    if (this.ended) return false;
    this.e2eKeys.delete(batchKey(origin, seq));
    const sent = this.unscoped(origin);
    this.write(
      encodeAck(
        rejected === undefined
          ? { origin: sent, seq, kind: AckKind.END_TO_END, status: AckStatus.OK, message: '', code: 0 }
          : {
              origin: sent,
              seq,
              kind: AckKind.END_TO_END,
              status: AckStatus.REJECTED,
              message: rejected,
              code: grpc.status.INVALID_ARGUMENT,
            },
      ),
    );
    return true;
  }

  /** The server is stopping: end once what was received is answered. */
  finishSoon(): void {
    this.halfClosed = true;
    this.maybeFinish();
  }

  private onMessage(message: Buffer): void {
    if (this.ended) return;
    if (!this.hello) {
      try {
        this.hello = parseHello(message);
      } catch (err) {
        this.c.add(COLLECTOR_COUNTERS.malformedMessages);
        return this.fail(grpc.status.INVALID_ARGUMENT, (err as Error).message);
      }
      this.logger.debug('Append stream opened.', { agent: this.hello.agent, flow: this.hello.flow, peer: this.call.getPeer() });
      return;
    }
    this.unanswered++;
    this.owner.noteUnanswered(this.unanswered);
    if (this.unanswered >= this.owner.options.window && !this.paused) {
      this.paused = true;
      this.c.add(COLLECTOR_COUNTERS.streamPauses);
      this.call.pause();
    }
    // grpc-js hands over a new buffer per message. Kept in the channel's cache until a writer is
    // done with it, it would outlive the young generation, and V8 answers every few tens of MB of
    // such buffers with a full GC (most of the collector's CPU at 1M events/s). A copy into a
    // pooled buffer costs a memcpy; the channel gives it back once the batch is acked. A scoped
    // stream makes that copy when it rewrites the origin (accept).
    if (this.scope !== '') {
      this.queue.push(message);
    } else {
      const own = batchPool.take(message.length);
      message.copy(own);
      this.queue.push(own);
    }
    void this.pump();
  }

  /** Puts queued batches in order; one put at a time, commits pipelined. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let bytes = this.queue.shift(); bytes && !this.ended; bytes = this.queue.shift()) {
        // A batch that never reached the channel goes back to the pool; one that did, the channel gives back.
        const unused = await this.accept(bytes);
        if (unused) batchPool.give(unused);
      }
    } finally {
      this.pumping = false;
    }
    this.maybeFinish();
  }

  /** Returns the buffer to give back to the pool (null: the channel may hold it now, a put was started). */
  private async accept(received: Buffer): Promise<Buffer | null> {
    let bytes = received;
    const c = this.c;
    c.add(COLLECTOR_COUNTERS.batchesReceived);
    c.add(COLLECTOR_COUNTERS.bytesReceived, bytes.length);
    let header;
    try {
      header = verifyBatch(bytes);
    } catch (err) {
      if (err instanceof ChecksumError) {
        c.add(COLLECTOR_COUNTERS.checksumFailures);
        this.refuse(bytes, AckStatus.REJECTED, grpc.status.DATA_LOSS, err.message);
        return bytes;
      }
      c.add(COLLECTOR_COUNTERS.malformedMessages);
      this.fail(grpc.status.INVALID_ARGUMENT, (err as Error).message);
      return bytes;
    }
    const { seq, count } = header;
    const sent = header.origin;
    if (sent === '' || seq < 1 || count < 1 || header.eventsEnd <= header.eventsStart) {
      // Parses, but is no batch an agent makes (a second hello, an empty or anonymous batch).
      c.add(COLLECTOR_COUNTERS.malformedMessages);
      this.fail(grpc.status.INVALID_ARGUMENT, `not a batch: origin "${sent}", seq ${seq}, ${count} events`);
      return bytes;
    }
    if (this.scope !== '') {
      // The origin is recorded inside the sender's own space (see collector-server.ts).
      bytes = encodeBatch(this.scope + sent, seq, count, received.subarray(header.eventsStart, header.eventsEnd), (n) => batchPool.take(n));
      header = parseBatchHeader(bytes);
    }
    const origin = header.origin;
    c.add(COLLECTOR_COUNTERS.eventsReceived, count);
    const endToEnd = this.hello!.endToEnd;
    const known = this.e2e.state(origin, seq);
    if (known === 'stored' || (known === 'pending' && endToEnd)) {
      // A resend of a batch this collector already holds (see e2e-acks.ts, point 4).
      c.add(COLLECTOR_COUNTERS.duplicatesSkipped);
      if (known === 'pending') {
        this.e2e.rebind(origin, seq, this);
        this.e2eKeys.add(batchKey(origin, seq));
      }
      this.answer(sent, seq, AckStatus.OK, 0, '');
      if (known === 'stored') this.sendEndToEnd(origin, seq);
      return bytes;
    }
    // Owed before the batch can be seen by a writer: its ack may come before `begin` returns.
    if (endToEnd) {
      this.e2e.expect(origin, seq, this);
      this.e2eKeys.add(batchKey(origin, seq));
    }
    const batch = batchOf(bytes, header);
    let committed: Promise<void>;
    try {
      ({ committed } = await this.owner.intake.begin(batch));
    } catch (err) {
      if (endToEnd) this.forgetE2E(origin, seq);
      // A put that timed out may still finish and be rolled back: the buffer stays the channel's.
      this.putFailed(sent, seq, count, err);
      return null;
    }
    // Not awaited: the next batch may be placed while this commit is in flight.
    committed.then(
      () => {
        c.add(COLLECTOR_COUNTERS.eventsAccepted, count);
        c.add(COLLECTOR_COUNTERS.bytesAccepted, bytes.length);
        this.answer(sent, seq, AckStatus.OK, 0, '');
      },
      (err: unknown) => {
        if (endToEnd) this.forgetE2E(origin, seq);
        this.putFailed(sent, seq, count, err);
      },
    );
    return null;
  }

  /** The origin a client sent, from the one recorded. */
  private unscoped(origin: string): string {
    return this.scope !== '' && origin.startsWith(this.scope) ? origin.slice(this.scope.length) : origin;
  }

  private forgetE2E(origin: string, seq: number): void {
    this.e2e.forget(origin, seq);
    this.e2eKeys.delete(batchKey(origin, seq));
  }

  private putFailed(origin: string, seq: number, count: number, err: unknown): void {
    const code = err instanceof FlumeError ? err.grpcCode : grpc.status.INTERNAL;
    const message = (err as Error).message;
    this.c.add(COLLECTOR_COUNTERS.errors);
    if (isRetriable(err)) {
      this.c.add(COLLECTOR_COUNTERS.batchesRetry);
      this.answer(origin, seq, AckStatus.RETRY, code, message);
      // Nothing after a refused batch may be committed ahead of it: end the stream.
      this.fail(code, message);
      return;
    }
    this.c.add(COLLECTOR_COUNTERS.eventsRejected, count);
    this.logger.warn('Batch refused.', { origin, seq, error: message });
    this.answer(origin, seq, AckStatus.REJECTED, code, message);
  }

  private refuse(bytes: Buffer, status: AckStatus, code: grpc.status, message: string): void {
    // A batch with a bad checksum still has a readable id (verifyBatch parsed it).
    let origin = '';
    let seq = 0;
    try {
      const h = parseBatchHeader(bytes);
      origin = h.origin;
      seq = h.seq;
    } catch {
      // unreachable: the header parsed a moment ago
    }
    this.logger.warn('Batch refused.', { origin, seq, error: message });
    this.answer(origin, seq, status, code, message);
  }

  private answer(origin: string, seq: number, status: AckStatus, code: number, message: string): void {
    if (!this.ended) {
      this.write(encodeAck({ origin, seq, kind: AckKind.HOP, status, message, code }));
      if (status === AckStatus.OK) this.c.add(COLLECTOR_COUNTERS.hopAcks);
    }
    this.unanswered--;
    if (this.paused && this.unanswered < this.owner.options.window && !this.ended) {
      this.paused = false;
      this.call.resume();
    }
    this.maybeFinish();
  }

  private write(bytes: Buffer): void {
    try {
      this.call.write(bytes);
    } catch {
      this.onGone(false);
    }
  }

  private maybeFinish(): void {
    if (this.ended || !this.halfClosed || this.unanswered > 0 || this.pumping) return;
    this.ended = true;
    this.call.end();
    this.release();
  }

  private fail(code: grpc.status, details: string): void {
    if (this.ended) return;
    this.ended = true;
    this.logger.warn('Append stream refused.', { code: grpc.status[code], details, peer: this.call.getPeer() });
    this.call.emit('error', { code, details });
    this.release();
  }

  private onGone(aborted: boolean): void {
    if (!this.ended && aborted) this.c.add(COLLECTOR_COUNTERS.streamsAborted);
    this.ended = true;
    this.release();
  }

  private release(): void {
    while (this.queue.shift()) {
      // dropped: never answered, the agent resends them
    }
    this.e2e.unbind(this, this.e2eKeys);
    this.e2eKeys.clear();
    this.closeStream();
  }
}
