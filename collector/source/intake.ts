/**
 * Where the collector server puts the batches it receives: straight into a {@link Channel}
 * (pipelined commits) or through a node's {@link SourceOutput} (one commit at a time per stream).
 *
 * Contract: one stream calls `begin` for its batches one at a time, in arrival order, and calls
 * the next only after the previous `begin` resolved. `begin` resolves once the batch has its
 * place in commit order, with `committed`, which settles once the commit is done (durable, for a
 * durable channel). It rejects if the batch could not be placed: then nothing was committed,
 * unless the error is a {@link ChannelFullError} from an output intake (see there).
 */
import type { Batch, Channel } from '../../core/channel';
import type { SourceOutput } from '../../core/component';
import { ChannelFullError } from '../../core/errors';

export interface Intake {
  readonly name: string;
  begin(batch: Batch): Promise<{ committed: Promise<void> }>;
}

/** Timed-out puts left waiting on a full channel before new batches are refused at once. */
const MAX_ABANDONED_PUTS = 4;

function timeout(ms: number): { promise: Promise<'timeout'>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/**
 * One transaction per batch. The next batch's put starts as soon as this one's commit has been
 * called, so commits keep stream order while a durable channel group-commits several.
 */
export class ChannelIntake implements Intake {
  private abandoned = 0;

  constructor(
    private readonly channel: Channel,
    private readonly putTimeoutMs: number,
  ) {}

  get name(): string {
    return this.channel.name;
  }

  async begin(batch: Batch): Promise<{ committed: Promise<void> }> {
    if (this.abandoned >= MAX_ABANDONED_PUTS) {
      // The channel has been full for a while already: do not queue one more waiter on it.
      throw new ChannelFullError(this.channel.name, this.putTimeoutMs);
    }
    const tx = this.channel.transaction();
    tx.begin();
    const put = tx.put(batch);
    const timer = timeout(this.putTimeoutMs);
    let winner: 'put' | 'timeout';
    try {
      winner = await Promise.race([put.then(() => 'put' as const), timer.promise]);
    } catch (err) {
      if (tx.state === 'OPEN') tx.rollback();
      tx.close();
      throw err;
    } finally {
      timer.cancel();
    }
    if (winner === 'timeout') {
      // A channel offers no way to withdraw a waiting put: let it finish, then roll it back.
      this.abandoned++;
      void put
        .catch(() => undefined)
        .then(() => {
          this.abandoned--;
          if (tx.state === 'OPEN') tx.rollback();
          tx.close();
        });
      throw new ChannelFullError(this.channel.name, this.putTimeoutMs);
    }
    const committed = tx.commit().then(
      () => tx.close(),
      (err: unknown) => {
        tx.rollback();
        tx.close();
        throw err;
      },
    );
    return { committed };
  }
}

/**
 * Through a logical node's SourceOutput, which puts and commits in one call: a stream's batches
 * are committed one after the other (order needs it; streams still run side by side). A put
 * that outlasts `putTimeoutMs` is answered RETRY but cannot be withdrawn and may still commit:
 * the agent's resend then reaches the writer twice, and the writer's dedup drops one.
 */
export class OutputIntake implements Intake {
  constructor(
    private readonly out: SourceOutput,
    private readonly putTimeoutMs: number,
    readonly name = 'source-output',
  ) {}

  async begin(batch: Batch): Promise<{ committed: Promise<void> }> {
    const put = this.out.put(batch.bytes);
    const timer = timeout(this.putTimeoutMs);
    try {
      const winner = await Promise.race([put.then(() => 'put' as const), timer.promise]);
      if (winner === 'timeout') {
        put.catch(() => undefined);
        throw new ChannelFullError(this.name, this.putTimeoutMs);
      }
    } finally {
      timer.cancel();
    }
    return { committed: Promise.resolve() };
  }
}
