/**
 * How node/master-client moves between masters when a fleet does, against real masters and a
 * real silent listener in this process (real gRPC and TLS on loopback):
 * - the nodes of a master that goes away spread over the others, though every node lists the
 *   masters in the same order (a fleet's config is one file);
 * - a master that takes a connection but does not answer yet (busy with thousands of TLS
 *   handshakes) is waited for up to 16 × callTimeoutMs, not left after callTimeoutMs for another
 *   master where the handshake starts over.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { test } from 'node:test';
import { silentLogger } from '../../core/logger';
import { MASTER_DEFAULTS, startMaster, type RunningMaster } from '../../master/master';
import { MasterClient } from '../../node/master-client';
import { tempDir, waitFor } from '../harness/procs';
import { TestCerts } from '../harness/tls';

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
