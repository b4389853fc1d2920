/**
 * `< primary ? backup >`: appends to the primary; when it fails, the batch goes to the backup
 * and the primary rests for a backoff (growing while it keeps failing, capped; decorrelated
 * jitter, see core/retry.ts, so never shorter than `initialBackoffMs`), after which the next
 * batch tries it again. If the backup fails too, the append fails and the driver retries.
 */
import type { Batch } from '../channel';
import type { ComponentContext, Sink } from '../component';
import { ERRORS, SINK_BATCHES_RETRIED } from '../metrics';
import { Backoff } from '../retry';

export interface FailoverOptions {
  initialBackoffMs: number;
  maxBackoffMs: number;
}

const FAILOVER_DEFAULTS: FailoverOptions = { initialBackoffMs: 1000, maxBackoffMs: 60_000 };

export class FailoverSink implements Sink {
  private primaryOpen = false;
  private readonly backoff: Backoff;
  private retryAt = 0;
  constructor(
    readonly primary: Sink,
    readonly backup: Sink,
    private readonly ctx: ComponentContext,
    options: FailoverOptions = FAILOVER_DEFAULTS,
  ) {
    this.backoff = new Backoff({ initialMs: options.initialBackoffMs, maxMs: options.maxBackoffMs, jitter: 'decorrelated' });
  }

  get window(): number {
    return Math.min(this.primary.window ?? 1, this.backup.window ?? 1);
  }

  /** True while the primary is resting after a failure. */
  get primaryDown(): boolean {
    return Date.now() < this.retryAt;
  }

  async open(): Promise<void> {
    await this.backup.open();
    try {
      await this.primary.open();
      this.primaryOpen = true;
    } catch (err) {
      this.markDown(err, 'open');
    }
  }

  async append(batch: Batch): Promise<void> {
    if (!this.primaryDown) {
      try {
        if (!this.primaryOpen) {
          await this.primary.open();
          this.primaryOpen = true;
        }
        await this.primary.append(batch);
        this.backoff.reset();
        return;
      } catch (err) {
        this.markDown(err, 'append');
      }
    }
    await this.backup.append(batch);
  }

  async flush(): Promise<void> {
    if (this.primaryOpen) await this.primary.flush?.();
    await this.backup.flush?.();
  }

  async close(): Promise<void> {
    const closing = [this.backup.close()];
    if (this.primaryOpen) closing.push(this.primary.close());
    this.primaryOpen = false;
    const results = await Promise.allSettled(closing);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  private markDown(err: unknown, during: string): void {
    const delay = Math.round(this.backoff.next());
    this.retryAt = Date.now() + delay;
    this.ctx.counters.add(ERRORS);
    this.ctx.counters.add(SINK_BATCHES_RETRIED);
    this.ctx.logger.warn('primary sink failed; using the backup', { during, backoffMs: delay, error: String(err) });
  }
}
