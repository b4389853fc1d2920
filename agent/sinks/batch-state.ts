/**
 * The life of one batch in the agent sink, from `append` until its promise settles: the one
 * state machine, written down here and enforced by {@link SinkBatch}.
 *
 *                 send                 hop ack (E2E)
 *      QUEUED ──────────────▶ SENT ──────────────▶ HOP_ACKED
 *        ▲  ▲                  │                      │
 *        │  └──── requeue ─────┘                      │
 *        └──────────────── requeue ───────────────────┘
 *
 *      from QUEUED, SENT or HOP_ACKED, once and for good:
 *        ACKED    the append resolves: the final ack came (END_TO_END in E2E, HOP in DFO and
 *                 BE), or after a reconnect the collector said the batch is already stored;
 *        FAILED   the append rejects: the collector REJECTED it (E2E, DFO), or the sink closed;
 *        DROPPED  the append resolves without delivery (BE only): rejected, told to RETRY, its
 *                 stream lost, or no collector in time. Counted and reported, never silent.
 *
 * - QUEUED: waiting to be sent, in append order. Sent only on a stream that is ready, within
 *   the window, and while no chosen move (failback) waits for the wire to drain.
 * - SENT: written to the current stream; its bytes count against `windowBytes`.
 * - HOP_ACKED (E2E only): the collector has it in its durable channel; the end-to-end ack is
 *   awaited. Stuck here longer than `e2eTimeoutMs`, it is resent (the stream is restarted).
 *   Its bytes still count against the window: the collector has not let go of it.
 * - requeue ("retried"): the stream it was sent on ended (lost, restarted, failed back, a RETRY
 *   ack); it goes again, ahead of newer batches, on the next stream.
 *
 * Why a batch is never resent while SENT or HOP_ACKED: the collector that holds it may still
 * store it; only when that stream is gone does the sink send it again (a duplicate is then
 * possible and the storage writer drops it by id).
 *
 * Acks are the collector's input, not the sink's state: an ack that does not fit a batch's
 * state (a hop ack for a batch not on the wire) is ignored by the sink, not forced through.
 * A transition not drawn above is a bug in the sink and throws {@link BatchStateError}.
 */
import type { Batch } from '../../core/channel';
import { FlumeError } from '../../core/errors';

export type BatchState = 'QUEUED' | 'SENT' | 'HOP_ACKED' | 'ACKED' | 'FAILED' | 'DROPPED';

const LEGAL: Readonly<Record<BatchState, readonly BatchState[]>> = {
  QUEUED: ['SENT', 'ACKED', 'FAILED', 'DROPPED'],
  SENT: ['HOP_ACKED', 'QUEUED', 'ACKED', 'FAILED', 'DROPPED'],
  HOP_ACKED: ['QUEUED', 'ACKED', 'FAILED', 'DROPPED'],
  ACKED: [],
  FAILED: [],
  DROPPED: [],
};

export class BatchStateError extends FlumeError {
  constructor(
    readonly batch: string,
    readonly from: BatchState,
    readonly to: BatchState,
  ) {
    super(`batch ${batch} cannot go from ${from} to ${to}`);
  }
}

/** One appended batch and its promise; the only place its state changes. */
export class SinkBatch {
  private current: BatchState = 'QUEUED';
  /** When the hop ack came (HOP_ACKED only; 0 otherwise). */
  private hopAckedAt = 0;
  /** BE: dropped if no stream takes it by then (QUEUED only). */
  dropTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly batch: Batch,
    readonly key: string,
    private readonly resolve: () => void,
    private readonly reject: (err: Error) => void,
  ) {}

  get state(): BatchState {
    return this.current;
  }

  /** Written to the current stream and not let go of by its collector: counts against the window. */
  get onWire(): boolean {
    return this.current === 'SENT' || this.current === 'HOP_ACKED';
  }

  get settled(): boolean {
    return LEGAL[this.current].length === 0;
  }

  /** Since when it waits for its end-to-end ack (0 unless HOP_ACKED). */
  get hopAt(): number {
    return this.hopAckedAt;
  }

  send(): void {
    this.to('SENT');
    this.clearDropTimer();
  }

  hopAcked(now: number): void {
    this.to('HOP_ACKED');
    this.hopAckedAt = now;
  }

  /** Back to the queue, to go again on the next stream. */
  requeue(): void {
    this.to('QUEUED');
    this.hopAckedAt = 0;
  }

  acked(): void {
    this.to('ACKED');
    this.resolve();
  }

  failed(err: Error): void {
    this.to('FAILED');
    this.reject(err);
  }

  dropped(): void {
    this.to('DROPPED');
    this.resolve();
  }

  private to(next: BatchState): void {
    if (!LEGAL[this.current].includes(next)) {
      throw new BatchStateError(`${this.batch.origin}#${this.batch.seq}`, this.current, next);
    }
    this.current = next;
    if (LEGAL[next].length === 0) {
      this.hopAckedAt = 0;
      this.clearDropTimer();
    }
  }

  private clearDropTimer(): void {
    if (this.dropTimer) clearTimeout(this.dropTimer);
    this.dropTimer = undefined;
  }
}
