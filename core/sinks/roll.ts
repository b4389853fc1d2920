/**
 * `roll(ms) { sink }`: every `ms`, builds a fresh body (with a new `%{rolltag}`), opens it,
 * switches appends to it, and closes the old one once its appends in flight are done, so a file
 * writer in the body renames its finished file. `collector(ms) { sink }` is the same here: in
 * Flume OG it also held end-to-end acks until the roll closed; this runtime acks on append.
 */
import type { Batch } from '../channel';
import type { ComponentContext, Sink } from '../component';
import { ERRORS } from '../metrics';
import type { WrapperDef } from '../registry';

export type BodyFactory = (tags?: Readonly<Record<string, string>>) => Sink;

interface Generation {
  sink: Sink;
  inFlight: Set<Promise<void>>;
}

let rollCounter = 0;

/** Flume OG's rolltag: `yyyyMMdd-HHmmssSSS+0000.<n>`, unique within a process, sortable by time. */
function makeRollTag(now = Date.now()): string {
  const d = new Date(now);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}${p(d.getUTCMilliseconds(), 3)}+0000.${process.pid}.${++rollCounter}`;
}

export class RollSink implements Sink {
  private current: Generation | null = null;
  private timer: NodeJS.Timeout | null = null;
  private rolling: Promise<void> = Promise.resolve();
  private closed = false;
  constructor(
    readonly periodMs: number,
    private readonly makeBody: BodyFactory,
    private readonly ctx: ComponentContext,
  ) {}

  /** The current body's window (the driver reads it after open). */
  get window(): number {
    return this.current?.sink.window ?? 1;
  }

  async open(): Promise<void> {
    this.current = await this.newGeneration();
    this.schedule();
  }

  async append(batch: Batch): Promise<void> {
    const gen = this.current;
    if (!gen) throw new Error('roll sink is not open');
    const p = gen.sink.append(batch);
    gen.inFlight.add(p);
    try {
      await p;
    } finally {
      gen.inFlight.delete(p);
    }
  }

  /** Closes the current body and starts a new one now. */
  roll(): Promise<void> {
    // After the roll before, whether it worked or not: one failed roll (a full disk) must not fail
    // every later one.
    this.rolling = this.rolling
      .catch(() => undefined)
      .then(async () => {
        if (this.closed || !this.current) return;
        const next = await this.newGeneration();
        const old = this.current;
        this.current = next;
        await retire(old);
      });
    return this.rolling;
  }

  async flush(): Promise<void> {
    await this.current?.sink.flush?.();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.rolling.catch(() => undefined);
    const gen = this.current;
    this.current = null;
    if (gen) await retire(gen);
  }

  private async newGeneration(): Promise<Generation> {
    const sink = this.makeBody({ rolltag: makeRollTag() });
    try {
      await sink.open();
    } catch (err) {
      // Release what the body opened before it failed (files, indexes); the old body stays.
      await sink.close().catch(() => undefined);
      throw err;
    }
    return { sink, inFlight: new Set() };
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.roll()
        .catch((err) => {
          this.ctx.counters.add(ERRORS);
          this.ctx.logger.error('roll failed; keeping the current body until the next roll', { error: String(err) });
        })
        .finally(() => {
          if (!this.closed) this.schedule();
        });
    }, this.periodMs);
    this.timer.unref();
  }
}

async function retire(gen: Generation): Promise<void> {
  await Promise.allSettled([...gen.inFlight]);
  await gen.sink.close();
}

const periodArg = {
  name: 'ms',
  type: 'number' as const,
  default: 30_000,
  doc: 'roll period in milliseconds',
  check: (v: unknown) => (typeof v === 'number' && v > 0 ? null : 'must be a positive number of milliseconds'),
};

export const rollDef: WrapperDef = {
  kind: 'wrapper',
  name: 'roll',
  doc: 'Closes its body and opens a fresh one every period; %{rolltag} names each generation.',
  args: [periodArg],
  create: (args, ctx, makeBody) => new RollSink(args.number('ms'), makeBody, ctx),
};

export const collectorDef: WrapperDef = {
  kind: 'wrapper',
  name: 'collector',
  doc: "Flume OG's collector(ms) { sink }: rolls its body every period and flushes it at each roll.",
  args: [periodArg],
  create: (args, ctx, makeBody) => new RollSink(args.number('ms'), makeBody, ctx),
};
