/**
 * A real flume-master (mutual TLS, as the suite runs) under floods of its gRPC port: 3000 idle
 * connections (over the connection cap), TLS connections that never speak HTTP/2, a PING flood
 * whose answers are never read, a header block over the limit and a stream flood (each closes its
 * connection, counted by name), and a node that never reads its control stream while the master
 * has ever larger directives for it. Meanwhile a
 * good node keeps heartbeating (never LOST), admin commands succeed and /metrics answers; the
 * master's memory stays within a stated bound and /metrics names what was refused.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import { after, before, test } from 'node:test';
import { messageType } from '../../proto';
import { nodeStateName } from '../../proto/control';
import { tempDir, waitFor } from '../harness/procs';
import { TestCerts, testsInsecure } from '../harness/tls';
import { AdminClient, type MasterProc, startMasterProc, startTestNode } from '../master/helpers';
import type { Proc } from '../harness/procs';
import { idleConnections, metricIn, noCertificate, oversizedHeaders, pingFlood, RssProbe, scrape } from './floods';

/** The bound this test holds the master to, MB of RSS above its size before the floods. */
const GROWTH_BOUND_MB = 100;

const certs = TestCerts.shared();
const dir = tempDir('flume-master-floods-');
let master: MasterProc;
let good: Proc;
let admin: AdminClient;
const cleanups: Array<() => unknown> = [];

before(async () => {
  if (testsInsecure()) return;
  master = await startMasterProc(['--data', dir.path], false, {
    FLUME_LIMITS_MASTER_MAX_CONNECTIONS: '1000',
    FLUME_LIMITS_MASTER_HANDSHAKE_TIMEOUT_MS: '10000',
    FLUME_LIMITS_MASTER_IDLE_TIMEOUT_MS: '60000',
    FLUME_LIMITS_MASTER_QUEUED_BYTES: '256k',
  });
  good = await startTestNode('good', [master.address], 200);
  admin = new AdminClient(master.address);
});

after(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  admin?.close();
  await good?.stop();
  await master?.proc.stop();
  dir.remove();
});

const ca = (): Buffer => fs.readFileSync(certs.files('master', 'master').ca);
const clientTls = (name?: string): tls.ConnectionOptions => {
  const f = name ? certs.files('agent', name) : undefined;
  return { ca: ca(), checkServerIdentity: () => undefined, ...(f ? { cert: fs.readFileSync(f.cert), key: fs.readFileSync(f.key) } : {}) };
};

function h2(name?: string): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${master.grpcPort}`, clientTls(name));
  session.on('error', () => undefined);
  cleanups.push(() => session.destroy());
  return session;
}

/** A gRPC message: its 5-byte prefix and bytes. */
function grpcMessage(bytes: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

const closed = (s: http2.ClientHttp2Session): Promise<void> =>
  new Promise((resolve) => (s.closed || s.destroyed ? resolve() : s.once('close', () => resolve())));

async function metrics(): Promise<string> {
  return scrape(`https://127.0.0.1:${master.httpPort}`);
}

async function counter(name: string): Promise<number> {
  return metricIn(await metrics(), `flume_${name}_total`, 'component="grpc"');
}

/** The good node's state as the master sees it. */
async function goodState(): Promise<string> {
  const n = (await admin.nodes()).find((x) => x.physical === 'good');
  return n ? nodeStateName(n.state) : 'unknown';
}

test(
  'master gRPC port: idle, PING, header and stream floods and a node that never reads are cut off and counted, memory stays bounded, a good node and admin commands are served',
  { skip: testsInsecure() ? 'about TLS ports' : false, timeout: 120_000 },
  async () => {
    await waitFor(async () => (await goodState()) === 'ACTIVE' || (await goodState()) === 'IDLE', 20_000, 'the good node known');
    const probe = new RssProbe(master.proc.pid!);
    cleanups.push(() => probe.stop());
    const before = probe.sample();
    // The good node stays served all along: checked every 500 ms until the floods are over.
    const states = new Set<string>();
    const failures: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        await goodState().then(
          (s) => states.add(s),
          (err: Error) => failures.push(`node status: ${err.message}`),
        );
        await metrics().catch((err: Error) => failures.push(`/metrics: ${err.message}`));
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    cleanups.push(() => {
      watching = false;
      return watcher;
    });

    // 3000 connections that never start TLS, over the cap of 1000: refused at once, the rest
    // closed when their handshake times out (10 s); then 50 that finish TLS but never call.
    const t0 = Date.now();
    const step = (what: string): void => console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
    const idle = await idleConnections(master.grpcPort, 3000, 20_000);
    step('3000 idle connections opened');
    assert.equal(await idle.closed, 0, 'idle connections left open by the master');
    step('3000 idle connections closed');
    const mute = await Promise.all(
      Array.from(
        { length: 50 },
        () =>
          new Promise<tls.TLSSocket>((resolve) => {
            const s = tls.connect({ port: master.grpcPort, host: '127.0.0.1', ...clientTls(), ALPNProtocols: ['h2'] }, () => resolve(s));
            s.on('error', () => undefined);
            s.on('data', () => undefined); // reads, or the server's close would go unseen
            s.on('close', () => resolve(s));
          }),
      ),
    );
    step(`50 mute TLS connections open: ${mute.filter((s) => !s.destroyed).length}`);
    await Promise.all(mute.map((s) => new Promise((r) => (s.destroyed ? r(undefined) : s.once('close', r)))));
    step('50 mute TLS connections closed');
    const refused = await counter('connections_refused');
    assert.ok(refused >= 1, 'connections over the cap refused and counted');
    // At least: a good client that connects while the flood fills the cap is refused too.
    const idleClosed = await counter('connections_closed_idle');
    assert.ok(refused + idleClosed >= 3050, `every idle connection refused (${refused}) or closed (${idleClosed}), and counted`);
    step(`refused ${refused}, closed idle ${idleClosed}`);
    const afterIdle = probe.sample();

    // PINGs never read, without a certificate: the session is ended for the flood.
    assert.equal(await pingFlood(noCertificate(master.grpcPort, ca()), 100, 30_000), 'closed', 'the PING flood was cut off');
    await waitFor(async () => (await counter('connections_closed_flood')) >= 1, 10_000, 'the PING flood counted');

    step('PING flood cut off');
    // A header block over the 16 KB limit: refused before any handler (no response), then its
    // connection closed and counted. Once sent after the master's SETTINGS (nghttp2 refuses it),
    // once in the client's first flight (nghttp2 does not apply the limit yet: the guard does).
    const header = h2();
    await new Promise((resolve) => header.once('remoteSettings', resolve));
    const big = await oversizedHeaders(header, '/flume.Admin/Submit');
    assert.doesNotMatch(big, /^response/, `the oversized header block was refused (${big})`);
    await closed(header);
    assert.equal(await counter('connections_closed_headers'), 1, 'the header flood counted by name');
    const early = h2();
    const firstFlight = await oversizedHeaders(early, '/flume.Admin/Submit');
    await closed(early);
    assert.equal(await counter('connections_closed_headers'), 2, 'the header block of a first flight counted by name');

    step(`header flood: ${big}, first flight: ${firstFlight}, connections closed`);
    // A node's certificate opening 300 half-sent control streams: the master lets nghttp2 take
    // 128, and closes the connection once more than 64 are open.
    const flood = h2('flooder');
    const settings = new Promise<http2.Settings>((resolve) => flood.once('remoteSettings', resolve));
    const half = Buffer.alloc(256 * 1024, 1);
    half.writeUInt8(0, 0);
    half.writeUInt32BE(4 * 1024 * 1024 - 16, 1);
    for (let i = 0; i < 300; i++) {
      const s = flood.request({ ':method': 'POST', ':path': '/flume.Master/Control', 'content-type': 'application/grpc', te: 'trailers' });
      s.on('error', () => undefined);
      s.write(half);
    }
    const limit = (await settings).maxConcurrentStreams;
    assert.equal(limit, 128, 'nghttp2 allows twice the stream limit, so the guard sees a client over it');
    await closed(flood);
    assert.equal(await counter('connections_closed_streams'), 1, 'the stream flood counted by name');

    step('stream flood: connection closed');
    // A node that sends its report and never reads: its directives grow past 256 KB queued.
    const sloth = h2('sloth');
    const control = sloth.request({
      ':method': 'POST',
      ':path': '/flume.Master/Control',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    control.on('error', () => undefined);
    control.pause();
    const report = messageType('NodeReport');
    const status = { physical: 'sloth', host: 'h', role: 'agent', startedAt: Date.now(), logical: [] };
    control.write(grpcMessage(report.encode(report.fromObject({ sentAtMs: Date.now(), status, chains: [] })).finish()));
    const slothClosed = new Promise<void>((resolve) => sloth.once('close', () => resolve()));
    const padding = 'p'.repeat(8 * 1024);
    for (let i = 0; i < 40 && (await counter('streams_closed_unread')) === 0; i++) {
      assert.equal((await admin.exec('config', `slow${i}`, `text("/tmp/${padding}${i}")`, 'console')).state, 2);
      assert.equal((await admin.exec('map', 'sloth', `slow${i}`)).state, 2);
    }
    await waitFor(async () => (await counter('streams_closed_unread')) >= 1, 10_000, 'the unread control stream counted');
    await slothClosed;
    step('unread control stream closed');

    // What a good client sees: its commands succeed, its node is never LOST.
    assert.equal((await admin.exec('config', 'after', 'text("/tmp/after")', 'console')).state, 2, 'an admin command after the floods');
    watching = false;
    await watcher;
    assert.ok(!states.has('LOST'), `the good node's states during the floods: ${[...states].join(', ')}`);
    assert.deepEqual(failures, [], 'node status and /metrics answered all along');
    assert.equal(master.proc.child.exitCode, null, 'the master is still running');
    probe.stop();
    const now = probe.sample();
    console.log(
      `master RSS: ${before.toFixed(0)} MB before, ${afterIdle.toFixed(0)} MB after 3000 idle connections, peak ${probe.peak.toFixed(0)} MB, ${now.toFixed(0)} MB after`,
    );
    assert.ok(
      probe.peak - before < GROWTH_BOUND_MB,
      `the master grew ${(probe.peak - before).toFixed(0)} MB (bound ${GROWTH_BOUND_MB} MB)`,
    );
  },
);
