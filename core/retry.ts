/**
 * The one backoff and retry helper. Every loop that tries something again after a failure
 * (reconnecting, re-sending, re-opening, polling a master) takes its delays from here, so that
 * many agents failing at once do not come back in lockstep and no loop hammers a peer that is
 * down. Which errors are worth another try is not decided here: that is `isRetriable` in
 * core/errors.ts (the default of `retry`), or the caller's own predicate.
 *
 * Two shapes, for the two kinds of loop:
 * - `retry(fn, options)`: runs `fn` until it resolves, the error is not retriable, the attempts
 *   or the deadline are used up, or the caller stops it (`signal` aborted, `stop()` true). It then
 *   rethrows the last error (or the abort reason).
 * - `Backoff`: the delays alone, for a loop that owns its own control flow (a connection loop,
 *   a worker that must put a batch back first, a "retry at" time): `next()` after each failure,
 *   `reset()` after a success.
 *
 *     // A reconnect loop that owns its control flow:
 *     const backoff = new Backoff({ initialMs: 100, maxMs: 5_000 });
 *     while (!closing) {
 *       if (await connect()) { backoff.reset(); await streamEnded(); continue; }
 *       await pause(backoff.next(), abort.signal); // an abort ends the wait, not the loop
 *     }
 *
 *     // One call, tried again while `isRetriable` says so, for at most 30 s:
 *     const reply = await retry(() => client.getConfig(), { deadlineMs: 30_000, signal });
 *
 * Delays grow from `initialMs` by `factor` per failure up to `maxMs`, randomised by `jitter`:
 * - `full` (default): uniform in [0, min(maxMs, initialMs × factor^n)]. Spreads retries widest;
 *   the first may come at once. Good for reconnect loops.
 * - `decorrelated`: `initialMs` first, then uniform in [initialMs, previous × 3], capped at
 *   `maxMs` (AWS's "decorrelated jitter"). Never shorter than `initialMs`: good for a "rest
 *   before trying again" or a polling loop that should not ask again at once.
 * - `none`: the exponential ceiling itself (tests, or a caller that must be predictable).
 */
import { isRetriable } from './errors';

type Jitter = 'full' | 'decorrelated' | 'none';

export interface BackoffOptions {
  /** The first delay's ceiling (`full`), or floor (`decorrelated`). Default 100. */
  initialMs: number;
  /** No delay is longer than this. Default 10 000. */
  maxMs: number;
  /** Growth per failure (`full`, `none`). Default 2. */
  factor: number;
  /** Default `full`. */
  jitter: Jitter;
}

const BACKOFF_DEFAULTS: BackoffOptions = { initialMs: 100, maxMs: 10_000, factor: 2, jitter: 'full' };

/** Delays for one loop: `next()` after each failure, `reset()` after a success. */
export class Backoff {
  private readonly opts: BackoffOptions;
  private n = 0;
  private previous = 0;

  constructor(options: Partial<BackoffOptions> = {}) {
    this.opts = { ...BACKOFF_DEFAULTS, ...options };
    if (!(this.opts.initialMs >= 0 && this.opts.maxMs >= 0 && this.opts.factor >= 1)) {
      throw new RangeError(`bad backoff: initialMs ${this.opts.initialMs}, maxMs ${this.opts.maxMs}, factor ${this.opts.factor}`);
    }
  }

  /** Failures since the last `reset`. */
  get failures(): number {
    return this.n;
  }

  /** The delay to wait after one more failure, in ms. */
  next(): number {
    const { initialMs, maxMs, factor, jitter } = this.opts;
    let delay: number;
    if (jitter === 'decorrelated') {
      const low = Math.min(initialMs, maxMs);
      const high = Math.min(maxMs, Math.max(low, this.previous * 3));
      delay = low + Math.random() * (high - low);
    } else {
      // factor ** n overflows to Infinity after ~1000 failures; min() still caps it.
      const ceiling = Math.min(maxMs, initialMs * factor ** this.n);
      delay = jitter === 'full' ? Math.random() * ceiling : ceiling;
    }
    this.n++;
    this.previous = delay;
    return delay;
  }

  reset(): void {
    this.n = 0;
    this.previous = 0;
  }
}

export interface RetryOptions extends BackoffOptions {
  /** Calls of `fn` at most, the first included (default Infinity: no limit). */
  attempts: number;
  /** Give up once this long has passed since the first call (default Infinity); no sleep outlasts it. */
  deadlineMs: number;
  /** Whether an error is worth another try. Default `isRetriable` (core/errors.ts). */
  retriable: (err: unknown) => boolean;
  /** Aborting it ends a sleep at once; `retry` then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Checked before each retry: true ends the loop with the last error (a `closing` flag). */
  stop?: () => boolean;
  /** Told before each sleep: the error, the number of the attempt to come (from 2), the delay. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

const RETRY_DEFAULTS: RetryOptions = {
  ...BACKOFF_DEFAULTS,
  attempts: Infinity,
  deadlineMs: Infinity,
  retriable: isRetriable,
};

/** Runs `fn(attempt)` (attempt from 1) until it resolves or the options say to give up; see the header. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: Partial<RetryOptions> = {}): Promise<T> {
  const opts = { ...RETRY_DEFAULTS, ...options };
  const backoff = new Backoff(opts);
  const deadline = Date.now() + opts.deadlineMs;
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= opts.attempts || !opts.retriable(err) || opts.stop?.()) throw err;
      const left = deadline - Date.now();
      if (left <= 0) throw err;
      const delay = Math.min(backoff.next(), left);
      opts.onRetry?.(err, attempt + 1, delay);
      await sleep(delay, opts.signal);
      if (opts.stop?.()) throw err;
    }
  }
}

/** Resolves after `ms`; rejects with the signal's reason as soon as `signal` aborts. */
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

/** Like `sleep`, but an abort ends it early without an error (a loop that checks its own flag next). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return sleep(ms, signal).catch(() => undefined);
}

/** Waits for `p` until `deadline` (ms since the epoch); false if the deadline came first. */
export async function withDeadline(p: Promise<unknown>, deadline: number): Promise<boolean> {
  const ms = deadline - Date.now();
  if (ms === Infinity) {
    await p;
    return true;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
