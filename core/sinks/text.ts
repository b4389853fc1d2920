/**
 * `text(file[, format])`: appends every event to one file in an output format (default raw).
 * An append resolves once the bytes are written to the file (the page cache); `flush` and
 * `close` make them durable with fdatasync. A batch goes in whole or not at all (append-file.ts):
 * on a full disk the append fails, leaves no torn line, and the driver retries the batch.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Batch } from '../channel';
import type { ComponentContext, Sink } from '../component';
import { EventCursor } from '../event';
import { BYTES_SENT, EVENTS_ACCEPTED, SINK_BATCHES_ACKED } from '../metrics';
import type { SinkDef } from '../registry';
import { AppendFile } from './append-file';
import { FORMAT_NAMES, formatBatch, getFormat, type OutputFormat, OutputBuffer } from './output-formats';

class TextFileSink implements Sink {
  private file: AppendFile | null = null;
  private readonly out = new OutputBuffer();
  private readonly cursor = new EventCursor();

  constructor(
    readonly filePath: string,
    private readonly format: OutputFormat,
    private readonly ctx: ComponentContext,
  ) {}

  async open(): Promise<void> {
    await fs.mkdir(path.dirname(this.filePath), { recursive: true });
    this.file = await AppendFile.open(this.filePath);
  }

  async append(batch: Batch): Promise<void> {
    if (!this.file) throw new Error(`text sink ${this.filePath} is not open`);
    const bytes = formatBatch(batch.bytes, this.format, this.out, this.cursor);
    await this.file.append(bytes);
    this.ctx.counters.add(EVENTS_ACCEPTED, batch.count);
    this.ctx.counters.add(BYTES_SENT, bytes.length);
    this.ctx.counters.add(SINK_BATCHES_ACKED);
  }

  async flush(): Promise<void> {
    await this.file?.sync();
  }

  async close(): Promise<void> {
    const f = this.file;
    this.file = null;
    if (!f) return;
    await f.sync();
    await f.close();
  }
}

export const textSinkDef: SinkDef = {
  kind: 'sink',
  name: 'text',
  doc: 'Appends every event to a file.',
  args: [
    { name: 'file', type: 'string', required: true, doc: "path of the file (under the node's node.write_paths)" },
    { name: 'format', type: 'identifier', default: 'raw', oneOf: FORMAT_NAMES, doc: 'output format' },
  ],
  hostAccess: (args) => [{ kind: 'write', path: args.string('file') }],
  create: (args, ctx) => new TextFileSink(args.string('file'), getFormat(args.string('format')), ctx),
};
