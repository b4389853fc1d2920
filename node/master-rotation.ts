/**
 * Which master node/master-client tries next after a stream broke or never answered, and how
 * long it waits before opening it.
 *
 *     const rotation = new MasterRotation(['m1:35873', 'm2:35873', 'm3:35873']);
 *     open(rotation.current);
 *     // the stream broke:
 *     setTimeout(() => open(rotation.current), rotation.failed(reason, wasHealthy));
 *     // the stream answered:
 *     rotation.answered();
 *
 * Order
 * - After a stream that worked: one of the other masters at random, so the nodes of a dead master
 *   spread over the survivors even when every node lists the masters in the same order. After one
 *   that did not: the next in list order not yet tried in this round.
 * - A round ends when every candidate has been tried since the last answer (or the last round);
 *   the node then waits a core/retry Backoff (0.5 s doubling to 10 s, full jitter) and starts the
 *   next. Within a round, each master is opened after a random delay up to 250 ms, so a fleet does
 *   not move in one burst.
 *
 * Masters that are down
 * - A master whose connection was refused at the TCP level (ECONNREFUSED: nobody listens on its
 *   port; its process is gone) is not a candidate for DOWN_MS after the refusal, as long as
 *   another master is one. Without it, a node whose survivors turn it away (a handshake gate full
 *   of the dead master's nodes) passed through the dead one every round, paying a delay for a
 *   connect that was sure to fail. A master slow to answer, or closing connections it has no room
 *   for, is alive and stays a candidate: only the kernel's refusal marks a master down.
 * - When every master is down, all are candidates again: the node tries each in turn with the
 *   round backoff, and reconnects to the first that comes back.
 * - DOWN_MS is 5 s: a restarted master needs seconds before it listens (its ZooKeeper session, its
 *   state) and the round backoff grows to 10 s, so a check of a down master every 5 s costs a
 *   searching node at most one jitter delay per 5 s, and finds a master that came back while its
 *   peers were still turning nodes away at most 5 s late. A node streaming to a master never looks.
 */
import { Backoff } from '../core/retry';

/** Delay before the next round of attempts after every candidate failed: 0.5 s doubling to 10 s, jittered. */
const ROUND_BACKOFF = { initialMs: 500, maxMs: 10_000, factor: 2 };
/** Delay before trying the next master within a round: up to 250 ms, so a fleet does not move in one burst. */
const NEXT_MASTER_JITTER_MS = 250;
/** How long a master that refused a TCP connection is passed over (see the header). */
export const DOWN_MS = 5_000;

/** A stream's failure reason that says nobody listens at the master's address (grpc-js keeps the socket's error text). */
const REFUSED = /\bECONNREFUSED\b/;

export class MasterRotation {
  /** Index in the list of the master to open now. */
  current = 0;
  /** Masters tried since the round began. */
  private readonly tried: boolean[];
  /** performance.now() of each master's TCP refusal if that was how its last attempt failed; -Infinity: it was not. */
  private readonly refusedAt: number[];
  private readonly roundBackoff = new Backoff(ROUND_BACKOFF);
  private readonly nextMasterDelay = new Backoff({ initialMs: NEXT_MASTER_JITTER_MS, maxMs: NEXT_MASTER_JITTER_MS, factor: 1 });

  constructor(private readonly masters: readonly string[]) {
    this.tried = masters.map(() => false);
    this.refusedAt = masters.map(() => -Infinity);
  }

  /** The stream to `current` answered: a new round next time, from the shortest backoff. */
  answered(): void {
    this.tried.fill(false);
    this.refusedAt[this.current] = -Infinity;
    this.roundBackoff.reset();
  }

  /**
   * The stream to `current` broke (`wasHealthy`: after it had answered) or never answered, for
   * `reason`. Moves `current` to the master to open next and returns how long to wait first.
   */
  failed(reason: string, wasHealthy: boolean): number {
    const now = performance.now();
    if (wasHealthy) this.tried.fill(false); // it was working: try the others first
    this.tried[this.current] = true;
    this.refusedAt[this.current] = REFUSED.test(reason) ? now : -Infinity;
    const candidates = this.candidates(now);
    if (wasHealthy) {
      const others = candidates.filter((i) => i !== this.current);
      if (others.length > 0) {
        this.current = others[Math.floor(Math.random() * others.length)];
        return this.nextMasterDelay.next();
      }
    }
    const untried = this.after(candidates, (i) => !this.tried[i]);
    if (untried !== undefined) {
      this.current = untried;
      return this.nextMasterDelay.next();
    }
    this.tried.fill(false);
    this.current = this.after(candidates, () => true) ?? this.current;
    return this.roundBackoff.next();
  }

  /** Masters not down, or all of them when every one is (see the header). */
  private candidates(now: number): number[] {
    const up = this.masters.map((_, i) => i).filter((i) => now - this.refusedAt[i] >= DOWN_MS);
    return up.length > 0 ? up : this.masters.map((_, i) => i);
  }

  /** The first of `candidates` after `current` in list order, wrapping around to `current` itself, that `ok` accepts. */
  private after(candidates: number[], ok: (i: number) => boolean): number | undefined {
    const count = this.masters.length;
    for (let step = 1; step <= count; step++) {
      const i = (this.current + step) % count;
      if (candidates.includes(i) && ok(i)) return i;
    }
    return undefined;
  }
}
