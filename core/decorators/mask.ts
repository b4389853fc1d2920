/**
 * `mask(attrs...)` drops the named attributes from every event; `select(attrs...)` keeps only the
 * named ones. Both copy the other fields as bytes.
 */
import type { Batch } from '../channel';
import type { ComponentContext, Sink } from '../component';
import type { DecoratorDef } from '../registry';
import { BatchRewriter, Decorator, EventSpans } from './rewrite';

class AttributeFilter extends Decorator {
  private readonly spans = new EventSpans();
  private readonly out = new BatchRewriter();
  private readonly drop: (key: string) => boolean;

  constructor(names: readonly string[], keep: boolean, inner: Sink, ctx: ComponentContext) {
    super(inner, ctx);
    const set = new Set(names);
    this.drop = keep ? (k) => !set.has(k) : (k) => set.has(k);
  }

  append(batch: Batch): Promise<void> {
    const spans = this.spans.reset(batch.bytes);
    const out = this.out;
    let dropped = 0;
    while (spans.next()) {
      if (spans.cursor.attrsStart < 0) {
        out.copyEvent(batch.bytes, spans.start, spans.end);
        continue;
      }
      out.beginEvent();
      dropped += out.contentWithout(batch.bytes, spans.contentStart, spans.end, this.drop);
      out.endEvent();
    }
    const count = out.count;
    const bytes = out.finish(batch.origin, batch.seq);
    return this.forward(batch, dropped > 0 ? bytes : null, count);
  }
}

const attrs = { name: 'attrs', type: 'string' as const, rest: true, doc: 'attribute names' };

export const maskDef: DecoratorDef = {
  kind: 'decorator',
  name: 'mask',
  doc: 'Removes the named attributes from every event.',
  args: [attrs],
  create: (args, ctx, inner) => new AttributeFilter(args.list('attrs').map(String), false, inner, ctx),
};

export const selectDef: DecoratorDef = {
  kind: 'decorator',
  name: 'select',
  doc: 'Keeps only the named attributes of every event.',
  args: [attrs],
  create: (args, ctx, inner) => new AttributeFilter(args.list('attrs').map(String), true, inner, ctx),
};
