/**
 * Generators for tests and benchmarks, finite (`done` resolves once all are put) unless
 * `count` is 0 (then they run until closed):
 *
 * - `asciisynth(count, size)`: bodies of `size` printable ASCII bytes;
 * - `synth(count, size)`: bodies of `size` random bytes.
 *
 * One body buffer is made once and reused; when it is 12 bytes or more its first 12 bytes are
 * the event's number (zero-padded decimal, from 0) followed by a space, so each event is
 * distinct and ordered. Batches of 1000.
 */
import { randomBytes } from 'node:crypto';
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import { Priority } from '../../core/event';
import { EVENTS_RECEIVED } from '../../core/metrics';
import type { SourceDef } from '../../core/registry';
import { EventBatcher } from './batcher';
import { nonNegativeInteger, SOURCE_DEFAULTS } from './common';

const NUMBER_DIGITS = 11;

export class SynthSource implements Source {
  private closing = false;
  private running: Promise<void> = Promise.resolve();
  private batcher: EventBatcher | null = null;
  private finish: () => void = () => undefined;
  readonly done: Promise<void>;
  private readonly body: Buffer;

  constructor(
    private readonly ctx: ComponentContext,
    private readonly count: number,
    size: number,
    ascii: boolean,
  ) {
    this.done = new Promise<void>((resolve) => (this.finish = resolve));
    const body = randomBytes(size);
    if (ascii) for (let i = 0; i < size; i++) body[i] = 0x20 + (body[i] % 95);
    this.body = body;
  }

  async open(out: SourceOutput): Promise<void> {
    this.batcher = new EventBatcher(out, this.ctx, { maxEvents: SOURCE_DEFAULTS.batchEvents, maxBytes: 64 * 1024 * 1024, lingerMs: 0 });
    this.running = this.generate().finally(() => this.finish());
  }

  private async generate(): Promise<void> {
    const batcher = this.batcher!;
    const builder = batcher.builder;
    const body = this.body;
    const numbered = body.length > NUMBER_DIGITS;
    if (numbered) body[NUMBER_DIGITS] = 0x20;
    const host = this.ctx.host;
    const perBatch = SOURCE_DEFAULTS.batchEvents;
    for (let i = 0; (this.count === 0 || i < this.count) && !this.closing;) {
      const n = this.count === 0 ? perBatch : Math.min(perBatch, this.count - i);
      const now = Date.now();
      for (let k = 0; k < n; k++, i++) {
        if (numbered) writeNumber(body, i);
        builder.append(body, now, Priority.INFO, host);
      }
      this.ctx.counters.add(EVENTS_RECEIVED, n);
      void batcher.flush().catch(() => {
        this.closing = true;
      });
      await batcher.waitBelow();
      // Into a memory channel every step above resolves on microtasks alone: let timers,
      // I/O and signals run between batches.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await batcher.drain();
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.running;
  }
}

function writeNumber(buf: Buffer, n: number): void {
  for (let p = NUMBER_DIGITS - 1; p >= 0; p--) {
    buf[p] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
}

const ARGS = [
  { name: 'count', type: 'number', required: true, check: nonNegativeInteger, doc: 'events to make (0: until closed)' },
  { name: 'size', type: 'number', default: 100, check: nonNegativeInteger, doc: 'body size in bytes' },
] as const;

export const asciiDef: SourceDef = {
  kind: 'source',
  name: 'asciisynth',
  aliases: ['nonlsynth'],
  doc: 'Generates count events with printable ASCII bodies of size bytes; finite.',
  args: ARGS,
  create: (args, ctx) => new SynthSource(ctx, args.number('count'), args.number('size'), true),
};

export const def: SourceDef = {
  kind: 'source',
  name: 'synth',
  doc: 'Generates count events with random binary bodies of size bytes; finite.',
  args: ARGS,
  create: (args, ctx) => new SynthSource(ctx, args.number('count'), args.number('size'), false),
};
