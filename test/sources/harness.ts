/**
 * Runs a Source against a real MemoryChannel and collects what comes out the far end.
 *
 *   const h = await SourceHarness.start((ctx) => new SyslogTcpSource(ctx, { port: 0 }));
 *   ... drive the source ...
 *   await h.waitForEvents(10);
 *   await h.stop();
 *
 * The SourceOutput adapter puts each batch in its own transaction (what the node driver does);
 * a consumer loop takes, decodes, and commits. `counters` records every counter the source adds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { batchOf, inTransaction } from '../../core/channel';
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import { type Event, decodeEvents, verifyBatch } from '../../core/event';
import { silentLogger } from '../../core/logger';
import { MemoryChannel } from '../../core/memory-channel';

export class MapCounters {
  readonly values = new Map<string, number>();
  add(name: string, value = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + value);
  }
  get(name: string): number {
    return this.values.get(name) ?? 0;
  }
}

export interface HarnessOptions {
  /** Reuse a data dir (restart tests); a fresh temp dir otherwise, removed by `cleanup()`. */
  dataDir?: string;
  capacityBytes?: number;
  /** Decode events (off for benchmarks: only count them). */
  decode?: boolean;
  origin?: string;
  /** First sequence number handed out (restarts continue where the previous run stopped). */
  firstSeq?: number;
  /** A slow consumer: wait this long after each batch taken (backpressure tests). */
  takeDelayMs?: number;
}

export class SourceHarness<S extends Source = Source> {
  readonly events: Event[] = [];
  eventCount = 0;
  batchCount = 0;
  readonly seqs: number[] = [];
  private consuming: Promise<void> = Promise.resolve();
  private stopped = false;
  private seq: number;

  private constructor(
    readonly source: S,
    readonly channel: MemoryChannel,
    readonly ctx: ComponentContext & { counters: MapCounters },
    private readonly opts: HarnessOptions,
    private readonly ownDataDir: boolean,
  ) {
    this.seq = opts.firstSeq ?? 1;
  }

  static async start<S extends Source>(
    make: (ctx: ComponentContext & { counters: MapCounters }) => S,
    opts: HarnessOptions = {},
  ): Promise<SourceHarness<S>> {
    const ownDataDir = opts.dataDir === undefined;
    const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'flume-src-'));
    const ctx = {
      logger: silentLogger(),
      logicalNode: opts.origin ?? 'test-node',
      physicalNode: 'test-physical',
      host: 'test-host',
      dataDir,
      counters: new MapCounters(),
    };
    const channel = new MemoryChannel('test', { capacityBytes: opts.capacityBytes ?? 64 * 1024 * 1024 });
    const h = new SourceHarness(make(ctx), channel, ctx, opts, ownDataDir);
    h.consuming = h.consume();
    try {
      await h.source.open(h.output());
    } catch (err) {
      h.stopped = true;
      await h.consuming;
      await channel.stop();
      if (ownDataDir) fs.rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
    return h;
  }

  get dataDir(): string {
    return this.ctx.dataDir;
  }

  get nextSeq(): number {
    return this.seq;
  }

  output(): SourceOutput {
    return {
      origin: this.ctx.logicalNode,
      nextSeq: () => this.seq++,
      put: (bytes) => inTransaction(this.channel, (tx) => tx.put(batchOf(bytes))),
    };
  }

  private async consume(): Promise<void> {
    const decode = this.opts.decode ?? true;
    while (!this.stopped || this.channel.stats().batches > 0) {
      await inTransaction(this.channel, async (tx) => {
        const batch = await tx.take(50);
        if (!batch) return;
        this.batchCount++;
        this.eventCount += batch.count;
        this.seqs.push(batch.seq);
        if (decode) {
          verifyBatch(batch.bytes);
          this.events.push(...decodeEvents(batch.bytes));
        }
        if (this.opts.takeDelayMs) await new Promise((r) => setTimeout(r, this.opts.takeDelayMs));
      });
    }
  }

  bodies(): string[] {
    return this.events.map((e) => e.body.toString());
  }

  /** Polls until `cond` holds; fails with `what` after `timeoutMs`. */
  async waitFor(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    await waitUntil(cond, what, timeoutMs);
  }

  async waitForEvents(n: number, timeoutMs = 20_000): Promise<void> {
    await waitUntil(() => this.eventCount >= n, `${n} events (have ${this.eventCount})`, timeoutMs);
  }

  /** Closes the source, drains the channel into `events`, stops the consumer. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.source.close();
    this.stopped = true;
    await this.consuming;
    await this.channel.stop();
  }

  /** Stops the source if a failed test left it running, and removes an own temp data dir. */
  async cleanup(): Promise<void> {
    await this.stop();
    if (this.ownDataDir) fs.rmSync(this.ctx.dataDir, { recursive: true, force: true });
  }
}

export async function waitUntil(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function tempDir(prefix = 'flume-src-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
