/**
 * `text(file)`: reads a file once, one event per line, and is done: `done` resolves once every
 * line has been put. A last line without newline is an event too.
 */
import fs from 'node:fs';
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import { ERRORS } from '../../core/metrics';
import type { SourceDef } from '../../core/registry';
import { EventBatcher } from './batcher';
import { MAX_EVENT_ARG, notEmpty, Rejects, SOURCE_DEFAULTS } from './common';
import { pumpLines } from './lines';

export interface TextFileOptions {
  file: string;
  maxEventBytes: number;
}

export class TextFileSource implements Source {
  private readonly opts: TextFileOptions;
  private stream: fs.ReadStream | null = null;
  private batcher: EventBatcher | null = null;
  private finish: () => void = () => undefined;
  private fail: (err: unknown) => void = () => undefined;
  readonly done: Promise<void>;

  constructor(
    private readonly ctx: ComponentContext,
    options: Partial<TextFileOptions> & { file: string },
  ) {
    this.opts = { maxEventBytes: SOURCE_DEFAULTS.maxEventBytes, ...options };
    this.done = new Promise<void>((resolve, reject) => {
      this.finish = resolve;
      this.fail = reject;
    });
    // Nobody may be waiting on `done`; its failure is also logged and counted.
    this.done.catch(() => undefined);
  }

  async open(out: SourceOutput): Promise<void> {
    const batcher = new EventBatcher(out, this.ctx, { maxEvents: SOURCE_DEFAULTS.batchEvents, lingerMs: 0 });
    this.batcher = batcher;
    // Open now, so that a missing file fails `open` with a clear error.
    const fh = await fs.promises.open(this.opts.file, 'r');
    const stream = fh.createReadStream({ highWaterMark: 1024 * 1024 });
    this.stream = stream;
    pumpLines(stream, batcher, this.ctx, new Rejects(this.ctx), { maxEventBytes: this.opts.maxEventBytes, what: this.opts.file })
      .then(async (lines) => {
        await batcher.flush();
        this.ctx.logger.info('File read.', { file: this.opts.file, lines });
        this.finish();
      })
      .catch((err: unknown) => {
        this.ctx.counters.add(ERRORS, 1);
        this.ctx.logger.error('Reading the file failed.', { file: this.opts.file, error: String(err) });
        this.fail(err);
      });
  }

  async close(): Promise<void> {
    this.stream?.destroy();
    await this.batcher?.close();
    this.finish();
  }
}

export const def: SourceDef = {
  kind: 'source',
  name: 'text',
  doc: 'Reads a file once, one event per line; finite.',
  args: [
    { name: 'file', type: 'string', required: true, check: notEmpty, doc: "the file to read (under the node's node.read_paths)" },
    MAX_EVENT_ARG,
  ],
  hostAccess: (args) => [{ kind: 'read', path: args.string('file') }],
  create: (args, ctx) => new TextFileSource(ctx, { file: args.string('file'), maxEventBytes: args.number('maxEventBytes') }),
};
