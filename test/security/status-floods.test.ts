/**
 * The HTTPS status ports of a real master and a real node (mutual TLS, as the suite runs) under
 * abuse: 300 idle connections (over the cap of 64), a slowloris, a header block over the limit
 * and a keep-alive connection left idle. Each is refused or closed and counted on the `http`
 * component of /metrics; /metrics keeps answering a good client, and the process's memory stays
 * within a stated bound.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { after, test } from 'node:test';
import { spawnFlume, statusBase, tempDir, waitFor, type Proc } from '../harness/procs';
import { TestCerts, testsInsecure } from '../harness/tls';
import { startMasterProc } from '../master/helpers';
import { idleConnections, metricIn, rawRequest, RssProbe, scrape, slowloris } from './floods';

/** The bound this test holds each process to, MB of RSS above its size before the floods. */
const GROWTH_BOUND_MB = 60;

const LIMITS = {
  FLUME_LIMITS_STATUS_MAX_CONNECTIONS: '64',
  FLUME_LIMITS_STATUS_REQUEST_TIMEOUT_MS: '1000',
  FLUME_LIMITS_STATUS_IDLE_TIMEOUT_MS: '2000',
};

const certs = TestCerts.shared();
const dir = tempDir('flume-status-floods-');
const procs: Proc[] = [];
after(async () => {
  for (const p of procs) await p.stop();
  dir.remove();
});

const reader = (): tls.ConnectionOptions => {
  const f = certs.files('read-only', 'viewer');
  return { ca: fs.readFileSync(f.ca), cert: fs.readFileSync(f.cert), key: fs.readFileSync(f.key) };
};

async function flood(label: string, pid: number, base: string): Promise<void> {
  const port = Number(new URL(base).port);
  const counter = async (name: string): Promise<number> => metricIn(await scrape(base), `flume_${name}_total`, 'component="http"');
  const probe = new RssProbe(pid);
  const before = probe.sample();
  try {
    // 300 connections that never start TLS: over the cap refused, the rest closed at the handshake timeout.
    const idle = await idleConnections(port, 300, 15_000);
    // While the cap is full a scrape is refused too; it gets through once the handshake timeout frees a slot.
    await waitFor(() => scrape(base).catch(() => undefined), 5_000, `${label}: /metrics answering during the idle flood`);
    assert.equal(await idle.closed, 0, 'idle connections left open');
    const refused = await counter('connections_refused');
    assert.ok(refused >= 1, `${label}: connections over the cap refused and counted`);
    assert.ok(
      refused + (await counter('connections_closed_idle')) >= 300,
      `${label}: every idle connection refused or closed, and counted`,
    );

    // A slowloris: headers trickled one byte every 100 ms are cut off after the request timeout.
    const started = Date.now();
    const slow = await slowloris(port, reader(), 100, 15_000);
    assert.match(slow, /^HTTP\/1\.1 408|closed without an answer/, `${label}: slowloris answered ${slow.slice(0, 40)}`);
    assert.ok(Date.now() - started < 10_000, `${label}: slowloris cut off after ${Date.now() - started} ms`);
    await waitFor(async () => (await counter('connections_closed_slow')) >= 1, 5_000, `${label}: the slowloris counted`);

    // Headers over 16 KB: 431, counted.
    const big = await rawRequest(port, reader(), `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(32 * 1024)}\r\n\r\n`, 10_000);
    assert.match(big, /^HTTP\/1\.1 431/, `${label}: oversized headers answered ${big.slice(0, 40)}`);
    assert.ok((await counter('connections_closed_headers')) >= 1, `${label}: the header flood counted`);

    // A keep-alive connection left idle after its request is closed by the server.
    const idleBefore = await counter('connections_closed_idle');
    const kept = await rawRequest(port, reader(), 'GET /status HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n', 15_000);
    assert.match(kept, /^HTTP\/1\.1 200/, `${label}: the keep-alive request was served`);
    assert.ok((await counter('connections_closed_idle')) > idleBefore, `${label}: the idle keep-alive connection closed and counted`);
  } finally {
    probe.stop();
  }
  console.log(`${label} RSS: ${before.toFixed(0)} MB before, peak ${probe.peak.toFixed(0)} MB, ${probe.sample().toFixed(0)} MB after`);
  assert.ok(probe.peak - before < GROWTH_BOUND_MB, `${label} grew ${(probe.peak - before).toFixed(0)} MB (bound ${GROWTH_BOUND_MB} MB)`);
}

test(
  "the master's HTTPS status port refuses idle floods, slowloris, oversized headers and idle keep-alives, counts each, and keeps serving /metrics",
  { skip: testsInsecure() ? 'about TLS ports' : false, timeout: 60_000 },
  async () => {
    const master = await startMasterProc(['--data', path.join(dir.path, 'master')], false, LIMITS);
    procs.push(master.proc);
    await flood('master', master.proc.pid!, `https://127.0.0.1:${master.httpPort}`);
  },
);

test(
  "a node's HTTPS status port refuses idle floods, slowloris, oversized headers and idle keep-alives, counts each, and keeps serving /metrics",
  { skip: testsInsecure() ? 'about TLS ports' : false, timeout: 60_000 },
  async () => {
    const node = spawnFlume(
      'node',
      [
        '--standalone',
        '-n',
        'statusn',
        '-c',
        'statusn : text("/dev/null") | null ;',
        '--data',
        path.join(dir.path, 'node'),
        '--http-port',
        '0',
      ],
      { env: LIMITS },
    );
    procs.push(node);
    const base = (await statusBase(node)).replace(/^http:/, 'https:');
    await flood('node', node.pid!, base);
  },
);
