/** Test helpers for the node runtime: contexts, a sink that records, a finite generator source. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Batch } from '../../core/channel';
import type { ComponentContext, Sink, Source, SourceOutput } from '../../core/component';
import { BatchBuilder, decodeEvents, type Event, makeEvent, encodeEvents } from '../../core/event';
import { silentLogger } from '../../core/logger';
import { Metrics } from '../../core/metrics';
import type { SourceDef, SinkDef } from '../../core/registry';

let processDataDir: string | undefined;

/** One data dir per test process, removed when it exits. */
function testDataDir(): string {
  if (!processDataDir) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-ctx-'));
    processDataDir = dir;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return processDataDir;
}

export function testContext(extra: Partial<ComponentContext> = {}): ComponentContext {
  return {
    logger: silentLogger(),
    logicalNode: 'test',
    physicalNode: 'phys',
    host: 'testhost',
    dataDir: testDataDir(),
    counters: new Metrics().component('test', 'c'),
    ...extra,
  };
}

export function tempDir(prefix = 'flume-node-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function batch(origin: string, seq: number, events: Event[]): Batch {
  return { origin, seq, count: events.length, bytes: encodeEvents(origin, seq, events) };
}

export function bodies(lines: string[], fields: Partial<Omit<Event, 'body'>> = {}): Event[] {
  return lines.map((l) => makeEvent(l, { timestamp: 1_700_000_000_000, host: 'h1', ...fields }));
}

/** Records every batch appended; can be told to fail the next n appends. */
export class RecordingSink implements Sink {
  /** Copies of the batches appended (the channel may reuse a batch's buffer once it is acked). */
  readonly batches: Batch[] = [];
  /** The batches as appended, for checks that a batch was passed on untouched. */
  readonly received: Batch[] = [];
  failNext = 0;
  opened = 0;
  closed = 0;
  flushed = 0;
  window?: number;

  async open(): Promise<void> {
    this.opened++;
  }

  async append(b: Batch): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('recording sink told to fail');
    }
    this.batches.push({ ...b, bytes: Buffer.from(b.bytes) });
    this.received.push(b);
  }

  async flush(): Promise<void> {
    this.flushed++;
  }

  async close(): Promise<void> {
    this.closed++;
  }

  events(): Event[] {
    return this.batches.flatMap((b) => decodeEvents(b.bytes));
  }

  bodies(): string[] {
    return this.events().map((e) => e.body.toString());
  }
}

/** A finite source for tests: `count` events `line-<i>` in batches of `batchSize`. */
class GeneratorSource implements Source {
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => (this.resolveDone = r));
  private stopped = false;
  private running: Promise<void> = Promise.resolve();

  constructor(
    readonly count: number,
    readonly batchSize = 100,
    readonly pad = 0,
  ) {}

  async open(out: SourceOutput): Promise<void> {
    this.running = this.run(out);
  }

  private async run(out: SourceOutput): Promise<void> {
    const b = new BatchBuilder(out.origin);
    for (let i = 0; i < this.count && !this.stopped;) {
      const n = Math.min(this.batchSize, this.count - i);
      for (let k = 0; k < n; k++, i++) b.append(Buffer.from(`line-${i}`.padEnd(this.pad, '.')), 1_700_000_000_000 + i, 3, 'gen');
      await out.put(b.finish(out.nextSeq()));
    }
    this.resolveDone();
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}

export const generatorSourceDef: SourceDef = {
  kind: 'source',
  name: 'testgen',
  doc: 'test only: count events line-<i>',
  args: [
    { name: 'count', type: 'number', required: true, doc: 'events' },
    { name: 'batch', type: 'number', default: 100, doc: 'events per batch' },
  ],
  create: (args) => new GeneratorSource(args.number('count'), args.number('batch')),
};

/** Sinks by name for in-process tests: `recording("x")` appends to recorders.get("x"). */
export const recorders = new Map<string, RecordingSink>();
export const recordingSinkDef: SinkDef = {
  kind: 'sink',
  name: 'recording',
  doc: 'test only',
  args: [{ name: 'name', type: 'string', required: true, doc: 'recorder' }],
  create: (args) => {
    const name = args.string('name');
    let r = recorders.get(name);
    if (!r) recorders.set(name, (r = new RecordingSink()));
    return r;
  },
};

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
