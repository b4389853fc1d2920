/**
 * An agent sink's link to its collectors, as an operator sees it: said at the default level once
 * per outage, not once per retry (core/failure-streak), and shown in the node's /status.
 *
 *   warn "No collector answers; batches wait in the channel; retrying."  collector=... backlogEvents=... backlogBytes=...
 *   warn "No collector answers; batches wait in the channel for 30 s, 14 attempts."   (summaries, growing apart)
 *   info "Collector answers again after 42 s, 17 failed attempts."  collector=... backlogBatches=...
 *
 * - An outage starts with the first connect that fails or the first stream that is lost, and
 *   ends when a collector acks a batch, or when an idle stream has stayed up for
 *   {@link LINK_STABLE_MS}: a collector that accepts a stream and drops it at once (or answers
 *   only RETRY) has not come back.
 * - The backlog is the logical node's channel (`ctx.node`, node/logical-node.ts): what waits for
 *   the collectors, not only the sink's own window.
 */
import type { NodeView } from '../../core/component';
import { FailureStreak } from '../../core/failure-streak';
import type { Logger } from '../../core/logger';

/** A stream up this long without an ack (nothing to send) counts as a collector that is back. */
const LINK_STABLE_MS = 1_000;

/** What /status shows of the sink's link to its collectors. */
export interface SinkLinkStatus {
  state: 'connected' | 'connecting' | 'down';
  /** The collector streamed to now, or the one tried last. */
  collector: string | null;
  /** How long no collector has answered (0 unless down). */
  downForMs: number;
  failedAttempts: number;
  /** Batches appended to the sink and not yet acked (waiting, or on the wire). */
  unackedBatches: number;
  backlog?: ReturnType<NodeView['backlog']>;
}

export class CollectorLink {
  private readonly streak: FailureStreak;
  /** When the current stream became ready (0: none is). */
  private readySince = 0;

  constructor(
    logger: Logger,
    private readonly node: NodeView | undefined,
  ) {
    this.streak = new FailureStreak(logger, {
      failing: 'No collector answers; batches wait in the channel',
      recovered: 'Collector answers again',
    });
  }

  /** A stream is ready to send on. */
  ready(now = Date.now()): void {
    this.readySince = now;
  }

  /** A connect failed or the stream was lost: a line at the first failure of an outage only. */
  failed(error: string, collector: string | undefined, unacked: number): void {
    this.readySince = 0;
    const fields: Record<string, unknown> = { collector: collector ?? '', unacked };
    const backlog = this.node?.backlog();
    if (backlog) {
      if (backlog.events !== undefined) fields.backlogEvents = backlog.events;
      fields.backlogBatches = backlog.batches;
      fields.backlogBytes = backlog.bytes;
    }
    this.streak.failed(new Error(error), fields);
  }

  /** A collector acked a batch: the outage, if any, is over. Cheap when there is none (per ack). */
  acked(collector: string | undefined): void {
    if (this.streak.attempts === 0) return;
    const backlog = this.node?.backlog();
    this.streak.succeeded({
      collector: collector ?? '',
      ...(backlog ? { backlogBatches: backlog.batches, backlogBytes: backlog.bytes } : {}),
    });
  }

  /** Periodic, while a stream is ready: one that has stayed up long enough ends the outage. */
  tick(collector: string | undefined, now = Date.now()): void {
    if (this.readySince > 0 && now - this.readySince >= LINK_STABLE_MS) this.acked(collector);
  }

  status(ready: boolean, collector: string | undefined, unacked: number): SinkLinkStatus {
    const backlog = this.node?.backlog();
    return {
      state: ready ? 'connected' : this.streak.attempts > 0 ? 'down' : 'connecting',
      collector: collector ?? null,
      downForMs: this.streak.failingForMs,
      failedAttempts: this.streak.attempts,
      unackedBatches: unacked,
      ...(backlog ? { backlog } : {}),
    };
  }
}
