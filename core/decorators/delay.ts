/**
 * `delay(ms)` holds every batch for ms before passing it on; `choke(bytesPerSec)` limits the
 * bytes passed on per second (a token bucket of one second's worth; a batch larger than that waits
 * until the bucket is full and goes alone). Both pass the batch bytes through untouched.
 */
import type { Batch } from '../channel';
import type { ComponentContext, Sink } from '../component';
import { sleep } from '../retry';
import type { ArgValue, DecoratorDef } from '../registry';
import { Decorator } from './rewrite';

class DelayDecorator extends Decorator {
  constructor(
    private readonly ms: number,
    inner: Sink,
    ctx: ComponentContext,
  ) {
    super(inner, ctx);
  }
  async append(batch: Batch): Promise<void> {
    await sleep(this.ms);
    return this.forward(batch, null, batch.count);
  }
}

class ChokeDecorator extends Decorator {
  private tokens: number;
  private last = Date.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly bytesPerSec: number,
    inner: Sink,
    ctx: ComponentContext,
  ) {
    super(inner, ctx);
    this.tokens = bytesPerSec;
  }

  append(batch: Batch): Promise<void> {
    // Appends take their tokens in arrival order.
    const turn = this.queue.then(() => this.take(Math.min(batch.bytes.length, this.bytesPerSec)));
    this.queue = turn.catch(() => undefined);
    return turn.then(() => this.forward(batch, null, batch.count));
  }

  private async take(bytes: number): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.bytesPerSec, this.tokens + ((now - this.last) * this.bytesPerSec) / 1000);
      this.last = now;
      if (this.tokens >= bytes) {
        this.tokens -= bytes;
        return;
      }
      await sleep(Math.max(1, Math.ceil(((bytes - this.tokens) * 1000) / this.bytesPerSec)));
    }
  }
}

const positive = (v: ArgValue): string | null => ((v as number) > 0 ? null : 'must be positive');

export const delayDef: DecoratorDef = {
  kind: 'decorator',
  name: 'delay',
  doc: 'Holds every batch for ms milliseconds before passing it on.',
  args: [
    {
      name: 'ms',
      type: 'number',
      required: true,
      doc: 'delay in milliseconds',
      check: (v) => ((v as number) >= 0 ? null : 'must not be negative'),
    },
  ],
  create: (args, ctx, inner) => new DelayDecorator(args.number('ms'), inner, ctx),
};

export const chokeDef: DecoratorDef = {
  kind: 'decorator',
  name: 'choke',
  doc: 'Limits the bytes passed on to bytesPerSec.',
  args: [{ name: 'bytesPerSec', type: 'number', required: true, doc: 'bytes per second', check: positive }],
  create: (args, ctx, inner) => new ChokeDecorator(args.number('bytesPerSec'), inner, ctx),
};
