/** `console[(format)]`: writes events to standard output in an output format (default debug). */
import type { Batch } from '../channel';
import type { ComponentContext, Sink } from '../component';
import { EventCursor } from '../event';
import { EVENTS_ACCEPTED, SINK_BATCHES_ACKED } from '../metrics';
import type { SinkDef } from '../registry';
import { FORMAT_NAMES, formatBatch, getFormat, type OutputFormat, OutputBuffer } from './output-formats';

class ConsoleSink implements Sink {
  private readonly out = new OutputBuffer(64 * 1024);
  private readonly cursor = new EventCursor();

  constructor(
    private readonly format: OutputFormat,
    private readonly ctx: ComponentContext,
    private readonly stream: NodeJS.WritableStream = process.stdout,
  ) {}

  async open(): Promise<void> {}

  async append(batch: Batch): Promise<void> {
    // A copy: the stream may hold the chunk after write returns, and the buffer is reused.
    const bytes = Buffer.from(formatBatch(batch.bytes, this.format, this.out, this.cursor));
    await new Promise<void>((resolve, reject) => this.stream.write(bytes, (err) => (err ? reject(err) : resolve())));
    this.ctx.counters.add(EVENTS_ACCEPTED, batch.count);
    this.ctx.counters.add(SINK_BATCHES_ACKED);
  }

  async close(): Promise<void> {}
}

export const consoleSinkDef: SinkDef = {
  kind: 'sink',
  name: 'console',
  aliases: ['stdout'],
  doc: 'Writes every event to standard output.',
  args: [{ name: 'format', type: 'identifier', default: 'debug', oneOf: FORMAT_NAMES, doc: 'output format' }],
  create: (args, ctx) => new ConsoleSink(getFormat(args.string('format')), ctx),
};
