/**
 * How node/master-client moves between masters when a fleet does, against real masters and a
 * real silent listener in this process (real gRPC and TLS on loopback):
 * - the nodes of a master that goes away spread over the others, though every node lists the
 *   masters in the same order (a fleet's config is one file);
 * - a master that takes a connection but does not answer yet (busy with thousands of TLS
 *   handshakes) is waited for up to 16 × callTimeoutMs, not left after callTimeoutMs for another
 *   master where the handshake starts over;
 * - a master killed -9 (its port refuses connections) is passed over for DOWN_MS while the node
 *   looks for a live master, even when the live ones turn it away at their handshake gates;
 * - with every master down, the node goes on trying each and streams to the first back.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { test } from 'node:test';
import { silentLogger } from '../../core/logger';
import { MASTER_DEFAULTS, startMaster, type RunningMaster } from '../../master/master';
import { MasterClient } from '../../node/master-client';
import { DOWN_MS } from '../../node/master-rotation';
import { tempDir, waitFor } from '../harness/procs';
import { TestCerts, testsInsecure } from '../harness/tls';
import { startMasterProc, type MasterProc } from './helpers';

const certs = TestCerts.shared();

test('the nodes of a master that stops spread over the other masters, though every node lists them in the same order', async (t) => {
  const masters: RunningMaster[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = tempDir(`flume-spread-${i}-`);
    t.after(() => dir.remove());
    const m = await startMaster(
      { ...MASTER_DEFAULTS, port: 0, httpPort: 0, host: '127.0.0.1', data: dir.path, tls: certs.context('master', `m${i}`) },
      silentLogger(),
    );
    masters.push(m);
  }
  t.after(() => Promise.all(masters.slice(1).map((m) => m.stop())));
  const addresses = masters.map((m) => `127.0.0.1:${m.grpcPort}`);
  const clients = Array.from(
    { length: 16 },
    (_, i) =>
      new MasterClient({
        masters: addresses,
        physical: `spread${i}`,
        role: 'agent',
        logger: silentLogger(),
        tls: certs.context('agent', `spread${i}`),
      }),
  );
  t.after(() => Promise.all(clients.map((c) => c.stop())));
  for (const c of clients) c.start();
  await waitFor(() => clients.every((c) => c.master === addresses[0]), 20_000, 'every node on the first master of its list');

  await masters[0].stop();
  await waitFor(() => clients.every((c) => c.master === addresses[1] || c.master === addresses[2]), 20_000, 'every node on a live master');
  const on = [1, 2].map((m) => clients.filter((c) => c.master === addresses[m]).length);
  t.diagnostic(`nodes per surviving master: ${on.join(', ')}`);
  // In list order all 16 went to the second master; at random, all on one is 2 in 65,536.
  assert.ok(
    on.every((n) => n > 0),
    `both survivors took nodes: ${on.join(', ')}`,
  );
});

test('a master whose host takes the connection but does not answer yet is waited for, not left after callTimeoutMs', async (t) => {
  // Takes connections and never says a word, like a master whose event loop is busy for seconds.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const client = new MasterClient({
    masters: [`127.0.0.1:${(silent.address() as net.AddressInfo).port}`],
    physical: 'patient',
    role: 'agent',
    logger: silentLogger(),
    callTimeoutMs: 150,
    tls: certs.context('agent', 'patient'),
  });
  t.after(() => client.stop());
  const waits: number[] = [];
  client.on('broken', ({ reason }) => {
    const m = /no answer within (\d+) ms/.exec(reason);
    if (m) waits.push(Number(m[1]));
  });
  client.start();
  await waitFor(() => waits.length >= 2, 20_000, 'two streams given up');
  t.diagnostic(`waits: ${waits.join(', ')} ms`);
  assert.ok(
    waits.every((w) => w >= 16 * 150),
    `each stream waited 16 × callTimeoutMs: ${waits.join(', ')}`,
  );
});

/** One stream that broke or never answered, as the client's 'broken' event told it, and when. */
interface Attempt {
  master: string;
  reason: string;
  at: number;
}

/** A client of `masters` that records every attempt that failed; stopped with the test. */
function recordingClient(t: { after: (fn: () => unknown) => void }, masters: string[], physical: string): [MasterClient, Attempt[]] {
  const client = new MasterClient({ masters, physical, role: 'agent', logger: silentLogger(), tls: certs.context('agent', physical) });
  t.after(() => client.stop());
  const attempts: Attempt[] = [];
  client.on('broken', ({ master, reason }) => attempts.push({ master, reason, at: performance.now() }));
  return [client, attempts];
}

/** A master process (embedded store); `env` for its limits. Stopped with the test. */
async function masterProc(t: { after: (fn: () => unknown) => void }, env: Record<string, string> = {}, port = 0): Promise<MasterProc> {
  const dir = tempDir('flume-failover-proc-');
  const m = await startMasterProc(['--data', dir.path, ...(port ? ['--port', String(port)] : [])], false, env);
  t.after(async () => {
    await m.proc.stop();
    dir.remove();
  });
  return m;
}

/** Whether a connection to `port` that sends nothing is closed by the server within 1 s (its handshake timeout is far longer). */
function closedAtOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 1_000);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

const isRefused = (a: Attempt): boolean => /ECONNREFUSED/.test(a.reason);

test(
  'a node whose live masters turn it away does not go back to the master killed -9 within DOWN_MS, and streams once one lets it in',
  { skip: testsInsecure() ? 'about TLS handshakes' : false, timeout: 120_000 },
  async (t) => {
    // b and c take one TLS handshake at a time, and one connection that never says a word holds
    // it: alive, they close every node's connection at once, as a gate full of a fleet does.
    const gated = { FLUME_LIMITS_MASTER_MAX_HANDSHAKES: '1', FLUME_LIMITS_MASTER_HANDSHAKE_TIMEOUT_MS: '120000' };
    const [a, b, c] = await Promise.all([masterProc(t), masterProc(t, gated), masterProc(t, gated)]);
    const holders = [b, c].map((m) => net.connect({ port: m.grpcPort, host: '127.0.0.1' }).on('error', () => undefined));
    t.after(() => holders.forEach((s) => s.destroy()));
    for (const m of [b, c]) await waitFor(() => closedAtOnce(m.grpcPort), 10_000, `${m.address} to turn connections away`);

    const [client, attempts] = recordingClient(t, [a.address, b.address, c.address], 'returning');
    client.start();
    await waitFor(() => client.master === a.address, 20_000, 'the node on the first master');
    await a.proc.kill9();
    const refused = await waitFor(
      () => attempts.find((x) => x.master === a.address && isRefused(x)),
      30_000,
      'the killed master to refuse a connection',
    );
    await waitFor(() => attempts.some((x) => x.at > refused.at + DOWN_MS), 60_000, `an attempt ${DOWN_MS} ms after the refusal`);
    const within = attempts.filter((x) => x.at > refused.at && x.at < refused.at + DOWN_MS);
    t.diagnostic(`attempts in the ${DOWN_MS} ms after the refusal: ${within.map((x) => x.master).join(', ')}`);
    assert.deepEqual(
      within.filter((x) => x.master === a.address),
      [],
      'the killed master not tried again within the window',
    );
    assert.ok(within.length >= 2, `the live masters tried meanwhile: ${within.length} attempts`);
    assert.ok(!within.some(isRefused), 'the live masters turned the node away at their gates, not at TCP');

    holders[1].destroy();
    await waitFor(() => client.master === c.address, 30_000, 'the node on the master that lets it in');
  },
);

test(
  'with every master down, a node goes on trying each of them and streams to the first that comes back',
  { timeout: 120_000 },
  async (t) => {
    const masters = await Promise.all([masterProc(t), masterProc(t), masterProc(t)]);
    const addresses = masters.map((m) => m.address);
    const [client, attempts] = recordingClient(t, addresses, 'patient-fleet');
    client.start();
    await waitFor(() => client.master === addresses[0], 20_000, 'the node on the first master');
    for (const m of masters) await m.proc.kill9();
    const since = performance.now();
    const refusals = (address: string): number => attempts.filter((x) => x.at > since && x.master === address && isRefused(x)).length;
    await waitFor(() => addresses.every((address) => refusals(address) >= 2), 30_000, 'every master tried twice');

    const back = await masterProc(t, {}, masters[1].grpcPort);
    await waitFor(() => client.master === back.address, 40_000, 'the node on the master that came back');
  },
);
