/** http source: JSON array, single object, NDJSON; invalid JSON → 400 and counted; oversized → 413. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { Priority } from '../../core/event';
import { EVENTS_REJECTED } from '../../core/metrics';
import { HttpSource } from '../../agent/sources/http';
import { SourceHarness } from './harness';

function post(
  port: number,
  body: string | Buffer,
  method = 'POST',
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: '/events', headers: { 'Content-Length': String(Buffer.byteLength(body)), ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('http: a JSON array, a single object and NDJSON are committed before the 200', async (t) => {
  const h = await SourceHarness.start((ctx) => new HttpSource(ctx, { port: 0 }));
  t.after(() => h.cleanup());
  const port = h.source.port;
  const arr = await post(
    port,
    JSON.stringify([
      { body: 'a1', attributes: { k: 'v' }, timestamp: 1_700_000_000_123, priority: 'WARN', host: 'web01' },
      { body: 'YTI=', encoding: 'base64', timestamp: '2024-01-02T03:04:05.006Z', priority: 1 },
    ]),
  );
  assert.equal(arr.status, 200);
  assert.deepEqual(JSON.parse(arr.body), { accepted: 2 });
  // 2xx means committed: the events are in the channel already.
  const st = h.channel.stats();
  assert.ok(st.batches + st.inFlight + h.batchCount >= 1, 'the batch is in the channel or taken from it');
  const one = await post(port, JSON.stringify({ body: 'single' }));
  assert.equal(one.status, 200);
  const nd = await post(port, Array.from({ length: 2500 }, (_, i) => JSON.stringify({ body: `nd ${i}` })).join('\n') + '\n');
  assert.equal(nd.status, 200);
  assert.deepEqual(JSON.parse(nd.body), { accepted: 2500 });
  await h.waitForEvents(2503);
  await h.stop();
  const [a1, a2, single] = h.events;
  assert.equal(a1.body.toString(), 'a1');
  assert.equal(a1.attributes.get('k')?.toString(), 'v');
  assert.equal(a1.timestamp, 1_700_000_000_123);
  assert.equal(a1.priority, Priority.WARN);
  assert.equal(a1.host, 'web01');
  assert.equal(a2.body.toString(), 'a2');
  assert.equal(a2.timestamp, Date.UTC(2024, 0, 2, 3, 4, 5, 6));
  assert.equal(a2.priority, Priority.ERROR);
  assert.equal(a2.host, '127.0.0.1');
  assert.equal(single.body.toString(), 'single');
  assert.deepEqual(
    h.bodies().slice(3),
    Array.from({ length: 2500 }, (_, i) => `nd ${i}`),
  );
  assert.equal(h.ctx.counters.get(EVENTS_REJECTED), 0);
});

test('http: invalid JSON and invalid events get 400 naming the problem, are counted, and keep nothing', async (t) => {
  const h = await SourceHarness.start((ctx) => new HttpSource(ctx, { port: 0, maxBodyBytes: 4096 }));
  t.after(() => h.cleanup());
  const port = h.source.port;
  const broken = await post(port, '[{"body": "x"}, {"body": ');
  assert.equal(broken.status, 400);
  assert.match(JSON.parse(broken.body).error, /not valid JSON/);
  const ndBroken = await post(port, '{"body":"ok"}\n{"body": nope}\n');
  assert.equal(ndBroken.status, 400);
  assert.match(JSON.parse(ndBroken.body).error, /NDJSON line 2/);
  const badEvent = await post(port, JSON.stringify([{ body: 'ok' }, { body: 5, prio: 'x' }]));
  assert.equal(badEvent.status, 400);
  const msg = JSON.parse(badEvent.body).error as string;
  assert.match(msg, /event 1: unknown field "prio"/);
  assert.match(msg, /event 1: body must be a string/);
  const big = await post(port, JSON.stringify([{ body: 'x'.repeat(5000) }]));
  assert.equal(big.status, 413);
  const get = await post(port, '', 'GET');
  assert.equal(get.status, 405);
  // A well-behaved client is served meanwhile and after.
  const good = await post(port, '{"body":"good"}');
  assert.equal(good.status, 200);
  await h.waitForEvents(1);
  await h.stop();
  assert.deepEqual(h.bodies(), ['good']);
  assert.equal(h.ctx.counters.get(EVENTS_REJECTED), 4);
});

test('http: a chunked body that grows over the limit gets 413 and the connection closes; others are served', async (t) => {
  const h = await SourceHarness.start((ctx) => new HttpSource(ctx, { port: 0, maxBodyBytes: 10_000 }));
  t.after(() => h.cleanup());
  const port = h.source.port;
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (err) =>
      (err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'EPIPE' ? resolve(-1) : reject(err),
    );
    req.write('[' + '{"body":"x"},'.repeat(500));
    req.write('{"body":"x"},'.repeat(500));
    req.end('{"body":"x"}]');
  });
  // 413, or a reset when the server closed before the client finished sending: both refuse it.
  assert.ok(status === 413 || status === -1, `status ${status}`);
  const ok = await post(port, '{"body":"still served"}');
  assert.equal(ok.status, 200);
  await h.waitForEvents(1);
  await h.stop();
  assert.deepEqual(h.bodies(), ['still served']);
  assert.equal(h.ctx.counters.get(EVENTS_REJECTED), 1);
});

test('http: gzip bodies are inflated within the limit; a gzip bomb gets 413, bad gzip 400, other encodings 415', async (t) => {
  const h = await SourceHarness.start((ctx) => new HttpSource(ctx, { port: 0, maxBodyBytes: 100_000 }));
  t.after(() => h.cleanup());
  const port = h.source.port;
  const gz = { 'Content-Encoding': 'gzip' };
  const ok = await post(port, zlib.gzipSync(JSON.stringify([{ body: 'zipped 1' }, { body: 'zipped 2' }])), 'POST', gz);
  assert.equal(ok.status, 200);
  const bomb = await post(port, zlib.gzipSync(Buffer.alloc(5_000_000, 0x20)), 'POST', gz).catch(() => ({ status: -1, body: '' }));
  assert.ok(bomb.status === 413 || bomb.status === -1, `status ${bomb.status}`);
  const bad = await post(port, 'not gzip at all', 'POST', gz);
  assert.equal(bad.status, 400);
  assert.match(JSON.parse(bad.body).error, /not valid gzip/);
  const br = await post(port, '{"body":"x"}', 'POST', { 'Content-Encoding': 'br' });
  assert.equal(br.status, 415);
  await h.waitForEvents(2);
  await h.stop();
  assert.deepEqual(h.bodies(), ['zipped 1', 'zipped 2']);
  assert.equal(h.ctx.counters.get(EVENTS_REJECTED), 3);
});
