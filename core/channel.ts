/**
 * Channels: the buffer between a source and a sink.
 *
 * Every access goes through a {@link Transaction}:
 *
 *     const tx = channel.transaction();
 *     tx.begin();
 *     try { await tx.put(batch); await tx.commit(); } catch (e) { tx.rollback(); throw e; }
 *     finally { tx.close(); }
 *
 * Rules every channel keeps:
 * - A transaction belongs to one caller and runs one operation at a time; many transactions
 *   may be open on one channel at once (several producers, a consumer with batches in flight).
 * - Puts become visible to takers only when their transaction commits, in commit order, and a
 *   transaction's batches stay together and in order.
 * - `put` waits while the channel is full (backpressure); it never drops.
 * - A committed take removes its batches for good; a rolled-back take returns them to the head
 *   of the queue, ahead of everything else, in their original order.
 * - A durable channel's `commit` resolves only once the change is on disk.
 */
import { ChannelClosedError, TransactionStateError } from './errors';
import { type BatchHeader, parseBatchHeader } from './event';
import type { Lifecycle } from './lifecycle';
import type { KnownCrc } from './wal/format';

/** An encoded EventBatch with the header fields read once. `bytes` is what the wire carries. */
export interface Batch {
  readonly origin: string;
  readonly seq: number;
  readonly count: number;
  readonly bytes: Buffer;
  /**
   * The CRC32C of the batch's events and where they are in `bytes`, when known to be right:
   * computed by our encoder, or verified on receipt. A WAL combines its record CRC from it.
   */
  readonly eventsCrc?: KnownCrc;
}

/**
 * A batch a source built with our encoders: its header, checksum included, is taken as it is
 * (a collector passes the header `verifyBatch` checked).
 */
export function batchOf(bytes: Buffer, h: BatchHeader = parseBatchHeader(bytes)): Batch {
  const eventsCrc = h.eventsStart >= 0 ? { start: h.eventsStart, end: h.eventsEnd, crc: h.crc } : undefined;
  return { origin: h.origin, seq: h.seq, count: h.count, bytes, eventsCrc };
}

export interface ChannelStats {
  /** Batches and bytes committed and not yet taken-and-committed. */
  batches: number;
  bytes: number;
  capacityBytes: number;
  /** Batches taken by open transactions. */
  inFlight: number;
}

export interface Channel extends Lifecycle {
  readonly name: string;
  readonly durable: boolean;
  transaction(): Transaction;
  stats(): ChannelStats;
}

export type TransactionState = 'NEW' | 'OPEN' | 'COMMITTING' | 'COMMITTED' | 'ROLLED_BACK' | 'CLOSED';

export interface Transaction {
  readonly state: TransactionState;
  begin(): void;
  /** Stages a batch; waits while the channel is full. */
  put(batch: Batch): Promise<void>;
  /** Takes the next batch, waiting up to `waitMs` for one; null if none came. */
  take(waitMs?: number): Promise<Batch | null>;
  commit(): Promise<void>;
  rollback(): void;
  close(): void;
}

/**
 * The one state machine: NEW -begin-> OPEN -commit-> COMMITTING -> COMMITTED -close-> CLOSED,
 * OPEN -rollback-> ROLLED_BACK -close-> CLOSED. A failed commit leaves the transaction OPEN so
 * that the caller rolls it back. Subclasses implement the hooks; this class calls them only in
 * a legal state and one at a time.
 */
export abstract class BaseTransaction implements Transaction {
  private current: TransactionState = 'NEW';
  private busy = false;

  get state(): TransactionState {
    return this.current;
  }

  protected abstract doPut(batch: Batch): Promise<void>;
  protected abstract doTake(waitMs: number): Promise<Batch | null>;
  protected abstract doCommit(): Promise<void>;
  protected abstract doRollback(): void;
  protected doClose(): void {}

  begin(): void {
    this.expect('begin', 'NEW');
    this.current = 'OPEN';
  }

  async put(batch: Batch): Promise<void> {
    this.expect('put', 'OPEN');
    this.busy = true;
    try {
      await this.doPut(batch);
    } finally {
      this.busy = false;
    }
  }

  async take(waitMs = 0): Promise<Batch | null> {
    this.expect('take', 'OPEN');
    this.busy = true;
    try {
      return await this.doTake(waitMs);
    } finally {
      this.busy = false;
    }
  }

  async commit(): Promise<void> {
    this.expect('commit', 'OPEN');
    this.current = 'COMMITTING';
    try {
      await this.doCommit();
      this.current = 'COMMITTED';
    } catch (err) {
      this.current = 'OPEN';
      throw err;
    }
  }

  rollback(): void {
    this.expect('roll back', 'OPEN');
    this.current = 'ROLLED_BACK';
    this.doRollback();
  }

  close(): void {
    if (this.current === 'CLOSED') return;
    if (this.current === 'OPEN' || this.current === 'COMMITTING') {
      throw new TransactionStateError('close', this.current);
    }
    this.current = 'CLOSED';
    this.doClose();
  }

  private expect(operation: string, state: TransactionState): void {
    if (this.current !== state) throw new TransactionStateError(operation, this.current);
    if (this.busy) throw new TransactionStateError(operation, 'busy with another operation');
  }
}

/** Resolves waiters in turn; what a full or empty channel parks callers on. */
export class WaitQueue {
  private waiters: Array<() => void> = [];

  wait(timeoutMs = Infinity): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (): void => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(wake);
      if (timeoutMs !== Infinity) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(wake);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(false);
        }, timeoutMs);
      }
    });
  }

  wakeAll(): void {
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    this.waiters = [];
    for (const w of waiters) w();
  }

  get size(): number {
    return this.waiters.length;
  }
}

/** Runs `body` in one transaction: commit on success, rollback on failure, close always. */
export async function inTransaction<T>(channel: Channel, body: (tx: Transaction) => Promise<T>): Promise<T> {
  if (channel.state === 'STOPPED') throw new ChannelClosedError(channel.name);
  const tx = channel.transaction();
  tx.begin();
  try {
    const result = await body(tx);
    await tx.commit();
    return result;
  } catch (err) {
    if (tx.state === 'OPEN') tx.rollback();
    throw err;
  } finally {
    tx.close();
  }
}
