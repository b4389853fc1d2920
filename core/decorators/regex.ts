/**
 * Extractors, Flume OG's: `regex(regex, idx, attr)` sets attr to group idx of the first match in
 * the body (empty when none); `regexAll(regex, attrs...)` sets each named attr to the group of its
 * rank; `split(regex, idx, attr)` splits the body by regex and sets attr to piece idx.
 */
import type { ComponentContext, Sink } from '../component';
import type { EventCursor } from '../event';
import type { ArgValue, DecoratorDef } from '../registry';
import { AttributeAdder, encodeAttribute } from './rewrite';

const EMPTY = Buffer.alloc(0);

function checkRegex(v: ArgValue): string | null {
  try {
    new RegExp(String(v));
    return null;
  } catch (err) {
    return `is not a valid regular expression: ${(err as Error).message}`;
  }
}

const nonNegative = (v: ArgValue): string | null => (Number.isInteger(v) && (v as number) >= 0 ? null : 'must be a non-negative integer');

class RegexExtractor extends AttributeAdder {
  private readonly re: RegExp;
  constructor(
    regex: string,
    private readonly index: number,
    private readonly attr: string,
    inner: Sink,
    ctx: ComponentContext,
  ) {
    super(inner, ctx);
    this.re = new RegExp(regex);
  }
  protected extra(e: EventCursor): Buffer {
    const m = this.re.exec(e.buf.toString('utf8', e.bodyStart, e.bodyEnd));
    const v = m?.[this.index];
    return encodeAttribute(this.attr, v === undefined ? EMPTY : Buffer.from(v));
  }
}

class RegexAllExtractor extends AttributeAdder {
  private readonly re: RegExp;
  constructor(
    regex: string,
    private readonly attrs: readonly string[],
    inner: Sink,
    ctx: ComponentContext,
  ) {
    super(inner, ctx);
    this.re = new RegExp(regex);
  }
  protected extra(e: EventCursor): Buffer | null {
    const m = this.re.exec(e.buf.toString('utf8', e.bodyStart, e.bodyEnd));
    if (!m) return null;
    const parts: Buffer[] = [];
    this.attrs.forEach((a, i) => {
      const v = m[i + 1];
      if (v !== undefined) parts.push(encodeAttribute(a, Buffer.from(v)));
    });
    return parts.length > 0 ? Buffer.concat(parts) : null;
  }
}

class SplitExtractor extends AttributeAdder {
  private readonly re: RegExp;
  constructor(
    regex: string,
    private readonly index: number,
    private readonly attr: string,
    inner: Sink,
    ctx: ComponentContext,
  ) {
    super(inner, ctx);
    this.re = new RegExp(regex);
  }
  protected extra(e: EventCursor): Buffer {
    const pieces = e.buf.toString('utf8', e.bodyStart, e.bodyEnd).split(this.re);
    const v = pieces[this.index];
    return encodeAttribute(this.attr, v === undefined ? EMPTY : Buffer.from(v));
  }
}

export const regexDef: DecoratorDef = {
  kind: 'decorator',
  name: 'regex',
  doc: 'Sets attr to capture group idx of regex matched against the body (empty if no match).',
  args: [
    { name: 'regex', type: 'string', required: true, doc: 'regular expression (JavaScript syntax)', check: checkRegex },
    { name: 'idx', type: 'number', required: true, doc: 'capture group number (0: whole match)', check: nonNegative },
    { name: 'attr', type: 'string', required: true, doc: 'attribute to set' },
  ],
  create: (args, ctx, inner) => new RegexExtractor(args.string('regex'), args.number('idx'), args.string('attr'), inner, ctx),
};

export const regexAllDef: DecoratorDef = {
  kind: 'decorator',
  name: 'regexAll',
  doc: 'Sets each named attribute to the capture group of the same rank (first name: group 1).',
  args: [
    { name: 'regex', type: 'string', required: true, doc: 'regular expression (JavaScript syntax)', check: checkRegex },
    { name: 'attrs', type: 'string', rest: true, doc: 'attribute names, one per group' },
  ],
  create: (args, ctx, inner) => new RegexAllExtractor(args.string('regex'), args.list('attrs').map(String), inner, ctx),
};

export const splitDef: DecoratorDef = {
  kind: 'decorator',
  name: 'split',
  doc: 'Splits the body by regex and sets attr to piece idx (empty if there are fewer pieces).',
  args: [
    { name: 'regex', type: 'string', required: true, doc: 'separator (regular expression)', check: checkRegex },
    { name: 'idx', type: 'number', required: true, doc: 'piece number, from 0', check: nonNegative },
    { name: 'attr', type: 'string', required: true, doc: 'attribute to set' },
  ],
  create: (args, ctx, inner) => new SplitExtractor(args.string('regex'), args.number('idx'), args.string('attr'), inner, ctx),
};
