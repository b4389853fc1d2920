/**
 * The memory channel: bounded by bytes, fast, lost on crash. For best-effort flows and for the
 * queue between a source and its sink inside one process.
 */
import { batchPool } from './buffer-pool';
import { BaseTransaction, type Batch, type Channel, type ChannelStats, type Transaction, WaitQueue } from './channel';
import { Deque } from './deque';
import { BatchTooLargeError, ChannelClosedError } from './errors';
import type { LifecycleState } from './lifecycle';

export interface MemoryChannelOptions {
  capacityBytes: number;
}

export const MEMORY_CHANNEL_DEFAULTS: MemoryChannelOptions = { capacityBytes: 64 * 1024 * 1024 };

export class MemoryChannel implements Channel {
  readonly durable = false;
  readonly capacityBytes: number;
  private lifecycle: LifecycleState = 'RUNNING';
  private readonly queue = new Deque<Batch>();
  /** Bytes committed or reserved by puts in progress, and not yet released by a take commit. */
  private usedBytes = 0;
  private queuedBytes = 0;
  private inFlight = 0;
  private readonly notFull = new WaitQueue();
  private readonly notEmpty = new WaitQueue();

  constructor(
    readonly name: string,
    options: Partial<MemoryChannelOptions> = {},
  ) {
    this.capacityBytes = options.capacityBytes ?? MEMORY_CHANNEL_DEFAULTS.capacityBytes;
  }

  get state(): LifecycleState {
    return this.lifecycle;
  }

  async start(): Promise<void> {
    this.lifecycle = 'RUNNING';
  }

  async stop(): Promise<void> {
    this.lifecycle = 'STOPPED';
    this.notFull.wakeAll();
    this.notEmpty.wakeAll();
  }

  transaction(): Transaction {
    return new MemoryTransaction(this);
  }

  stats(): ChannelStats {
    return { batches: this.queue.length, bytes: this.queuedBytes, capacityBytes: this.capacityBytes, inFlight: this.inFlight };
  }

  /** @internal */
  async reserve(bytes: number): Promise<void> {
    if (bytes > this.capacityBytes) throw new BatchTooLargeError(this.name, bytes, this.capacityBytes);
    while (this.usedBytes + bytes > this.capacityBytes) {
      if (this.lifecycle === 'STOPPED') throw new ChannelClosedError(this.name);
      await this.notFull.wait();
    }
    if (this.lifecycle === 'STOPPED') throw new ChannelClosedError(this.name);
    this.usedBytes += bytes;
  }

  /** @internal */
  release(bytes: number): void {
    this.usedBytes -= bytes;
    this.notFull.wakeAll();
  }

  /** @internal */
  publish(batches: Batch[]): void {
    for (const b of batches) {
      this.queue.push(b);
      this.queuedBytes += b.bytes.length;
    }
    this.notEmpty.wakeAll();
  }

  /** @internal */
  async next(waitMs: number): Promise<Batch | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const batch = this.queue.shift();
      if (batch) {
        this.queuedBytes -= batch.bytes.length;
        this.inFlight++;
        return batch;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.lifecycle === 'STOPPED') return null;
      await this.notEmpty.wait(left);
    }
  }

  /** @internal */
  settle(batches: Batch[], committed: boolean): void {
    this.inFlight -= batches.length;
    if (committed) {
      let bytes = 0;
      for (const b of batches) {
        bytes += b.bytes.length;
        batchPool.give(b.bytes);
      }
      this.release(bytes);
      return;
    }
    for (let i = batches.length - 1; i >= 0; i--) {
      this.queue.unshift(batches[i]);
      this.queuedBytes += batches[i].bytes.length;
    }
    this.notEmpty.wakeAll();
  }
}

class MemoryTransaction extends BaseTransaction {
  private puts: Batch[] = [];
  private putBytes = 0;
  private takes: Batch[] = [];

  constructor(private readonly channel: MemoryChannel) {
    super();
  }

  protected async doPut(batch: Batch): Promise<void> {
    await this.channel.reserve(batch.bytes.length);
    this.puts.push(batch);
    this.putBytes += batch.bytes.length;
  }

  protected async doTake(waitMs: number): Promise<Batch | null> {
    const batch = await this.channel.next(waitMs);
    if (batch) this.takes.push(batch);
    return batch;
  }

  protected async doCommit(): Promise<void> {
    if (this.puts.length > 0) this.channel.publish(this.puts);
    if (this.takes.length > 0) this.channel.settle(this.takes, true);
    this.puts = [];
    this.putBytes = 0;
    this.takes = [];
  }

  protected doRollback(): void {
    if (this.putBytes > 0) this.channel.release(this.putBytes);
    if (this.takes.length > 0) this.channel.settle(this.takes, false);
    this.puts = [];
    this.putBytes = 0;
    this.takes = [];
  }
}
