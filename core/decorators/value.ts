/** `value(attr, val)`: sets an attribute to a constant on every event (Flume OG's value decorator). */
import type { ComponentContext, Sink } from '../component';
import type { DecoratorDef } from '../registry';
import { AttributeAdder, encodeAttribute } from './rewrite';

class ValueDecorator extends AttributeAdder {
  private readonly field: Buffer;
  constructor(attr: string, value: string, inner: Sink, ctx: ComponentContext) {
    super(inner, ctx);
    this.field = encodeAttribute(attr, Buffer.from(value));
  }
  protected extra(): Buffer {
    return this.field;
  }
}

export const valueDef: DecoratorDef = {
  kind: 'decorator',
  name: 'value',
  doc: 'Sets attribute attr to val on every event.',
  args: [
    { name: 'attr', type: 'string', required: true, doc: 'attribute name' },
    { name: 'val', type: 'any', required: true, doc: 'attribute value' },
  ],
  create: (args, ctx, inner) => new ValueDecorator(args.string('attr'), args.string('val'), inner, ctx),
};
