/** `format(template)`: replaces each event's body with the template's escapes filled in for it. */
import type { Batch } from '../channel';
import type { ComponentContext, Sink } from '../component';
import { BatchBuilder, EventCursor } from '../event';
import type { ArgValue, DecoratorDef } from '../registry';
import { CursorEscapeSource } from '../spec/escape-sources';
import { compileTemplate, type Template } from '../spec/escapes';
import { Decorator } from './rewrite';

/** An argument check for templates: names the column of the problem. */
function checkTemplate(v: ArgValue): string | null {
  try {
    compileTemplate(String(v));
    return null;
  } catch (err) {
    return `is not a valid template: ${(err as Error).message}`;
  }
}

class FormatDecorator extends Decorator {
  private readonly template: Template;
  private readonly cursor = new EventCursor();
  private readonly source = new CursorEscapeSource();
  private builder: BatchBuilder | null = null;

  constructor(template: string, inner: Sink, ctx: ComponentContext) {
    super(inner, ctx);
    this.template = compileTemplate(template);
  }

  append(batch: Batch): Promise<void> {
    if (!this.builder || this.builder.origin !== batch.origin) this.builder = new BatchBuilder(batch.origin, 64 * 1024);
    const b = this.builder;
    const c = this.cursor.reset(batch.bytes);
    const src = this.source.of(c);
    while (c.next()) {
      const body = Buffer.from(this.template.format(src, this.ctx.tags));
      const host = c.hostEnd > c.hostStart ? c.host() : '';
      b.append(body, c.timestamp, c.priority, host, c.attrsStart < 0 ? null : c.attributes(), c.nanos);
    }
    const count = b.count;
    return this.forward(batch, b.finish(batch.seq), count);
  }
}

export const formatDef: DecoratorDef = {
  kind: 'decorator',
  name: 'format',
  doc: 'Replaces each body with a template filled in for the event (%{host}, %{attr}, %Y...).',
  args: [{ name: 'template', type: 'string', required: true, doc: 'text with escapes', check: checkTemplate }],
  create: (args, ctx, inner) => new FormatDecorator(args.string('template'), inner, ctx),
};
