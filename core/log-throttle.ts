/**
 * A line about something that can happen without bound (input refused, connections closed by a
 * limit), logged the first time at once and then at most once every `quietMs`, with how many
 * times it happened since the last line: every one is counted, and a flood is a line per 10 s.
 * (A failure that repeats until it ends, with its own summaries and a recovery line, is
 * core/failure-streak.ts's.)
 *
 *     const closed = new LogThrottle();
 *     ...
 *     const since = closed.count();
 *     if (since > 0) logger.warn('Closed a connection that broke the protocol.', { peer, closedSinceLastLine: since });
 *
 * The line carries the fields of the occurrence that made it (the peer above); the ones counted
 * in between are known only by their number.
 */

/** The quiet time between two lines about one thing, unless the caller says otherwise. */
const LOG_QUIET_MS = 10_000;

export class LogThrottle {
  private since = 0;
  private lastLine: number | undefined;

  constructor(
    private readonly quietMs = LOG_QUIET_MS,
    /** The clock (tests). */
    private readonly now: () => number = () => Date.now(),
  ) {}

  /**
   * Counts one occurrence. Returns, if a line is due now, the number of occurrences it reports
   * (this one and those since the last line), else 0.
   */
  count(): number {
    this.since++;
    const now = this.now();
    if (this.lastLine !== undefined && now - this.lastLine < this.quietMs) return 0;
    this.lastLine = now;
    const since = this.since;
    this.since = 0;
    return since;
  }
}
