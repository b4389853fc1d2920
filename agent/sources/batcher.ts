/**
 * Turns a stream of events into batches put to a source's output, in order.
 *
 * A source appends events to `builder` (the reused BatchBuilder) and then calls `appended()`.
 * A batch is finished and put when it reaches `maxEvents` events or `maxBytes` bytes, or when
 * `lingerMs` has passed since its first event (so a trickle still flows, and a flood never makes
 * one batch per event), or when the source calls `flush()` itself.
 *
 * Puts run one at a time, in the order the batches were finished: batch N+1 is put only after
 * batch N's put has settled. `pending` counts finished batches whose put has not settled yet;
 * a push source pauses its clients while it is at or above `maxPending` (`waitBelow`), which is
 * how a full channel slows the clients down instead of filling memory.
 *
 * A put the channel refuses for now (a full disk: DiskFullError, or any error core/errors.ts calls
 * retriable, but a closed channel) is tried again with a backoff (core/retry.ts) until it goes
 * in: the batch keeps its place and its id, the batches after it wait, `pending` stays up and the
 * source holds its clients back. So input resumes by itself once space returns, and nothing is
 * dropped for it. After `close()` (or `endHold`) a refused put is tried for `CLOSE_GRACE_MS` more,
 * then given up (logged and counted as lost: a push source cannot keep what it read past its own
 * stop; a tail reads it again after a restart and gives up at once).
 *
 * One batcher belongs to one source (or one producer within it); it is not safe to append from
 * two places between two `appended()` calls, which JavaScript's single thread makes easy.
 */
import type { ComponentContext, SourceOutput } from '../../core/component';
import { WaitQueue } from '../../core/channel';
import { ChannelClosedError, isRetriable } from '../../core/errors';
import { BatchBuilder } from '../../core/event';
import { BATCHES, BYTES_ACCEPTED, ERRORS, EVENTS_ACCEPTED } from '../../core/metrics';
import { Backoff } from '../../core/retry';
import { Pause } from './common';

/** How long a closed batcher still tries a put the channel refuses for now. */
const CLOSE_GRACE_MS = 5_000;

/** A refusal to wait out: the channel is full or its disk is, not closed, not the batch's fault. */
function holdsBack(err: unknown): boolean {
  return isRetriable(err) && !(err instanceof ChannelClosedError);
}

export interface BatcherOptions {
  /** A batch is put once it holds this many events. */
  maxEvents: number;
  /** ... or this many encoded bytes. */
  maxBytes: number;
  /** ... or this long after its first event; 0: only on size or an explicit flush. */
  lingerMs: number;
  /** How many finished batches may wait for their put before `waitBelow` holds producers. */
  maxPending: number;
}

const BATCHER_DEFAULTS: BatcherOptions = {
  maxEvents: 1000,
  maxBytes: 1024 * 1024,
  lingerMs: 5,
  maxPending: 4,
};

/** What a batcher fills: a BatchBuilder, or a specialised writer such as the syslog one. */
export interface BatchAccumulator {
  readonly count: number;
  readonly byteLength: number;
  /** Returns the encoded batch and empties the accumulator. */
  finish(seq: number): Buffer;
}

export class EventBatcher<B extends BatchAccumulator = BatchBuilder> {
  readonly builder: B;
  private readonly opts: BatcherOptions;
  private last: Promise<void> = Promise.resolve();
  private pendingBatches = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly settled = new WaitQueue();
  private failures = 0;
  private readonly backoff = new Backoff({ initialMs: 50, maxMs: 1_000 });
  private readonly retryPause = new Pause();
  /** When the current hold began (0: not held). */
  private heldSince = 0;
  private refusals = 0;
  /** Once the source stops: when a refused put is given up (0: running, tried for ever). */
  private giveUpAt = 0;

  constructor(
    private readonly out: SourceOutput,
    private readonly ctx: ComponentContext,
    options: Partial<BatcherOptions> = {},
    makeBuilder?: (origin: string) => B,
  ) {
    this.opts = { ...BATCHER_DEFAULTS, ...options };
    const initial = Math.min(256 * 1024, this.opts.maxBytes + 64 * 1024);
    this.builder = makeBuilder ? makeBuilder(out.origin) : (new BatchBuilder(out.origin, initial) as unknown as B);
  }

  /** Finished batches whose put has not settled. */
  get pending(): number {
    return this.pendingBatches;
  }

  /** The size at which a batch is full: this many events, or this many bytes. */
  get maxEvents(): number {
    return this.opts.maxEvents;
  }

  get maxBytes(): number {
    return this.opts.maxBytes;
  }

  /** True once the open batch should be put (size reached): for sources that flush themselves. */
  get full(): boolean {
    return this.builder.count >= this.opts.maxEvents || this.builder.byteLength >= this.opts.maxBytes;
  }

  /** Call after appending to `builder`: flushes on size, arms the linger timer otherwise. */
  appended(): void {
    if (this.full) {
      void this.flush().catch(() => undefined);
    } else if (this.timer === undefined && this.opts.lingerMs > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush().catch(() => undefined);
      }, this.opts.lingerMs);
    }
  }

  /**
   * Finishes the open batch (if any) and queues its put. Resolves once that put (and every
   * earlier one) has settled; rejects if that put failed. With nothing open, resolves when the
   * last queued put settles. `seq` names the batch (default: the next of the origin);
   * `beforePut` runs right before the put, after every earlier put has settled.
   */
  flush(seq?: number, beforePut?: () => Promise<void>): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const count = this.builder.count;
    if (count === 0) return this.last;
    const bytes = this.builder.finish(seq ?? this.out.nextSeq());
    this.pendingBatches++;
    const put = this.last.then(async () => {
      await beforePut?.();
      await this.putHeld(bytes, count);
    });
    const settled = put.then(
      () => {
        this.ctx.counters.add(EVENTS_ACCEPTED, count);
        this.ctx.counters.add(BYTES_ACCEPTED, bytes.length);
        this.ctx.counters.add(BATCHES, 1);
      },
      (err: unknown) => {
        this.ctx.counters.add(ERRORS, 1);
        if (this.failures++ === 0 || this.failures % 1000 === 0) {
          this.ctx.logger.error('Putting a batch failed; its events are lost.', {
            events: count,
            failures: this.failures,
            error: String(err),
          });
        }
      },
    );
    const tracked = settled.finally(() => {
      this.pendingBatches--;
      this.settled.wakeAll();
    });
    this.last = tracked;
    return put.then(() => tracked);
  }

  /** Puts one batch, trying again while the channel refuses it for now (see the header). */
  private async putHeld(bytes: Buffer, count: number): Promise<void> {
    for (;;) {
      try {
        await this.out.put(bytes);
      } catch (err) {
        if (!holdsBack(err) || (this.giveUpAt !== 0 && Date.now() >= this.giveUpAt)) {
          this.heldSince = 0;
          throw err;
        }
        this.refusals++;
        if (this.heldSince === 0) {
          this.heldSince = Date.now();
          this.ctx.logger.warn('The channel refuses batches for now; holding input back until it takes them.', {
            events: count,
            error: err instanceof Error ? err.message : String(err),
          });
        }
        await this.retryPause.sleep(this.giveUpAt !== 0 ? Math.min(50, Math.max(0, this.giveUpAt - Date.now())) : this.backoff.next());
        continue;
      }
      if (this.heldSince !== 0) {
        this.ctx.logger.warn('The channel takes batches again; input resumes.', {
          heldMs: Date.now() - this.heldSince,
          refusals: this.refusals,
        });
        this.heldSince = 0;
        this.refusals = 0;
      }
      this.backoff.reset();
      return;
    }
  }

  /** Resolves once fewer than `limit` (default maxPending) batches wait for their put. */
  async waitBelow(limit = this.opts.maxPending): Promise<void> {
    while (this.pendingBatches >= limit) await this.settled.wait();
  }

  /** True while producers should hold back. */
  get congested(): boolean {
    return this.pendingBatches >= this.opts.maxPending;
  }

  /** Flushes and waits for every put to settle; never rejects (failures are logged and counted). */
  async drain(): Promise<void> {
    await this.flush().catch(() => undefined);
    await this.last;
  }

  /** From now on a refused put is tried for `graceMs` more at most (the source stops). */
  endHold(graceMs = CLOSE_GRACE_MS): void {
    if (this.giveUpAt === 0) this.giveUpAt = Date.now() + graceMs;
    this.retryPause.wake();
  }

  /** Drops the open batch unput (a source that reads its events again after a restart). */
  discard(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.builder.count > 0) this.builder.finish(0);
  }

  /** The source stops: drains, trying refused puts for `CLOSE_GRACE_MS` more at most. */
  async close(): Promise<void> {
    this.endHold();
    await this.drain();
  }
}
