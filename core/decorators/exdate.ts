/**
 * `exDate(attr, pattern[, prefix])`, Flume OG's date extractor: parses the value of attribute
 * attr with a SimpleDateFormat-style pattern (yyyy, yy, MM, dd, HH, mm, ss, SSS, other characters
 * literal) and sets `<prefix>year`, `month`, `day`, `hr`, `min`, `sec` (zero-padded) for path
 * escapes. An event whose attribute is missing or does not match is passed on unchanged.
 */
import type { ComponentContext, Sink } from '../component';
import type { EventCursor } from '../event';
import type { ArgValue, DecoratorDef } from '../registry';
import { AttributeAdder, encodeAttribute } from './rewrite';

const TOKENS: Record<string, [string, string]> = {
  yyyy: ['year', '(\\d{4})'],
  yy: ['year', '(\\d{2})'],
  MM: ['month', '(\\d{1,2})'],
  dd: ['day', '(\\d{1,2})'],
  HH: ['hr', '(\\d{1,2})'],
  mm: ['min', '(\\d{1,2})'],
  ss: ['sec', '(\\d{1,2})'],
  SSS: ['ms', '(\\d{1,3})'],
};

/** Compiles a date pattern into a regex and the names of its groups; throws on a bad pattern. */
function compileDatePattern(pattern: string): { re: RegExp; fields: string[] } {
  const fields: string[] = [];
  let src = '^';
  let i = 0;
  while (i < pattern.length) {
    const tok = ['yyyy', 'SSS', 'yy', 'MM', 'dd', 'HH', 'mm', 'ss'].find((t) => pattern.startsWith(t, i));
    if (tok) {
      fields.push(TOKENS[tok][0]);
      src += TOKENS[tok][1];
      i += tok.length;
    } else {
      src += pattern[i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      i++;
    }
  }
  if (fields.length === 0) throw new Error('has no date fields (yyyy, MM, dd, HH, mm, ss)');
  return { re: new RegExp(src), fields };
}

class DateExtractor extends AttributeAdder {
  private readonly re: RegExp;
  private readonly fields: string[];
  constructor(
    private readonly attr: string,
    pattern: string,
    private readonly prefix: string,
    inner: Sink,
    ctx: ComponentContext,
  ) {
    super(inner, ctx);
    ({ re: this.re, fields: this.fields } = compileDatePattern(pattern));
  }
  protected extra(e: EventCursor): Buffer | null {
    const v = e.attrsStart < 0 ? undefined : e.attributes().get(this.attr);
    if (!v) return null;
    const m = this.re.exec(v.toString('utf8'));
    if (!m) return null;
    const parts = this.fields.map((f, i) => {
      let s = m[i + 1];
      if (f === 'year' && s.length === 2) s = `20${s}`;
      else if (f !== 'year' && f !== 'ms') s = s.padStart(2, '0');
      return encodeAttribute(this.prefix + f, Buffer.from(s));
    });
    return Buffer.concat(parts);
  }
}

export const exDateDef: DecoratorDef = {
  kind: 'decorator',
  name: 'exDate',
  doc: 'Parses a date in attribute attr with pattern and sets <prefix>year, month, day, hr, min, sec.',
  args: [
    { name: 'attr', type: 'string', required: true, doc: 'attribute holding the date' },
    {
      name: 'pattern',
      type: 'string',
      required: true,
      doc: 'date pattern, e.g. yyyy-MM-dd HH:mm:ss',
      check: (v: ArgValue) => {
        try {
          compileDatePattern(String(v));
          return null;
        } catch (err) {
          return (err as Error).message;
        }
      },
    },
    { name: 'prefix', type: 'string', default: 'date', doc: 'prefix of the attributes set' },
  ],
  create: (args, ctx, inner) => new DateExtractor(args.string('attr'), args.string('pattern'), args.string('prefix'), inner, ctx),
};
