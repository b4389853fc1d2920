/**
 * A logical node's use of its dead-letter store (core/dead-letter.ts has the contract): the
 * worker hands it a batch that failed for good; it makes the batch durable there, counts it,
 * logs it once and tells the ledger, whose collector source then acks it end to end as
 * REJECTED. It also puts back into the channel what `flume-node deadletter replay` asked for,
 * and makes what it holds count as settled for an agent's `Stored` query, so a reconnecting
 * agent does not resend it.
 */
import { type Batch, type Channel, inTransaction } from '../core/channel';
import { DeadLetterStore } from '../core/dead-letter';
import type { Logger } from '../core/logger';
import { type CounterSet, DEAD_LETTER_BATCHES, DEAD_LETTER_EVENTS } from '../core/metrics';
import type { NodeLedger } from './ledger';

/** How often a node looks for dead-lettered batches an operator asked to replay. */
const REPLAY_POLL_MS = 2_000;

export class NodeDeadLetters {
  private readonly store: DeadLetterStore;
  private readonly removeIndex: () => void;
  private readonly timer: NodeJS.Timeout;
  private replaying = false;

  constructor(
    dir: string,
    private readonly channel: Channel,
    private readonly ledger: NodeLedger,
    private readonly counters: CounterSet,
    private readonly log: Logger,
  ) {
    const store = new DeadLetterStore(dir);
    this.store = store;
    this.removeIndex = ledger.addIndex(async (origin, seqs) => seqs.filter((s) => store.has(origin, s)));
    this.timer = setInterval(() => void this.replay(), REPLAY_POLL_MS).unref();
    void this.replay();
  }

  /** Makes the batch durable in the store; false if even that failed (the caller retries then). */
  async quarantine(batch: Batch, err: unknown): Promise<boolean> {
    const reason = err instanceof Error ? err.message : String(err);
    try {
      await this.store.put(batch, reason);
    } catch (putErr) {
      this.log.error('could not quarantine a batch; it goes back to the channel', {
        batch: `${batch.origin}#${batch.seq}`,
        error: String(putErr),
      });
      return false;
    }
    this.counters.add(DEAD_LETTER_BATCHES);
    this.counters.add(DEAD_LETTER_EVENTS, batch.count);
    this.log.error('A batch that can never be delivered went to the dead-letter store; the flow goes on.', {
      batch: `${batch.origin}#${batch.seq}`,
      events: batch.count,
      reason,
      store: this.store.dir,
    });
    this.ledger.rejected(batch.origin, batch.seq, reason);
    return true;
  }

  close(): void {
    clearInterval(this.timer);
    this.removeIndex();
  }

  /** Puts back into the channel what `flume-node deadletter replay` asked for. */
  private async replay(): Promise<void> {
    if (this.replaying) return;
    this.replaying = true;
    try {
      for (const { letter, batch } of this.store.replays()) {
        await inTransaction(this.channel, (tx) => tx.put(batch));
        this.store.replayed(letter.id);
        this.log.info('A dead-lettered batch is back in the channel.', { batch: `${letter.origin}#${letter.seq}`, events: letter.events });
      }
    } catch (err) {
      this.log.warn('replaying dead-lettered batches failed; trying again later', { error: String(err) });
    } finally {
      this.replaying = false;
    }
  }
}
