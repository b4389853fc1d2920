import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { makeEvent } from '../../core/event';
import { ResolvedArgs } from '../../core/registry';
import { RollSink } from '../../core/sinks/roll';
import { batch, tempDir, testContext } from '../../test/node/helpers';
import { customDfsDef, ESCAPED_FILE_DEFAULTS, EscapedFileSink, escapedFileDef } from './escaped-file';
import { getFormat } from '../../core/sinks/output-formats';

const root = tempDir();
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** The storage files under `dir`, leaving out the writers' bookkeeping in `.flume/`. */
function listAll(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)))
    .filter((f) => !f.startsWith('.flume/'))
    .sort();
}

test('files are written as .tmp and renamed when the sink closes', async () => {
  const dir = path.join(root, 'tmp-rename');
  const s = new EscapedFileSink(dir, 'out.log', getFormat('raw'), testContext());
  await s.open();
  await s.append(batch('o', 1, [makeEvent('a'), makeEvent('b')]));
  const during = listAll(dir);
  assert.equal(during.length, 1);
  assert.match(during[0], /^out\.log\.[0-9a-f]{12}\.\d+\.tmp$/);
  await s.close();
  assert.deepEqual(listAll(dir), ['out.log']);
  assert.equal(fs.readFileSync(path.join(dir, 'out.log'), 'utf8'), 'a\nb\n');
  // A second writer of the same name does not overwrite it.
  const again = new EscapedFileSink(dir, 'out.log', getFormat('raw'), testContext());
  await again.append(batch('o', 2, [makeEvent('c')]));
  await again.close();
  assert.deepEqual(listAll(dir), ['out.log', 'out.log.1']);
  assert.equal(fs.readFileSync(path.join(dir, 'out.log.1'), 'utf8'), 'c\n');
});

test('escapes bucket events by event time and by attribute', async () => {
  const dir = path.join(root, 'buckets');
  const s = escapedFileDef.create(
    ResolvedArgs.of('escapedFile', { dir: `file://${dir}/%Y-%m-%d/%H`, file: 'app-%{svc}.log', format: 'raw' }),
    testContext(),
  );
  const t1 = Date.UTC(2024, 0, 2, 3, 4, 5);
  const t2 = Date.UTC(2024, 0, 2, 4, 0, 0);
  const svc = (v: string): Map<string, Buffer> => new Map([['svc', Buffer.from(v)]]);
  await s.open();
  await s.append(
    batch('o', 1, [
      makeEvent('1', { timestamp: t1, attributes: svc('api') }),
      makeEvent('2', { timestamp: t1, attributes: svc('web') }),
      makeEvent('3', { timestamp: t2, attributes: svc('api') }),
      makeEvent('4', { timestamp: t1, attributes: svc('api') }),
    ]),
  );
  await s.append(batch('o', 2, [makeEvent('5', { timestamp: t2 })]));
  await s.close();
  assert.deepEqual(listAll(dir), [
    '2024-01-02/03/app-api.log',
    '2024-01-02/03/app-web.log',
    '2024-01-02/04/app-.log',
    '2024-01-02/04/app-api.log',
  ]);
  const read = (p: string): string => fs.readFileSync(path.join(dir, p), 'utf8');
  assert.equal(read('2024-01-02/03/app-api.log'), '1\n4\n');
  assert.equal(read('2024-01-02/04/app-api.log'), '3\n');
  assert.equal(read('2024-01-02/04/app-.log'), '5\n');
});

test('under roll, %{rolltag} names one completed file per period', async () => {
  const dir = path.join(root, 'rolled');
  const ctx = testContext();
  const roll = new RollSink(
    60_000,
    (tags) => escapedFileDef.create(ResolvedArgs.of('escapedFile', { dir, file: 'log-%{rolltag}', format: 'json' }), { ...ctx, tags }),
    ctx,
  );
  await roll.open();
  await roll.append(batch('o', 1, [makeEvent('a')]));
  await roll.roll();
  const afterRoll = listAll(dir);
  assert.equal(afterRoll.filter((f) => !f.endsWith('.tmp')).length, 1, 'the first generation is complete');
  await roll.append(batch('o', 2, [makeEvent('b')]));
  await roll.close();
  const files = listAll(dir);
  assert.equal(files.length, 2);
  assert.ok(
    files.every((f) => /^log-\d{8}-\d{9}\+0000\.\d+\.\d+$/.test(f)),
    files.join(),
  );
  assert.deepEqual(
    files.map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).body),
    ['a', 'b'],
  );
});

test('a file of templates that read no event is made when the sink opens; a period without events leaves none', async () => {
  const dir = path.join(root, 'ahead');
  const ctx = testContext({ dataDir: path.join(root, 'ahead-data') });
  const roll = new RollSink(
    60_000,
    (tags) => escapedFileDef.create(ResolvedArgs.of('escapedFile', { dir, file: 'log-%{rolltag}', format: 'raw' }), { ...ctx, tags }),
    ctx,
  );
  await roll.open();
  const opened = listAll(dir);
  assert.equal(opened.length, 1, 'made before any batch');
  assert.match(opened[0], /^log-.*\.tmp$/);
  await roll.roll();
  await roll.roll();
  assert.equal(listAll(dir).filter((f) => !f.endsWith('.tmp')).length, 0, 'two empty periods: no file');
  await roll.append(batch('o', 1, [makeEvent('a')]));
  await roll.close();
  const files = listAll(dir);
  assert.equal(files.length, 1, files.join());
  assert.equal(fs.readFileSync(path.join(dir, files[0]), 'utf8'), 'a\n');

  // A process killed before its first batch leaves an empty .tmp: the next one removes it.
  const crashed = new EscapedFileSink(dir, 'crash.log', getFormat('raw'), ctx, undefined, 'crashedproc');
  await crashed.open();
  assert.ok(listAll(dir).some((f) => /^crash\.log\..*\.tmp$/.test(f)));
  const next = new EscapedFileSink(dir, 'crash.log', getFormat('raw'), ctx);
  await next.open();
  await next.close();
  assert.deepEqual(listAll(dir), files);
});

test('customdfs takes one path template; other schemes than file:// are refused', async () => {
  const dir = path.join(root, 'dfs');
  const s = customDfsDef.create(ResolvedArgs.of('customdfs', { path: `file://${dir}/%{host}.txt`, format: 'raw' }), testContext());
  await s.append(batch('o', 1, [makeEvent('x', { host: 'h9' })]));
  await s.close();
  assert.deepEqual(listAll(dir), ['h9.txt']);
  const check = escapedFileDef.args[0].check!;
  assert.match(String(check('hdfs://nn/x')), /scheme hdfs:\/\/ is not supported/);
  assert.match(String(check('/x/%Q')), /not a valid path template/);
});

test('a batch id already stored is dropped, across writers and restarts; the ledger hears of durable batches', async () => {
  const { NodeLedger } = await import('../../node/ledger');
  const dir = path.join(root, 'dedup');
  const dataDir = path.join(root, 'dedup-data');
  const ledger = new NodeLedger();
  const heard: string[] = [];
  ledger.onStored((o, s) => heard.push(`${o}#${s}`));
  const make = (): EscapedFileSink =>
    new EscapedFileSink(dir, 'f-%{rolltag}', getFormat('raw'), {
      ...testContext({ dataDir, ledger }),
      tags: { rolltag: String(Math.random()) },
    });
  const a = make();
  await a.open();
  await a.append(batch('agent1', 5, [makeEvent('five')]));
  await a.append(batch('agent1', 5, [makeEvent('five')]));
  assert.deepEqual(heard, [], 'not durable yet');
  await a.flush();
  assert.deepEqual(heard, ['agent1#5']);
  await a.close();
  const b = make();
  await b.open();
  assert.deepEqual(await ledger.isStored('agent1', [4, 5, 6]), [5], 'the open writer answers from its durable index');
  await b.append(batch('agent1', 5, [makeEvent('five')]));
  await b.append(batch('agent1', 6, [makeEvent('six')]));
  await b.close();
  // The resend of 5 is acked again: the agent that resent it may still be waiting.
  assert.deepEqual(heard, ['agent1#5', 'agent1#5', 'agent1#6']);
  const all = listAll(dir)
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
    .sort();
  assert.deepEqual(all, ['five\n', 'six\n'], 'each batch stored once');
});

test('collectorSink writes prefix+rolltag files, one generation per roll, acked to the ledger at each roll', async () => {
  const { NodeLedger } = await import('../../node/ledger');
  const { collectorSinkDef } = await import('./collector-sink');
  const dir = path.join(root, 'collector');
  const ledger = new NodeLedger();
  const heard: number[] = [];
  ledger.onStored((_o, s) => heard.push(s));
  const sink = collectorSinkDef.create(
    ResolvedArgs.of('collectorSink', { dir: `file://${dir}/%Y/`, prefix: 'web-', millis: 60_000, format: 'raw' }),
    testContext({ ledger, dataDir: path.join(root, 'collector-data') }),
  ) as RollSink;
  await sink.open();
  await sink.append(batch('a', 1, [makeEvent('one', { timestamp: Date.UTC(2025, 0, 1) })]));
  assert.deepEqual(heard, []);
  await sink.roll();
  assert.deepEqual(heard, [1], 'stored once the roll closed its files');
  await sink.append(batch('a', 2, [makeEvent('two', { timestamp: Date.UTC(2025, 0, 1) })]));
  await sink.close();
  assert.deepEqual(heard, [1, 2]);
  const files = listAll(dir);
  assert.equal(files.length, 2);
  assert.ok(
    files.every((f) => /^2025\/web-\d{8}-\d{9}\+0000\.\d+\.\d+$/.test(f)),
    files.join(),
  );
});

test('files a crashed process left as .tmp are finished by the next writer of the same templates', async () => {
  const dir = path.join(root, 'orphans');
  const ctx = testContext({ dataDir: path.join(root, 'orphans-data') });
  const crashed = new EscapedFileSink(dir, 'o-%{svc}', getFormat('raw'), ctx, undefined, 'crashedproc');
  await crashed.open();
  await crashed.append(
    batch('o', 1, [
      makeEvent('a', { attributes: new Map([['svc', Buffer.from('x')]]) }),
      makeEvent('b', { attributes: new Map([['svc', Buffer.from('y')]]) }),
    ]),
  );
  // No close: the process "died" here.
  assert.ok(listAll(dir).every((f) => f.endsWith('.tmp')));
  const next = new EscapedFileSink(dir, 'o-%{svc}', getFormat('raw'), ctx);
  await next.open();
  assert.deepEqual(listAll(dir), ['o-x', 'o-y']);
  assert.equal(fs.readFileSync(path.join(dir, 'o-x'), 'utf8'), 'a\n');
  await next.append(batch('o', 2, [makeEvent('c', { attributes: new Map([['svc', Buffer.from('x')]]) })]));
  await next.close();
  assert.deepEqual(listAll(dir), ['o-x', 'o-x.1', 'o-y']);
});

test('batches a crashed writer had written are not written again when replayed', async () => {
  const dir = path.join(root, 'replay');
  const ctx = testContext({ dataDir: path.join(root, 'replay-data') });
  const crashed = new EscapedFileSink(dir, 'r', getFormat('raw'), ctx, undefined, 'deadproc');
  await crashed.open();
  await crashed.append(batch('agent', 1, [makeEvent('one')]));
  await crashed.append(batch('agent', 2, [makeEvent('two')]));
  // Killed before any flush: nothing was recorded as stored, the channel replays both and a third.
  const next = new EscapedFileSink(dir, 'r', getFormat('raw'), ctx);
  await next.open();
  for (const [seq, body] of [
    [1, 'one'],
    [2, 'two'],
    [3, 'three'],
  ] as const)
    await next.append(batch('agent', seq, [makeEvent(body)]));
  await next.close();
  const all = listAll(dir).flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').trimEnd().split('\n'));
  assert.deepEqual(all.sort(), ['one', 'three', 'two']);
});

test('idleMs completes a bucket nobody writes to any more, while the others stay open', async () => {
  const dir = path.join(root, 'idle');
  const s = escapedFileDef.create(
    ResolvedArgs.of('escapedFile', { dir, file: '%{b}.log', format: 'raw', idleMs: 150, maxOpenFiles: 128 }),
    testContext(),
  ) as EscapedFileSink;
  const ev = (body: string, b: string) => makeEvent(body, { attributes: new Map([['b', Buffer.from(b)]]) });
  await s.open();
  await s.append(batch('o', 1, [ev('1', 'old'), ev('2', 'live')]));
  const { waitFor } = await import('../../test/node/helpers');
  let seq = 2;
  await waitFor(
    async () => {
      await s.append(batch('o', seq++, [ev('x', 'live')]));
      return listAll(dir).includes('old.log');
    },
    20_000,
    'the idle bucket to be completed',
  );
  assert.ok(
    listAll(dir).some((f) => f.startsWith('live.log.') && f.endsWith('.tmp')),
    'the live one is still open',
  );
  await s.close();
  assert.deepEqual(listAll(dir), ['live.log', 'old.log']);
});

test('a batch written by the next process only once when its writer was killed in the middle of it', async () => {
  const dir = path.join(root, 'torn');
  const ctx = testContext({ dataDir: path.join(root, 'torn-data') });
  // No periodic sync: a killed process would not have synced either.
  const crashed = new EscapedFileSink(dir, 't', getFormat('raw'), ctx, { ...ESCAPED_FILE_DEFAULTS, syncMs: 0 }, 'tornproc');
  await crashed.open();
  await crashed.append(batch('agent', 1, [makeEvent('one')]));
  await crashed.append(batch('agent', 2, [makeEvent('two'), makeEvent('three')]));
  // Killed while writing batch 2: only part of its bytes reached the file.
  const [tmp] = listAll(dir);
  fs.truncateSync(path.join(dir, tmp), 'one\ntw'.length);
  const next = new EscapedFileSink(dir, 't', getFormat('raw'), ctx);
  await next.open();
  assert.equal(fs.readFileSync(path.join(dir, 't'), 'utf8'), 'one\n', 'the torn batch is cut off');
  for (const [seq, bodies] of [
    [1, ['one']],
    [2, ['two', 'three']],
  ] as const)
    await next.append(
      batch(
        'agent',
        seq,
        bodies.map((b) => makeEvent(b)),
      ),
    );
  await next.close();
  const all = listAll(dir)
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
    .join('');
  assert.equal(all, 'one\ntwo\nthree\n', 'batch 1 once, batch 2 once and whole');
});

test('two collectors writing one storage: a batch one of them holds is not written by the other', async () => {
  const { NodeLedger } = await import('../../node/ledger');
  const dir = path.join(root, 'shared');
  const ledgerB = new NodeLedger();
  const heardB: string[] = [];
  ledgerB.onStored((o, s) => heardB.push(`${o}#${s}`));
  // Collector A stores batch 1 durably, writes batch 2, and is killed before syncing it.
  const a = new EscapedFileSink(
    `${dir}/%{host}`,
    'a',
    getFormat('raw'),
    testContext({ dataDir: path.join(root, 'shared-a') }),
    undefined,
    'procA',
  );
  await a.open();
  await a.append(batch('agent', 1, [makeEvent('one')]));
  await a.flush();
  await a.append(batch('agent', 2, [makeEvent('two')]));
  // The agent fails over to collector B and resends 1, 2 and 3.
  const b = new EscapedFileSink(
    `${dir}/%{host}`,
    'a',
    getFormat('raw'),
    testContext({ dataDir: path.join(root, 'shared-b'), ledger: ledgerB }),
  );
  await b.open();
  assert.deepEqual(await ledgerB.isStored('agent', [1, 2, 3]), [1, 2], 'B answers for what A holds');
  for (const [seq, body] of [
    [1, 'one'],
    [2, 'two'],
    [3, 'three'],
  ] as const)
    await b.append(batch('agent', seq, [makeEvent(body)]));
  await b.close();
  assert.deepEqual(heardB.sort(), ['agent#1', 'agent#2', 'agent#3'], 'B acks the ones A holds too');
  // A restarts and replays 2 and 3 from its channel: B holds 3 now. (In one test process A's
  // index, and its view of B, is shared with the "crashed" A: let that view age past its refresh.)
  await new Promise((r) => setTimeout(r, 30));
  const a2 = new EscapedFileSink(`${dir}/%{host}`, 'a', getFormat('raw'), testContext({ dataDir: path.join(root, 'shared-a') }));
  await a2.open();
  await a2.append(batch('agent', 2, [makeEvent('two')]));
  await a2.append(batch('agent', 3, [makeEvent('three')]));
  await a2.close();
  const all = listAll(dir).flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').trimEnd().split('\n'));
  assert.deepEqual(all.sort(), ['one', 'three', 'two'], 'each batch once across both collectors');
});

test(
  'on a full disk a batch goes in whole or not at all, and the same batch is written when tried again',
  { skip: process.getuid?.() !== 0 ? 'needs root to mount a small tmpfs' : false },
  async () => {
    const dir = path.join(root, 'full-disk');
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
    try {
      const s = new EscapedFileSink(dir, 'out.log', getFormat('raw'), testContext(), { ...ESCAPED_FILE_DEFAULTS, syncMs: 0 });
      await s.open();
      const st = fs.statfsSync(dir);
      fs.writeFileSync(path.join(dir, '.ballast'), Buffer.alloc(st.bavail * st.bsize - 5 * 4096));
      // Batches of three 1000-byte lines: writes straddle pages, so the last ones come up short.
      const make = (seq: number): ReturnType<typeof batch> =>
        batch(
          'o',
          seq,
          [0, 1, 2].map((i) => makeEvent(`${String(seq * 3 + i).padStart(6, '0')} ${'x'.repeat(992)}`)),
        );
      let seq = 0;
      let failed: ReturnType<typeof batch> | null = null;
      while (!failed) {
        const b = make(++seq);
        await s.append(b).catch((err: NodeJS.ErrnoException) => {
          assert.equal(err.code, 'ENOSPC');
          failed = b;
        });
      }
      const tmp = listAll(dir).filter((f) => f.endsWith('.tmp'));
      assert.equal(tmp.length, 1);
      const held = fs.readFileSync(path.join(dir, tmp[0]), 'utf8');
      assert.equal(held.length, (seq - 1) * 3 * 1000, 'only the batches written whole are in the file');
      fs.rmSync(path.join(dir, '.ballast'));
      await s.append(failed!); // not dropped as "already stored": its write failed
      await s.append(make(++seq));
      await s.close();
      const lines = fs.readFileSync(path.join(dir, 'out.log'), 'utf8').split('\n').filter(Boolean);
      assert.equal(lines.length, seq * 3);
      assert.ok(
        lines.every((l) => /^\d{6} x{992}$/.test(l)),
        'no torn line',
      );
      assert.equal(new Set(lines).size, lines.length, 'no line twice');
    } finally {
      execFileSync('umount', [dir]);
    }
  },
);
