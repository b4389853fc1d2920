/**
 * `counter(name)`: counts events and batches under a name, visible in /status and /metrics
 * (`flume_events_accepted_total{component="counter.NAME"}`), and drops them. In-process readers
 * (tests) can look a counter up with `counterValue(name)`.
 */
import type { Batch } from '../channel';
import type { ComponentContext, Sink } from '../component';
import { BATCHES, BYTES_ACCEPTED, EVENTS_ACCEPTED, SINK_BATCHES_ACKED } from '../metrics';
import type { SinkDef } from '../registry';

const totals = new Map<string, { events: number; batches: number; bytes: number }>();

/** The events, batches and bytes counted so far by every counter sink of this name in-process. */
export function counterValue(name: string): { events: number; batches: number; bytes: number } {
  return { ...(totals.get(name) ?? { events: 0, batches: 0, bytes: 0 }) };
}

class CounterSink implements Sink {
  private readonly total: { events: number; batches: number; bytes: number };

  constructor(
    readonly name: string,
    private readonly ctx: ComponentContext,
  ) {
    let t = totals.get(name);
    if (!t) totals.set(name, (t = { events: 0, batches: 0, bytes: 0 }));
    this.total = t;
  }

  async open(): Promise<void> {}

  async append(batch: Batch): Promise<void> {
    this.total.events += batch.count;
    this.total.batches++;
    this.total.bytes += batch.bytes.length;
    this.ctx.counters.add(EVENTS_ACCEPTED, batch.count);
    this.ctx.counters.add(BYTES_ACCEPTED, batch.bytes.length);
    this.ctx.counters.add(BATCHES);
    this.ctx.counters.add(SINK_BATCHES_ACKED);
  }

  async close(): Promise<void> {
    this.ctx.logger.info('counter closed', { counter: this.name, events: this.total.events });
  }
}

export const counterSinkDef: SinkDef = {
  kind: 'sink',
  name: 'counter',
  doc: 'Counts events and batches under a name (shown in /status and /metrics) and drops them.',
  args: [{ name: 'name', type: 'string', required: true, doc: 'the name of the counter' }],
  create: (args, ctx) => new CounterSink(args.string('name'), ctx),
};
