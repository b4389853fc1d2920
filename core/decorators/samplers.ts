/**
 * Samplers, Flume OG's: `intervalSampler(n)` keeps every n-th event (the first of each n),
 * `probSampler(p)` keeps each event with probability p, `reservoirSampler(k)` keeps k events
 * chosen uniformly from each batch (in their original order). Kept events are copied as bytes.
 */
import type { Batch } from '../channel';
import type { ComponentContext, Sink } from '../component';
import type { ArgValue, DecoratorDef } from '../registry';
import { BatchRewriter, Decorator, EventSpans } from './rewrite';

abstract class Sampler extends Decorator {
  private readonly spans = new EventSpans();
  private readonly out = new BatchRewriter();

  /** Whether to keep event `i` of a batch of `count`. */
  protected abstract keep(i: number, count: number): boolean;
  protected beginBatch(_count: number): void {}

  append(batch: Batch): Promise<void> {
    this.beginBatch(batch.count);
    const spans = this.spans.reset(batch.bytes);
    let i = 0;
    let kept = 0;
    while (spans.next()) {
      if (this.keep(i++, batch.count)) {
        this.out.copyEvent(batch.bytes, spans.start, spans.end);
        kept++;
      }
    }
    const bytes = this.out.finish(batch.origin, batch.seq);
    return this.forward(batch, kept === i ? null : bytes, kept);
  }
}

class IntervalSampler extends Sampler {
  private n = 0;
  constructor(
    private readonly interval: number,
    inner: Sink,
    ctx: ComponentContext,
  ) {
    super(inner, ctx);
  }
  protected keep(): boolean {
    const k = this.n % this.interval === 0;
    this.n++;
    return k;
  }
}

class ProbSampler extends Sampler {
  constructor(
    private readonly p: number,
    inner: Sink,
    ctx: ComponentContext,
    private readonly random = Math.random,
  ) {
    super(inner, ctx);
  }
  protected keep(): boolean {
    return this.random() < this.p;
  }
}

class ReservoirSampler extends Sampler {
  private chosen = new Set<number>();
  constructor(
    private readonly k: number,
    inner: Sink,
    ctx: ComponentContext,
  ) {
    super(inner, ctx);
  }
  protected override beginBatch(count: number): void {
    // Algorithm R over the indexes: the k kept are uniform among the batch's events.
    const reservoir: number[] = [];
    for (let i = 0; i < count; i++) {
      if (i < this.k) reservoir.push(i);
      else {
        const j = Math.floor(Math.random() * (i + 1));
        if (j < this.k) reservoir[j] = i;
      }
    }
    this.chosen = new Set(reservoir);
  }
  protected keep(i: number): boolean {
    return this.chosen.has(i);
  }
}

const positiveInt = (v: ArgValue): string | null => (Number.isInteger(v) && (v as number) > 0 ? null : 'must be a positive integer');

export const intervalSamplerDef: DecoratorDef = {
  kind: 'decorator',
  name: 'intervalSampler',
  doc: 'Keeps one event out of every n.',
  args: [{ name: 'n', type: 'number', required: true, doc: 'interval', check: positiveInt }],
  create: (args, ctx, inner) => new IntervalSampler(args.number('n'), inner, ctx),
};

export const probSamplerDef: DecoratorDef = {
  kind: 'decorator',
  name: 'probSampler',
  doc: 'Keeps each event with probability p.',
  args: [
    {
      name: 'p',
      type: 'number',
      required: true,
      doc: 'probability, 0 to 1',
      check: (v) => ((v as number) >= 0 && (v as number) <= 1 ? null : 'must be between 0 and 1'),
    },
  ],
  create: (args, ctx, inner) => new ProbSampler(args.number('p'), inner, ctx),
};

export const reservoirSamplerDef: DecoratorDef = {
  kind: 'decorator',
  name: 'reservoirSampler',
  doc: 'Keeps k events chosen uniformly from each batch, in order.',
  args: [{ name: 'k', type: 'number', required: true, doc: 'events kept per batch', check: positiveInt }],
  create: (args, ctx, inner) => new ReservoirSampler(args.number('k'), inner, ctx),
};
