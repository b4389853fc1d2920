import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeEvents, verifyBatch } from '../event';
import { ResolvedArgs, type DecoratorDef } from '../registry';
import { batch, bodies, RecordingSink, testContext } from '../../test/node/helpers';
import { DECORATORS } from './index';

function deco(name: string, args: Record<string, string | number | boolean | (string | number)[]>, inner = new RecordingSink()) {
  const def = DECORATORS.find((d) => d.name === name) as DecoratorDef;
  assert.ok(def, `decorator ${name} registered`);
  const defaults: Record<string, string | number | boolean> = {};
  for (const a of def.args) if (a.default !== undefined) defaults[a.name] = a.default;
  const sink = def.create(ResolvedArgs.of(name, { ...defaults, ...args }), testContext(), inner);
  return { sink, inner };
}

function attr(e: { attributes: Map<string, Buffer> }, k: string): string | undefined {
  return e.attributes.get(k)?.toString();
}

test('value sets an attribute on every event and keeps the batch id, body and other fields', async () => {
  const { sink, inner } = deco('value', { attr: 'dc', val: 'eu-1' });
  const input = bodies(['a', 'b'], {
    attributes: new Map([
      ['k', Buffer.from('v')],
      ['dc', Buffer.from('old')],
    ]),
  });
  await sink.append(batch('o', 7, input));
  const [out] = inner.batches;
  assert.equal(out.origin, 'o');
  assert.equal(out.seq, 7);
  verifyBatch(out.bytes);
  const events = decodeEvents(out.bytes);
  assert.deepEqual(
    events.map((e) => [e.body.toString(), attr(e, 'dc'), attr(e, 'k'), e.host, e.timestamp]),
    [
      ['a', 'eu-1', 'v', 'h1', 1_700_000_000_000],
      ['b', 'eu-1', 'v', 'h1', 1_700_000_000_000],
    ],
  );
});

test('mask drops the named attributes, select keeps only them', async () => {
  const attributes = new Map([
    ['a', Buffer.from('1')],
    ['b', Buffer.from('2')],
    ['c', Buffer.from('3')],
  ]);
  const m = deco('mask', { attrs: ['a', 'c'] });
  await m.sink.append(batch('o', 1, bodies(['x'], { attributes })));
  assert.deepEqual([...decodeEvents(m.inner.batches[0].bytes)[0].attributes.keys()], ['b']);
  const s = deco('select', { attrs: ['a', 'c'] });
  await s.sink.append(batch('o', 1, bodies(['x'], { attributes })));
  const e = decodeEvents(s.inner.batches[0].bytes)[0];
  assert.deepEqual([...e.attributes.keys()].sort(), ['a', 'c']);
  assert.equal(e.body.toString(), 'x');
});

test('format rewrites the body from a template with escapes', async () => {
  const { sink, inner } = deco('format', { template: '%Y-%m-%d %{host} %{lvl}: %{body}' });
  await sink.append(batch('o', 1, bodies(['hello'], { attributes: new Map([['lvl', Buffer.from('warn')]]) })));
  assert.deepEqual(inner.bodies(), ['2023-11-14 h1 warn: hello']);
  assert.equal(attr(inner.events()[0], 'lvl'), 'warn');
});

test('regex, regexAll and split extract into attributes', async () => {
  const r = deco('regex', { regex: '(\\d+) ms', idx: 1, attr: 'latency' });
  await r.sink.append(batch('o', 1, bodies(['took 35 ms', 'no number'])));
  assert.deepEqual(
    r.inner.events().map((e) => attr(e, 'latency')),
    ['35', ''],
  );
  const all = deco('regexAll', { regex: '(\\w+)=(\\w+)', attrs: ['key', 'value'] });
  await all.sink.append(batch('o', 1, bodies(['user=bob', '---'])));
  assert.deepEqual(
    all.inner.events().map((e) => [attr(e, 'key'), attr(e, 'value')]),
    [
      ['user', 'bob'],
      [undefined, undefined],
    ],
  );
  const sp = deco('split', { regex: ',\\s*', idx: 2, attr: 'third' });
  await sp.sink.append(batch('o', 1, bodies(['a, b, c, d', 'a,b'])));
  assert.deepEqual(
    sp.inner.events().map((e) => attr(e, 'third')),
    ['c', ''],
  );
});

test('exDate parses a date attribute into date fields', async () => {
  const { sink, inner } = deco('exDate', { attr: 'ts', pattern: 'yyyy-MM-dd HH:mm:ss' });
  await sink.append(batch('o', 1, bodies(['x', 'y'], { attributes: new Map([['ts', Buffer.from('2024-03-05 07:08:09')]]) })));
  await sink.append(batch('o', 2, bodies(['z'])));
  const [e, , plain] = inner.events();
  assert.deepEqual(
    ['year', 'month', 'day', 'hr', 'min', 'sec'].map((f) => attr(e, `date${f}`)),
    ['2024', '03', '05', '07', '08', '09'],
  );
  assert.equal(plain.attributes.size, 0);
});

test('intervalSampler keeps one in n across batches; probSampler 0 and 1; reservoirSampler keeps k in order', async () => {
  const iv = deco('intervalSampler', { n: 3 });
  await iv.sink.append(batch('o', 1, bodies(['0', '1', '2', '3'])));
  await iv.sink.append(batch('o', 2, bodies(['4', '5', '6'])));
  assert.deepEqual(iv.inner.bodies(), ['0', '3', '6']);
  const none = deco('probSampler', { p: 0 });
  await none.sink.append(batch('o', 1, bodies(['a', 'b'])));
  assert.equal(none.inner.batches.length, 0, 'an empty batch is not passed on');
  const all = deco('probSampler', { p: 1 });
  const b = batch('o', 1, bodies(['a', 'b']));
  await all.sink.append(b);
  assert.equal(all.inner.received[0].bytes, b.bytes, 'an unchanged batch passes through untouched');
  const rs = deco('reservoirSampler', { k: 5 });
  const lines = Array.from({ length: 50 }, (_, i) => String(i).padStart(2, '0'));
  await rs.sink.append(batch('o', 1, bodies(lines)));
  const kept = rs.inner.bodies();
  assert.equal(kept.length, 5);
  assert.deepEqual([...kept].sort(), kept, 'original order kept');
  assert.equal(new Set(kept).size, 5);
});

test('gzip then gunzip gives back the batch byte for byte; gunzip passes other batches untouched', async () => {
  const end = new RecordingSink();
  const g = deco('gunzip', {}, end);
  const z = deco('gzip', {}, g.sink as RecordingSink);
  const b = batch('o', 9, bodies(Array.from({ length: 200 }, (_, i) => `line ${i} `.repeat(5))));
  await z.sink.append(b);
  assert.deepEqual(end.batches[0].bytes, b.bytes);
  assert.equal(end.batches[0].seq, 9);
  const plain = batch('o', 10, bodies(['x']));
  await g.sink.append(plain);
  assert.equal(end.received[1].bytes, plain.bytes);
});

test('batch gathers small batches into one of n events and acks each part only after the gathered batch is delivered', async () => {
  const { sink, inner } = deco('batch', { n: 5, ms: 60_000 });
  let acked = 0;
  const parts = [0, 1, 2].map((i) => sink.append(batch('o', i + 1, bodies([`${i}a`, `${i}b`]))).then(() => acked++));
  await Promise.all(parts);
  assert.equal(acked, 3);
  assert.equal(inner.batches.length, 1);
  assert.equal(inner.batches[0].count, 6);
  assert.equal(inner.batches[0].seq, 1);
  verifyBatch(inner.batches[0].bytes);
  assert.deepEqual(inner.bodies(), ['0a', '0b', '1a', '1b', '2a', '2b']);
  // A failure downstream fails every part, so the driver retries them.
  inner.failNext = 1;
  const failing = [sink.append(batch('o', 4, bodies(['x']))), sink.append(batch('o', 5, bodies(['y', 'z', 'w', 'v'])))];
  const results = await Promise.allSettled(failing);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  // A partial batch goes out after ms, or on close.
  const t = deco('batch', { n: 100, ms: 20 });
  await t.sink.append(batch('o', 1, bodies(['late'])));
  assert.deepEqual(t.inner.bodies(), ['late']);
});

test('unbatch splits a batch into one-event batches with stable ids', async () => {
  const { sink, inner } = deco('unbatch', {});
  await sink.append(batch('o', 3, bodies(['a', 'b', 'c'])));
  assert.deepEqual(
    inner.batches.map((b) => [b.origin, b.seq, b.count]),
    [
      ['o#3', 1, 1],
      ['o#3', 2, 1],
      ['o#3', 3, 1],
    ],
  );
  assert.deepEqual(inner.bodies(), ['a', 'b', 'c']);
});

test('delay holds a batch; choke limits bytes per second', async () => {
  const d = deco('delay', { ms: 50 });
  const t0 = Date.now();
  await d.sink.append(batch('o', 1, bodies(['a'])));
  assert.ok(Date.now() - t0 >= 45);
  assert.equal(d.inner.batches.length, 1);
  const b = batch('o', 1, bodies(['x'.repeat(500)]));
  const c = deco('choke', { bytesPerSec: b.bytes.length * 10 });
  const t1 = Date.now();
  for (let i = 0; i < 15; i++) await c.sink.append(b);
  // 10 batches' worth of tokens at start, the 5 more need about half a second.
  assert.ok(Date.now() - t1 >= 400, `choke let 15 batches through in ${Date.now() - t1} ms`);
  assert.equal(c.inner.batches.length, 15);
});

test('a decorator that changes nothing passes the batch bytes on untouched', async () => {
  const plain = batch('o', 1, bodies(['no attributes here']));
  const m = deco('mask', { attrs: ['a'] });
  await m.sink.append(plain);
  assert.equal(m.inner.received[0].bytes, plain.bytes);
  const withOther = batch('o', 2, bodies(['x'], { attributes: new Map([['b', Buffer.from('1')]]) }));
  await m.sink.append(withOther);
  assert.equal(m.inner.received[1].bytes, withOther.bytes);
  const ex = deco('exDate', { attr: 'ts', pattern: 'yyyy-MM-dd' });
  await ex.sink.append(plain);
  assert.equal(ex.inner.received[0].bytes, plain.bytes);
});
