/**
 * The limits of a push source's listener (core/limits.ts) in a real flume-node: floods of idle,
 * slow, oversized and garbage connections are closed and counted by name, the process stays
 * within a memory bound, and a good client then delivers every line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { freePort, httpGet, nodeMetric, type Proc, rssMb, spawnFlume, statusBase, tempDir, waitFor } from '../harness/procs';
import { portAccepts } from '../harness/scene';

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

function lines(file: string): string[] {
  return fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.length > 0)
    : [];
}

async function metric(node: Proc, name: string): Promise<number> {
  return (await nodeMetric(node, name)) ?? 0;
}

const LIMITS = {
  FLUME_LIMITS_MAX_CONNECTIONS: '500',
  FLUME_LIMITS_IDLE_TIMEOUT_MS: '3000',
  FLUME_LIMITS_MESSAGE_TIMEOUT_MS: '1000',
  FLUME_LIMITS_BUFFERED_BYTES: String(4 * 1024 * 1024),
};

test('syslogTcp under 3000 idle, slow, oversized and garbage connections: each is closed and counted, memory stays bounded, a good client delivers every line', async (t) => {
  const dir = tempDir();
  const port = await freePort();
  const out = path.join(dir.path, 'out.txt');
  const node = spawnFlume(
    'node',
    [
      '--standalone',
      '-n',
      'relay',
      '--data',
      path.join(dir.path, 'data'),
      '--http-port',
      '0',
      '-c',
      `relay : syslogTcp(${port}) | text(${JSON.stringify(out)}) ;`,
    ],
    { env: LIMITS },
  );
  const clients: net.Socket[] = [];
  t.after(async () => {
    for (const c of clients) c.destroy();
    await node.stop();
    dir.remove();
  });
  await statusBase(node);
  await waitFor(() => portAccepts(port), 30_000, 'the syslog port');

  // 3000 idle connections: 500 are kept (until the idle timeout), the other 2500 closed at once.
  for (let i = 0; i < 3000; i++) {
    const s = await connect(port);
    s.on('error', () => undefined);
    clients.push(s);
  }
  // (On a slow machine opening them takes longer than the idle timeout, so some of the first
  // ones are closed idle before the last ones arrive and take their slots: count both.)
  const settled = async (): Promise<number> =>
    (await metric(node, 'flume_connections_refused_total')) + (await metric(node, 'flume_connections_closed_idle_total'));
  await waitFor(async () => (await settled()) >= 3000, 30_000, 'every connection refused or closed idle').catch(async (err) =>
    assert.fail(`${(err as Error).message}: ${await settled()}\n${node.tail(10)}`),
  );
  assert.ok((await metric(node, 'flume_connections_refused_total')) > 0, 'the flood went over the limit');
  // The process still answers its own HTTP port.
  assert.equal((await httpGet(`${await statusBase(node)}/status`)).status, 200);
  for (const c of clients.splice(0)) c.destroy();

  // Slow: a message trickled a byte at a time past the message timeout.
  const slow = await connect(port);
  slow.on('error', () => undefined);
  clients.push(slow);
  const trickle = setInterval(() => slow.writable && slow.write('x'), 100);
  t.after(() => clearInterval(trickle));
  slow.write('<13>1 2026-12-03T00:00:00Z h app - - - never ends ');
  await waitFor(async () => (await metric(node, 'flume_connections_closed_slow_total')) >= 1, 20_000, 'the slow connection closed');
  clearInterval(trickle);

  // Buffered: 12 connections each holding 600 KB of an unfinished message (7.2 MB > 4 MB).
  const partial = Buffer.alloc(600 * 1024, 0x61);
  for (let i = 0; i < 12; i++) {
    const s = await connect(port);
    s.on('error', () => undefined);
    clients.push(s);
    s.write(`900000 <13>`);
    s.write(partial);
  }
  await waitFor(
    async () => (await metric(node, 'flume_connections_closed_buffered_total')) >= 5,
    20_000,
    'connections closed over the buffered-bytes limit',
  );

  // Their unfinished messages are counted as rejected as each connection ends: let that settle
  // before the garbage connection is measured on its own.
  for (const c of clients.splice(0)) c.destroy();
  let lastRejected = -1;
  const rejectedBefore = await waitFor(
    async () => {
      const now = await metric(node, 'flume_bytes_rejected_total');
      const same = now === lastRejected;
      lastRejected = now;
      return same ? now + 1 : undefined;
    },
    20_000,
    'the rejected-bytes counter to settle',
    500,
  ).then((n) => n - 1);

  // Garbage framing: a 10 GB octet count closes the connection; the bytes counted are the bytes sent.
  const garbage = await connect(port);
  garbage.on('error', () => undefined);
  const closed = new Promise<void>((r) => garbage.on('close', () => r()));
  garbage.write('9999999999 <13>hello');
  await closed;
  await waitFor(async () => (await metric(node, 'flume_connections_closed_framing_total')) >= 1, 10_000, 'the framing error counted');
  const rejected = (await metric(node, 'flume_bytes_rejected_total')) - rejectedBefore;
  assert.ok(rejected > 0 && rejected < 1024, `bytes rejected for the garbage connection: ${rejected}`);

  const rss = rssMb(node.pid);
  t.diagnostic(`flume-node RSS after the floods: ${rss.toFixed(0)} MB`);
  assert.ok(rss < 300, `RSS ${rss} MB`);

  // A good client delivers every line.
  for (const c of clients.splice(0)) c.destroy();
  const good = await connect(port);
  const total = 5000;
  let text = '';
  for (let i = 0; i < total; i++) text += `<13>1 2026-12-03T00:00:00Z h app - - - good ${i}\n`;
  good.end(text);
  await waitFor(() => lines(out).filter((l) => l.includes('good ')).length >= total, 30_000, `${total} good lines in the sink`);
  const got = lines(out).filter((l) => l.includes('good '));
  assert.equal(got.length, total);
  assert.equal(new Set(got).size, total, 'no duplicate');
});

function rawHttp(port: number, request: string, trickleMs = 0): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    s.on('data', (d) => (answer += d.toString()));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearInterval(timer);
      resolve(answer);
    });
    if (trickleMs === 0) s.write(request);
    else {
      let i = 0;
      timer = setInterval(() => {
        if (i < request.length && s.writable) s.write(request[i++]);
      }, trickleMs);
    }
  });
}

test('http source: a slowloris gets 408, a header flood 431, connections over the limit are refused, and a good client is answered', async (t) => {
  const dir = tempDir();
  const port = await freePort();
  const out = path.join(dir.path, 'out.txt');
  const node = spawnFlume(
    'node',
    [
      '--standalone',
      '-n',
      'web',
      '--data',
      path.join(dir.path, 'data'),
      '--http-port',
      '0',
      '-c',
      `web : http(${port}) | text(${JSON.stringify(out)}) ;`,
    ],
    { env: { ...LIMITS, FLUME_LIMITS_MAX_CONNECTIONS: '100' } },
  );
  const held: net.Socket[] = [];
  t.after(async () => {
    for (const s of held) s.destroy();
    await node.stop();
    dir.remove();
  });
  await statusBase(node);
  await waitFor(() => portAccepts(port), 30_000, 'the HTTP port');

  const slowAnswer = await rawHttp(port, 'POST / HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200), 20);
  assert.match(slowAnswer, /^HTTP\/1\.1 408/);
  const floodAnswer = await rawHttp(port, `POST / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(64 * 1024)}\r\n\r\n`);
  assert.match(floodAnswer, /^HTTP\/1\.1 431/);

  const settled = async (): Promise<number> =>
    (await metric(node, 'flume_connections_refused_total')) +
    (await metric(node, 'flume_connections_closed_slow_total')) +
    (await metric(node, 'flume_connections_closed_idle_total'));
  const before = await settled();
  for (let i = 0; i < 300; i++) {
    const s = await connect(port);
    s.on('error', () => undefined);
    held.push(s);
  }
  // A connection that sends nothing is closed at the header timeout: count refusals and those.
  await waitFor(async () => (await settled()) >= before + 300, 30_000, 'every connection refused or closed');
  assert.ok((await metric(node, 'flume_connections_refused_total')) > 0, 'the flood went over the limit');
  for (const s of held.splice(0)) s.destroy();
  assert.ok((await metric(node, 'flume_connections_closed_slow_total')) >= 1);
  assert.ok((await metric(node, 'flume_connections_closed_framing_total')) >= 1);

  const body = JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ body: `event ${i}` })));
  const status = await waitFor(
    () =>
      new Promise<number | undefined>((resolve) => {
        const req = http.request(
          { host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'Content-Type': 'application/json' } },
          (res) => {
            res.resume();
            resolve(res.statusCode === 200 ? 200 : undefined);
          },
        );
        req.on('error', () => resolve(undefined));
        req.end(body);
      }),
    20_000,
    'a good request answered 200',
  );
  assert.equal(status, 200);
  await waitFor(() => lines(out).length >= 100, 20_000, '100 events in the sink');
  assert.equal(lines(out).length, 100);
});
