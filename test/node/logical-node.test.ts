import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import type { SourceOutput, Source } from '../../core/component';
import { BatchBuilder } from '../../core/event';
import { silentLogger } from '../../core/logger';
import { Metrics } from '../../core/metrics';
import { Registry } from '../../core/registry';
import { parseSpec } from '../../core/spec/parser';
import { SINKS, WRAPPERS } from '../../core/sinks';
import { DECORATORS } from '../../core/decorators';
import { WRITERS } from '../../collector/writers';
import { LogicalNode, type LogicalNodeOptions } from '../../node/logical-node';
import { SequenceAllocator } from '../../node/seq';
import { generatorSourceDef, recorders, RecordingSink, recordingSinkDef, tempDir, waitFor } from './helpers';
import { storageFiles } from '../harness/storage';

const root = tempDir();
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** An endless source: puts batches of 10 as fast as the channel takes them, until closed. */
let endlessPuts = 0;
const endlessDef = {
  kind: 'source' as const,
  name: 'endless',
  doc: 'test',
  args: [],
  create: (): Source => {
    let stop = false;
    let loop: Promise<void> = Promise.resolve();
    return {
      async open(out: SourceOutput) {
        const b = new BatchBuilder(out.origin);
        let i = 0;
        loop = (async () => {
          while (!stop) {
            for (let k = 0; k < 10; k++) b.append(Buffer.from(`e-${i++}`), 1, 3, 'h');
            await out.put(b.finish(out.nextSeq()));
            endlessPuts += 10;
            await new Promise((r) => setImmediate(r));
          }
        })();
      },
      async close() {
        stop = true;
        await loop;
      },
    };
  },
};

const brokenDef = {
  kind: 'source' as const,
  name: 'broken',
  doc: 'test',
  args: [],
  create: (): Source => ({
    async open() {
      throw new Error('port 1 is taken');
    },
    async close() {},
  }),
};

const registry = new Registry().registerAll([
  generatorSourceDef,
  endlessDef,
  brokenDef,
  recordingSinkDef,
  ...SINKS,
  ...WRITERS,
  ...WRAPPERS,
  ...DECORATORS,
]);

function node(text: string, options: Partial<LogicalNodeOptions> = {}, dir = path.join(root, text.split(':')[0].trim())): LogicalNode {
  const [spec] = parseSpec(text);
  return new LogicalNode(
    spec,
    { registry, metrics: new Metrics(), logger: silentLogger(), physicalNode: 'p', host: 'h', dataDir: dir },
    options,
  );
}

test('a finite source drains through the channel into the sink, every event once and in order', async () => {
  const n = node('n1 : testgen(1000, 7) | recording("n1") ;');
  await n.open();
  assert.equal(n.state, 'ACTIVE');
  await n.finished();
  const got = recorders.get('n1')!.bodies();
  assert.deepEqual(
    got,
    Array.from({ length: 1000 }, (_, i) => `line-${i}`),
  );
  const seqs = recorders.get('n1')!.batches.map((b) => b.seq);
  assert.equal(new Set(seqs).size, seqs.length, 'batch ids unique');
  const s = n.status();
  assert.equal(s.counters.channel.events_accepted, 1000);
  assert.equal(s.counters.driver.sink_batches_acked, Math.ceil(1000 / 7));
  await n.close();
  assert.equal(n.state, 'CLOSED');
});

test('a failing sink: the batch is rolled back and retried, nothing lost, nothing twice', async () => {
  const rec = new RecordingSink();
  recorders.set('n2', rec);
  rec.failNext = 5;
  const n = node('n2 : testgen(300, 10) | recording("n2") ;', { retryInitialMs: 1, retryMaxMs: 5 });
  await n.open();
  await n.finished();
  assert.deepEqual(
    rec.bodies(),
    Array.from({ length: 300 }, (_, i) => `line-${i}`),
  );
  assert.equal(n.status().counters.driver.sink_batches_retried, 5);
  await n.close();
});

test('close while the source is producing loses nothing the source put', async () => {
  const n = node('n3 : endless | { delay(1) => recording("n3") } ;');
  await n.open();
  await waitFor(() => (recorders.get('n3')?.batches.length ?? 0) > 20, 20_000, 'some batches delivered');
  await n.close();
  const delivered = recorders.get('n3')!.bodies();
  assert.equal(delivered.length, endlessPuts, 'every event put was delivered before close returned');
  assert.equal(n.status().counters.channel.events_accepted, endlessPuts);
  assert.deepEqual(
    delivered,
    Array.from({ length: endlessPuts }, (_, i) => `e-${i}`),
  );
});

test('with a WAL channel, batches a failing sink could not take are delivered after a restart', async () => {
  const dir = path.join(root, 'wal-node');
  const rec = new RecordingSink();
  recorders.set('n4', rec);
  rec.failNext = Infinity;
  const first = node('n4 : testgen(500, 50) | recording("n4") ;', { channel: 'wal', retryInitialMs: 1, retryMaxMs: 20 }, dir);
  await first.open();
  await waitFor(() => (first.status().counters.channel.events_accepted ?? 0) === 500, 20_000, 'all put into the WAL');
  await first.close(2000);
  assert.equal(rec.batches.length, 0);
  rec.failNext = 0;
  // The same node again, with a source that has nothing more: the WAL replays the 500.
  const second = node('n4 : testgen(0) | recording("n4") ;', { channel: 'wal' }, dir);
  await second.open();
  await second.finished();
  await second.close();
  assert.deepEqual(
    rec.bodies(),
    Array.from({ length: 500 }, (_, i) => `line-${i}`),
  );
});

test('a spec that does not validate is refused with every problem, leaving nothing open', async () => {
  const n = node('n5 : testgen("many") | { batch(0) => nosuch } ;');
  await assert.rejects(n.open(), (err: Error) => {
    assert.match(err.message, /testgen: argument count must be a number/);
    assert.match(err.message, /batch: argument n must be a positive integer/);
    assert.ok(err.message.includes(`unknown sink nosuch; known sinks: ${registry.names('sink').join(', ')}`), err.message);
    assert.ok(registry.names('sink').includes('recording'));
    return true;
  });
  assert.equal(n.state, 'ERROR');
  await n.close();
});

test('sequence numbers never repeat across restarts, even after a crash mid-block', () => {
  const dir = path.join(root, 'seq');
  const a = SequenceAllocator.open(dir, 10);
  const first = Array.from({ length: 25 }, () => a.nextSeq());
  // "Crash": the allocator is dropped without any goodbye; a new one starts after its reservation.
  const b = SequenceAllocator.open(dir, 10);
  const second = Array.from({ length: 5 }, () => b.nextSeq());
  assert.deepEqual(
    first,
    Array.from({ length: 25 }, (_, i) => i + 1),
  );
  assert.ok(second[0] > first[first.length - 1]);
  assert.equal(new Set([...first, ...second]).size, 30);
});

test('a whole sink tree from a spec: decorators, fan-out, failover and roll with %{rolltag} files', async () => {
  const out = path.join(root, 'tree-out');
  const primary = new RecordingSink();
  primary.failNext = 3;
  recorders.set('tree-primary', primary);
  const backup = new RecordingSink();
  recorders.set('tree-backup', backup);
  const n = node(`tree : testgen(2000, 10) | { value("tier", "t1") => [
      < recording("tree-primary") ? recording("tree-backup") >,
      roll(50) { escapedFile("${out}", "f-%{rolltag}-%{tier}", raw) }
    ] } ;`);
  await n.open();
  await n.finished();
  await n.close();
  const expected = Array.from({ length: 2000 }, (_, i) => `line-${i}`);
  // Failover: the first failure sends its batch to the backup; the rest go to the primary after backoff.
  const both = [...primary.events(), ...backup.events()];
  assert.deepEqual(both.map((e) => e.body.toString()).sort(), [...expected].sort());
  assert.ok(backup.batches.length >= 1);
  assert.ok(both.every((e) => e.attributes.get('tier')?.toString() === 't1'));
  // Roll: completed files only (no .tmp), named by rolltag and attribute, holding every line once.
  const files = storageFiles(out).map((f) => path.basename(f));
  assert.ok(
    files.every((f) => /^f-\d{8}-\d{9}\+0000\.\d+\.\d+-t1$/.test(f)),
    files.join(),
  );
  const lines = files.flatMap((f) => fs.readFileSync(path.join(out, f), 'utf8').trimEnd().split('\n'));
  assert.deepEqual([...lines].sort(), [...expected].sort());
  assert.equal(new Set(lines).size, 2000);
});

test('a source that cannot open leaves the node in ERROR with its sink closed again', async () => {
  const rec = new RecordingSink();
  recorders.set('n6', rec);
  const n = node('n6 : broken | recording("n6") ;');
  await assert.rejects(n.open(), /port 1 is taken/);
  assert.equal(n.state, 'ERROR');
  assert.equal(n.status().error, 'port 1 is taken');
  assert.deepEqual([rec.opened, rec.closed], [1, 1]);
});
