/** `null`: drops every batch; counts what it dropped. For tests and benchmarks. */
import type { Batch } from '../channel';
import type { ComponentContext, Sink } from '../component';
import { EVENTS_ACCEPTED, SINK_BATCHES_ACKED } from '../metrics';
import type { SinkDef } from '../registry';

class NullSink implements Sink {
  constructor(private readonly ctx: ComponentContext) {}
  async open(): Promise<void> {}
  async append(batch: Batch): Promise<void> {
    this.ctx.counters.add(EVENTS_ACCEPTED, batch.count);
    this.ctx.counters.add(SINK_BATCHES_ACKED);
  }
  async close(): Promise<void> {}
}

export const nullSinkDef: SinkDef = {
  kind: 'sink',
  name: 'null',
  doc: 'Drops every event (counting them).',
  args: [],
  create: (_args, ctx) => new NullSink(ctx),
};
