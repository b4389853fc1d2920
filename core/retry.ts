/** Exponential backoff with full jitter and a cap; which errors to retry is `isRetriable`'s call. */
import { isRetriable } from './errors';

export interface RetryOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** Give up after this many attempts (Infinity: never). */
  attempts: number;
  retriable: (err: unknown) => boolean;
  signal?: AbortSignal;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

export const RETRY_DEFAULTS: RetryOptions = {
  initialMs: 100,
  maxMs: 10_000,
  factor: 2,
  attempts: Infinity,
  retriable: isRetriable,
};

export function backoffMs(attempt: number, opts: Pick<RetryOptions, 'initialMs' | 'maxMs' | 'factor'>): number {
  const ceiling = Math.min(opts.maxMs, opts.initialMs * opts.factor ** attempt);
  return Math.random() * ceiling;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort(): void {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, options: Partial<RetryOptions> = {}): Promise<T> {
  const opts = { ...RETRY_DEFAULTS, ...options };
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt + 1 >= opts.attempts || !opts.retriable(err) || opts.signal?.aborted) throw err;
      const delay = backoffMs(attempt, opts);
      opts.onRetry?.(err, attempt + 1, delay);
      await sleep(delay, opts.signal);
    }
  }
}
