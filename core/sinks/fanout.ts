/**
 * `[ a, b, ... ]`: every sink gets every batch. An append resolves once every branch has it and
 * rejects if any branch failed; the driver then retries the whole batch, so a branch that had
 * succeeded sees it twice (as in Flume OG; storage writers drop batch ids they already wrote).
 */
import type { Batch } from '../channel';
import type { Sink } from '../component';

export class FanOutSink implements Sink {
  constructor(readonly sinks: readonly Sink[]) {}

  /** The narrowest branch's window (read after open: a branch's may depend on it). */
  get window(): number {
    return Math.min(...this.sinks.map((s) => s.window ?? 1));
  }

  async open(): Promise<void> {
    await settleAll(this.sinks.map((s) => s.open()));
  }

  async append(batch: Batch): Promise<void> {
    await settleAll(this.sinks.map((s) => s.append(batch)));
  }

  async flush(): Promise<void> {
    await settleAll(this.sinks.map((s) => (s.flush ? s.flush() : Promise.resolve())));
  }

  async close(): Promise<void> {
    await settleAll(this.sinks.map((s) => s.close()));
  }
}

/** Waits for every promise (never leaving one running), then throws the first failure. */
async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
