/**
 * End-to-end acks on the collector: which stream is owed the END_TO_END ack of which batch, and
 * what to answer an agent that asks which of its batches are stored.
 *
 * DESIGN – E2E acks that survive the loss of the connection they were due on.
 *
 * 1. An agent in E2E mode says so in its hello. For each batch such a stream carries, the
 *    collector records `origin#seq → stream` ({@link EndToEndAcks.expect}) before it commits the
 *    batch to its channel; DFO/BE streams record nothing (their agents never ask), so a DFO
 *    batch resent after a lost hop ack is put again and left to the writer's dedup.
 * 2. When the storage writer has made a batch durable it calls `CollectorServer.ackEndToEnd`
 *    (→ {@link EndToEndAcks.stored}). If the stream that carried the batch is still open the
 *    END_TO_END ack goes out on it. Either way the id moves to a bounded "recently stored"
 *    memory (FIFO, `rememberStored` ids), because an ack written to a dying socket may never
 *    arrive.
 * 3. When a stream dies, its pending entries stay, unbound. An agent that reconnects (to this
 *    collector or another) first calls `Stored(origin, seqs)` with the seqs of its unacked
 *    batches; the collector answers from its recently-stored memory and, when the storage writer
 *    gives one (`isStored`), from the writer's durable per-origin index of stored ids — that is
 *    what answers after a collector restart, or on another collector writing the same storage.
 *    The agent resolves what is stored and resends the rest, in order.
 * 4. A resent batch that is still pending here (committed to the channel, not yet stored) is
 *    not put again: the collector rebinds its entry to the new stream and hop-acks it, so the
 *    END_TO_END ack follows the agent to its new stream and the channel holds no duplicate. A
 *    resent batch already in recently-stored memory is acked HOP and END_TO_END at once. A
 *    batch pending for longer than `pendingDedupMs` is put again when resent: the agent resends
 *    after its own E2E timeout because something between channel and storage lost it (a
 *    writer that failed it), and only a new copy can get it stored.
 * 5. Collectors writing the same storage share what it holds: each writer keeps its index of
 *    stored ids, and its journal of batches written but not yet synced, in the storage
 *    (`.flume/` under the storage root; collector/writers/stored-index.ts), and reads the
 *    others'. So after a collector is killed, the collector the agent fails over to answers
 *    `Stored` for what the dead one held and drops (and acks) a resend of it; and the dead one,
 *    restarted, drops the batches its channel replays that another collector has written since.
 * 6. A batch the writer can never store goes to the node's dead-letter store
 *    (core/dead-letter.ts) and its END_TO_END ack is REJECTED (`stored` with a reason): the agent
 *    stops resending it. For `Stored` it then counts as settled (the dead-letter store is one of
 *    the ledger's indexes), so an agent that reconnects does not resend it either.
 * 7. What escapes this: a collector killed after its hop ack with a memory channel (its batches
 *    are resent and written once, elsewhere); a batch two live collectors write within the same
 *    few milliseconds (an agent that gave up on a slow but live collector, or a killed collector
 *    restarted before its agents finished failing over), which can be stored twice; a collector
 *    killed mid-write whose machine never comes back, whose journaled batch the others take as
 *    held. Writers drop a batch id they already hold, so everything else costs bandwidth, never
 *    a duplicate in storage.
 *
 * Memory: pending entries are bounded by what the channel and the writer hold (one per batch);
 * the stored memory by `rememberStored`.
 */
import { batchKey } from '../../core/grpc/append';

/** Where an END_TO_END ack is sent: an open Append stream. */
export interface AckTarget {
  /** Sends the ack (REJECTED with `rejected` as its reason when given); false when the stream is gone. */
  sendEndToEnd(origin: string, seq: number, rejected?: string): boolean;
}

interface Pending {
  target: AckTarget | null;
  since: number;
}

export type E2EState = 'pending' | 'stored' | 'unknown';

export class EndToEndAcks {
  private readonly pending = new Map<string, Pending>();
  /** Recently stored ids, oldest first. */
  private readonly recent = new Set<string>();

  constructor(
    private readonly rememberStored: number,
    private readonly pendingDedupMs: number,
  ) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  state(origin: string, seq: number): E2EState {
    const key = batchKey(origin, seq);
    const p = this.pending.get(key);
    if (p && Date.now() - p.since < this.pendingDedupMs) return 'pending';
    if (this.recent.has(key)) return 'stored';
    return 'unknown';
  }

  /** Records that `target` is owed the END_TO_END ack of a batch about to be committed (again). */
  expect(origin: string, seq: number, target: AckTarget): void {
    this.pending.set(batchKey(origin, seq), { target, since: Date.now() });
  }

  /** The commit failed: nobody is owed anything. */
  forget(origin: string, seq: number): void {
    this.pending.delete(batchKey(origin, seq));
  }

  /** A pending batch was resent on another stream: the ack now goes there. */
  rebind(origin: string, seq: number, target: AckTarget): void {
    const p = this.pending.get(batchKey(origin, seq));
    if (p) p.target = target;
  }

  /** The stream died: its pending entries wait for a `Stored` query or a resend. */
  unbind(target: AckTarget, keys: Iterable<string>): void {
    for (const key of keys) {
      const p = this.pending.get(key);
      if (p && p.target === target) p.target = null;
    }
  }

  /**
   * The storage writer made the batch durable. Returns true if an ack went out on a stream.
   * Batches nobody asked an end-to-end ack for are ignored.
   */
  stored(origin: string, seq: number, rejected?: string): boolean {
    const key = batchKey(origin, seq);
    const p = this.pending.get(key);
    if (!p) return false;
    this.pending.delete(key);
    this.recent.add(key);
    if (this.recent.size > this.rememberStored) {
      const oldest = this.recent.values().next().value as string;
      this.recent.delete(oldest);
    }
    return p.target ? p.target.sendEndToEnd(origin, seq, rejected) : false;
  }

  /** The subset of `seqs` known stored here (the `Stored` RPC adds the writer's index). */
  query(origin: string, seqs: readonly number[]): number[] {
    return seqs.filter((s) => this.recent.has(batchKey(origin, s)));
  }
}
