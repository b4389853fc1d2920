/**
 * `stdin` (Flume OG: `console`): the process's standard input, one event per line; finite,
 * done at end of input.
 */
import type { Readable } from 'node:stream';
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import { ERRORS } from '../../core/metrics';
import type { SourceDef } from '../../core/registry';
import { EventBatcher } from './batcher';
import { MAX_EVENT_ARG, Rejects, SOURCE_DEFAULTS } from './common';
import { pumpLines } from './lines';

export class StdinSource implements Source {
  private batcher: EventBatcher | null = null;
  private finish: () => void = () => undefined;
  readonly done: Promise<void>;

  /** `input`: the stream to read, process.stdin unless a test gives another. */
  constructor(
    private readonly ctx: ComponentContext,
    private readonly maxEventBytes: number = SOURCE_DEFAULTS.maxEventBytes,
    private readonly input: Readable = process.stdin,
  ) {
    this.done = new Promise<void>((resolve) => (this.finish = resolve));
  }

  async open(out: SourceOutput): Promise<void> {
    const batcher = new EventBatcher(out, this.ctx, { maxEvents: SOURCE_DEFAULTS.batchEvents, lingerMs: SOURCE_DEFAULTS.lingerMs });
    this.batcher = batcher;
    pumpLines(this.input, batcher, this.ctx, new Rejects(this.ctx), { maxEventBytes: this.maxEventBytes, what: 'stdin' })
      .then(() => batcher.flush())
      .catch((err: unknown) => {
        this.ctx.counters.add(ERRORS, 1);
        this.ctx.logger.error('Reading standard input failed.', { error: String(err) });
      })
      .finally(() => this.finish());
  }

  async close(): Promise<void> {
    this.input.pause();
    await this.batcher?.close();
    this.finish();
  }
}

export const def: SourceDef = {
  kind: 'source',
  name: 'stdin',
  aliases: ['console'],
  doc: "The process's standard input, one event per line; done at end of input.",
  args: [MAX_EVENT_ARG],
  create: (args, ctx) => new StdinSource(ctx, args.number('maxEventBytes')),
};
