/**
 * A failure that repeats, logged as a handful of lines instead of one per attempt.
 *
 * A node whose master is down retries for as long as it runs; one warning a second made 605
 * lines in ten minutes. A `FailureStreak` sits beside the retry loop (the loop and its backoff
 * stay the caller's: core/retry.ts) and decides what is worth a line:
 *
 *   - the first failure, at once:     warn  "Master unreachable; retrying." error="..."
 *   - then summaries, at growing intervals (30 s, 1 min, 2 min, 4 min, then every 5 min):
 *                                     warn  "Master unreachable for 30 s, 12 attempts." error="..."
 *   - the recovery, once:             info  "Master reachable again after 95 s, 40 attempts."
 *
 * So ten minutes of failing is five lines, an hour fifteen. The summary carries the last error
 * (and says when it changed); callers pass fields that identify the target (`master=h:p`).
 * Nothing is logged for a success that ends no streak.
 *
 *     const streak = new FailureStreak(log, { failing: 'Master unreachable', recovered: 'Master reachable again' });
 *     try { await beat(); streak.succeeded({ master }); } catch (err) { streak.failed(err, { master }); }
 */
import type { Logger } from './logger';

export interface FailureStreakOptions {
  /** The state while failing, as the start of a sentence: "Master unreachable". */
  failing: string;
  /** The state once it works again: "Master reachable again". */
  recovered: string;
  /** When the first summary comes after the first failure; default 30 s. */
  firstSummaryMs?: number;
  /** The longest gap between summaries; default 5 min. */
  maxSummaryMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

const FAILURE_STREAK_DEFAULTS = { firstSummaryMs: 30_000, maxSummaryMs: 300_000 } as const;

export class FailureStreak {
  private readonly firstSummaryMs: number;
  private readonly maxSummaryMs: number;
  private readonly now: () => number;
  private since: number | undefined;
  private count = 0;
  private nextSummaryAt = 0;
  private gapMs = 0;
  private lastError = '';
  private reportedError = '';

  constructor(
    private readonly log: Logger,
    private readonly options: FailureStreakOptions,
  ) {
    this.firstSummaryMs = options.firstSummaryMs ?? FAILURE_STREAK_DEFAULTS.firstSummaryMs;
    this.maxSummaryMs = options.maxSummaryMs ?? FAILURE_STREAK_DEFAULTS.maxSummaryMs;
    this.now = options.now ?? Date.now;
  }

  /** Attempts that failed in the current streak (0: not failing). */
  get attempts(): number {
    return this.count;
  }

  /** How long the current streak has lasted, in ms (0: not failing). */
  get failingForMs(): number {
    return this.since === undefined ? 0 : this.now() - this.since;
  }

  /** Records a failed attempt; returns true if it wrote a line. */
  failed(err: unknown, fields: Record<string, unknown> = {}): boolean {
    const now = this.now();
    this.count++;
    this.lastError = err instanceof Error ? err.message : String(err);
    if (this.since === undefined) {
      this.since = now;
      this.gapMs = this.firstSummaryMs;
      this.nextSummaryAt = now + this.gapMs;
      this.reportedError = this.lastError;
      this.log.warn(`${this.options.failing}; retrying.`, { ...fields, error: this.lastError });
      return true;
    }
    if (now < this.nextSummaryAt) return false;
    const changed = this.lastError !== this.reportedError;
    this.reportedError = this.lastError;
    this.log.warn(`${this.options.failing} for ${duration(now - this.since)}, ${this.count} attempts.`, {
      ...fields,
      error: this.lastError,
      ...(changed ? { errorChanged: true } : {}),
    });
    this.gapMs = Math.min(this.maxSummaryMs, this.gapMs * 2);
    this.nextSummaryAt = now + this.gapMs;
    return true;
  }

  /** Records a success; ends the streak with one line if there was one. Returns true if it wrote a line. */
  succeeded(fields: Record<string, unknown> = {}): boolean {
    if (this.since === undefined) return false;
    this.log.info(`${this.options.recovered} after ${duration(this.now() - this.since)}, ${this.count} failed attempts.`, fields);
    this.since = undefined;
    this.count = 0;
    return true;
  }
}

/** "45 s", "3 min 5 s", "2 h 10 min": what a person reads in a log line. */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? `${m} min` : `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`;
}
