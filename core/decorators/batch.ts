/**
 * `batch(n[, ms])` gathers the events of consecutive batches into batches of at least n events,
 * or whatever has gathered after ms; `unbatch` splits each batch into batches of one event.
 *
 * Nothing is acknowledged early: an append into `batch` resolves only once the gathered batch
 * holding its events has been appended downstream (and rejects if that failed, so the driver
 * retries it). The decorator therefore asks the driver for a window wide enough to gather n events.
 * A gathered batch takes the id of its first part; a split part of batch (o, s) gets id
 * (`o#s`, i) for i from 1, so retries produce the same ids.
 */
import type { Batch } from '../channel';
import type { ComponentContext, Sink } from '../component';
import { encodeBatch, parseBatchHeader } from '../event';
import { EVENTS_ACCEPTED, EVENTS_SENT } from '../metrics';
import type { ArgValue, DecoratorDef } from '../registry';
import { BatchRewriter, Decorator, EventSpans } from './rewrite';

interface Pending {
  batch: Batch;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The most batches the gatherer asks the driver to keep in flight. */
const MAX_BATCH_WINDOW = 1024;

class BatchDecorator extends Decorator {
  private pending: Pending[] = [];
  private pendingEvents = 0;
  /** For batches whose events are not contiguous (another writer's field order). */
  private readonly spans = new EventSpans();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly n: number,
    private readonly maxLatencyMs: number,
    inner: Sink,
    ctx: ComponentContext,
  ) {
    super(inner, ctx);
  }

  override get window(): number {
    return Math.max(this.inner.window ?? 1, Math.min(this.n, MAX_BATCH_WINDOW));
  }

  append(batch: Batch): Promise<void> {
    if (this.pending.length === 0 && batch.count >= this.n) return this.forward(batch, null, batch.count);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ batch, resolve, reject });
      this.pendingEvents += batch.count;
      if (this.pendingEvents >= this.n) this.emit();
      else if (!this.timer) this.timer = setTimeout(() => this.emit(), this.maxLatencyMs);
    });
  }

  override async flush(): Promise<void> {
    this.emit();
    await super.flush();
  }

  override async close(): Promise<void> {
    this.emit();
    await super.close();
  }

  private emit(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const parts = this.pending;
    if (parts.length === 0) return;
    this.pending = [];
    this.pendingEvents = 0;
    const first = parts[0].batch;
    let count = 0;
    const ranges: Buffer[] = [];
    for (const p of parts) {
      const h = parseBatchHeader(p.batch.bytes);
      if (h.eventsStart >= 0) ranges.push(p.batch.bytes.subarray(h.eventsStart, h.eventsEnd));
      else for (const spans = this.spans.reset(p.batch.bytes); spans.next();) ranges.push(p.batch.bytes.subarray(spans.start, spans.end));
      count += p.batch.count;
      this.ctx.counters.add(EVENTS_ACCEPTED, p.batch.count);
    }
    const bytes = encodeBatch(first.origin, first.seq, count, Buffer.concat(ranges));
    this.ctx.counters.add(EVENTS_SENT, count);
    this.inner.append({ origin: first.origin, seq: first.seq, count, bytes }).then(
      () => parts.forEach((p) => p.resolve()),
      (err) => parts.forEach((p) => p.reject(err)),
    );
  }
}

class UnbatchDecorator extends Decorator {
  private readonly spans = new EventSpans();
  private readonly out = new BatchRewriter();

  async append(batch: Batch): Promise<void> {
    if (batch.count <= 1) return this.forward(batch, null, batch.count);
    const spans = this.spans.reset(batch.bytes);
    const origin = `${batch.origin}#${batch.seq}`;
    const parts: Batch[] = [];
    let i = 0;
    while (spans.next()) {
      this.out.copyEvent(batch.bytes, spans.start, spans.end);
      const seq = ++i;
      parts.push({ origin, seq, count: 1, bytes: this.out.finish(origin, seq) });
    }
    this.ctx.counters.add(EVENTS_ACCEPTED, batch.count);
    this.ctx.counters.add(EVENTS_SENT, parts.length);
    for (const p of parts) await this.inner.append(p);
  }
}

const positiveInt = (v: ArgValue): string | null => (Number.isInteger(v) && (v as number) > 0 ? null : 'must be a positive integer');

export const batchDef: DecoratorDef = {
  kind: 'decorator',
  name: 'batch',
  doc: 'Gathers events into batches of at least n, or what has gathered after ms.',
  args: [
    { name: 'n', type: 'number', required: true, doc: 'events per batch', check: positiveInt },
    { name: 'ms', type: 'number', default: 1000, doc: 'longest wait for a batch to fill, in ms', check: positiveInt },
  ],
  create: (args, ctx, inner) => new BatchDecorator(args.number('n'), args.number('ms'), inner, ctx),
};

export const unbatchDef: DecoratorDef = {
  kind: 'decorator',
  name: 'unbatch',
  doc: 'Splits every batch into batches of one event.',
  args: [],
  create: (_args, ctx, inner) => new UnbatchDecorator(inner, ctx),
};
