/**
 * The logical-node driver, in-process, through a memory channel:
 *
 *   node-synth-null   asciisynth(N, 100) | null — 100-byte events in batches of 1,000 → memory
 *                     channel → the driver's workers → null sink; events counted at the sink
 *   node-synth-file   asciisynth(N, 100) | escapedFile(dir, "out-%Y%m%d-%H", raw) — the same
 *                     into the local file writer (time-bucketed name, .tmp renamed at close)
 *   node-synth-collectorsink  the same into the collector's storage writer,
 *                     collectorSink(dir, "data-", 60000): one file per roll, named by %{rolltag}
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { silentLogger } from '../../core/logger';
import { Metrics } from '../../core/metrics';
import { parseSpec } from '../../core/spec/parser';
import { defaultRegistry } from '../../node/components';
import { LogicalNode } from '../../node/logical-node';
import { report, wanted } from './util';

const EVENTS = Number(process.env.FLUME_BENCH_EVENTS ?? 5_000_000);
const SIZE = 100;

async function scenario(name: string, sink: string, counterPath: string, events: number, dataDir: string): Promise<void> {
  const [spec] = parseSpec(`bench : asciisynth(${events}, ${SIZE}) | ${sink} ;`);
  const node = new LogicalNode(
    spec,
    {
      registry: defaultRegistry(),
      metrics: new Metrics(),
      logger: silentLogger(),
      physicalNode: 'bench',
      host: 'bench',
      dataDir,
    },
    { channel: 'memory' },
  );
  const t0 = process.hrtime.bigint();
  await node.open();
  await node.finished();
  await node.close();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const delivered = node.status().counters[counterPath]?.events_accepted ?? 0;
  if (delivered !== events) throw new Error(`${name}: the sink counted ${delivered} events, expected ${events}`);
  report(name, { events: delivered, bytes: delivered * SIZE, seconds });
}

export async function run(filter?: string): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-bench-'));
  try {
    if (wanted(filter, 'node-synth-null')) await scenario('node-synth-null', 'null', 'sink.null', EVENTS, dataDir);
    if (wanted(filter, 'node-synth-file')) {
      const out = path.join(dataDir, 'out');
      await scenario(
        'node-synth-file',
        `escapedFile("${out}", "out-%Y%m%d-%H", raw)`,
        'sink.escapedFile',
        Math.min(EVENTS, 2_000_000),
        dataDir,
      );
    }
    if (wanted(filter, 'node-synth-collectorsink')) {
      const out = path.join(dataDir, 'collected');
      await scenario(
        'node-synth-collectorsink',
        `collectorSink("${out}/", "data-", 60000)`,
        'sink.collectorSink',
        Math.min(EVENTS, 2_000_000),
        dataDir,
      );
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) void run(process.argv[2]);
