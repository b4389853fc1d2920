/**
 * The logical-node driver: `asciisynth(N, 100) | null` through a memory channel, in-process.
 *
 *   node-synth-null   a synthetic source of 100-byte events in batches of 1,000 → memory channel →
 *                     the driver's workers → null sink; events/s counted at the sink over the run
 *
 * Uses the registered `asciisynth` when the sources provide it, else a local generator that
 * builds each batch the same way (BatchBuilder, one append per event).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Source, SourceOutput } from '../../core/component';
import { BatchBuilder, Priority } from '../../core/event';
import { silentLogger } from '../../core/logger';
import { Metrics } from '../../core/metrics';
import type { SourceDef } from '../../core/registry';
import { parseSpec } from '../../core/spec/parser';
import { defaultRegistry } from '../../node/components';
import { LogicalNode } from '../../node/logical-node';
import { report, wanted } from './util';

const EVENTS = Number(process.env.FLUME_BENCH_EVENTS ?? 5_000_000);
const SIZE = 100;

/** The local stand-in for asciisynth(count, size): printable bodies, batches of 1,000. */
const localSynth: SourceDef = {
  kind: 'source',
  name: 'benchsynth',
  doc: 'benchmark generator',
  args: [
    { name: 'count', type: 'number', required: true, doc: 'events' },
    { name: 'size', type: 'number', required: true, doc: 'body bytes' },
  ],
  create: (args): Source => {
    const count = args.number('count');
    const size = args.number('size');
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    let stop = false;
    let loop: Promise<void> = Promise.resolve();
    return {
      done,
      async open(out: SourceOutput) {
        const pool = Buffer.alloc(size + 1024);
        for (let i = 0; i < pool.length; i++) pool[i] = 0x20 + ((i * 7919) % 95);
        const b = new BatchBuilder(out.origin, 1000 * (size + 32));
        loop = (async () => {
          for (let i = 0; i < count && !stop; ) {
            const n = Math.min(1000, count - i);
            const now = Date.now();
            for (let k = 0; k < n; k++, i++) b.append(pool.subarray(i & 1023, (i & 1023) + size), now, Priority.INFO, 'bench');
            await out.put(b.finish(out.nextSeq()));
          }
          finish();
        })();
      },
      async close() {
        stop = true;
        await loop;
      },
    };
  },
};

export async function run(filter?: string): Promise<void> {
  if (!wanted(filter, 'node-synth-null')) return;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-bench-'));
  try {
    let registry = defaultRegistry();
    let source = `asciisynth(${EVENTS}, ${SIZE})`;
    if (!registry.lookup('source', 'asciisynth')) {
      registry = defaultRegistry([localSynth]);
      source = `benchsynth(${EVENTS}, ${SIZE})`;
    }
    const [spec] = parseSpec(`bench : ${source} | null ;`);
    const metrics = new Metrics();
    const node = new LogicalNode(spec, { registry, metrics, logger: silentLogger(), physicalNode: 'bench', host: 'bench', dataDir }, { channel: 'memory' });
    const t0 = process.hrtime.bigint();
    await node.open();
    await node.finished();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const delivered = node.status().counters['sink.null']?.events_accepted ?? 0;
    await node.close();
    if (delivered !== EVENTS) throw new Error(`null sink counted ${delivered} events, expected ${EVENTS}`);
    report('node-synth-null', { events: delivered, bytes: delivered * SIZE, seconds, extra: { source: source.split('(')[0] } });
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) void run(process.argv[2]);
