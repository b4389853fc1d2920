/**
 * A real flume-master (mutual TLS) under more connections in their TLS handshake than
 * `limits.master.max_handshakes` (core/grpc/handshake-gate.ts): the ones over it are closed at
 * once and counted, not left to time out with the rest, and once the handshakes in progress end a
 * node connects as usual. This is what serves a fleet that arrives all at once (its master died)
 * a few nodes at a time instead of none. A client from one address that holds every handshake
 * slot, stalled, does not keep a client from another address out: the gate shares the slots by
 * address when they run out, also on a master listening on `::` (IPv4 and IPv6), which sees an
 * IPv4 client as an IPv4-mapped IPv6 address, and an IPv6 client by its /64. A fleet from one
 * address is not affected by the sharing.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { test } from 'node:test';
import { tempDir } from '../harness/procs';
import { testsInsecure } from '../harness/tls';
import { AdminClient, startMasterProc, startTestNode } from '../master/helpers';
import { metricIn, scrape } from './floods';

const HELD = 4;

/** A TCP connection (from `from`, over IPv6 if it is IPv6) that never sends its ClientHello; resolves with it once connected. */
function silent(port: number, from = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: net.isIPv6(from) ? '::1' : '127.0.0.1', localAddress: from }, () => resolve(s));
    s.on('error', () => undefined);
  });
}

/**
 * A client from one address that keeps `count` connections in their TLS handshake, never sending
 * a ClientHello, and opens another each time the server closes one (paced, as the attacker of
 * core/grpc/handshake-gate.ts's header), until stopped.
 */
class StallingClient {
  private stopped = false;
  private readonly open = new Set<net.Socket>();

  constructor(
    private readonly port: number,
    private readonly from: string,
  ) {}

  async start(count: number): Promise<void> {
    await Promise.all(Array.from({ length: count }, () => this.connect()));
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.open) s.destroy();
  }

  private async connect(): Promise<void> {
    const s = await silent(this.port, this.from);
    this.open.add(s);
    s.once('close', () => {
      this.open.delete(s);
      if (!this.stopped) setTimeout(() => void this.connect(), 20);
    });
  }
}

const closedWithin = (s: net.Socket, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });

test(
  'connections over the handshakes a master takes at once are closed at once and counted; a node connects once the handshakes end',
  { skip: testsInsecure() ? 'about TLS handshakes' : false, timeout: 60_000 },
  async (t) => {
    const dir = tempDir('flume-master-handshakes-');
    t.after(() => dir.remove());
    const master = await startMasterProc(['--data', dir.path], false, {
      FLUME_LIMITS_MASTER_MAX_HANDSHAKES: String(HELD),
      FLUME_LIMITS_MASTER_HANDSHAKE_TIMEOUT_MS: '60000',
    });
    t.after(() => master.proc.stop());
    const held: net.Socket[] = [];
    t.after(() => held.forEach((s) => s.destroy()));
    for (let i = 0; i < HELD; i++) held.push(await silent(master.grpcPort));
    // Node may accept a few more before the gate's count catches up (they are in one accept batch).
    await new Promise((r) => setTimeout(r, 200));

    const over = await Promise.all(Array.from({ length: 10 }, () => silent(master.grpcPort)));
    t.after(() => over.forEach((s) => s.destroy()));
    const closed = await Promise.all(over.map((s) => closedWithin(s, 5_000)));
    assert.deepEqual(
      closed.filter((c) => !c),
      [],
      'every connection over the limit closed within 5 s (the handshake timeout is 60 s)',
    );
    assert.ok(
      held.every((s) => !s.destroyed),
      'the handshakes in progress are left to go on',
    );
    const metrics = await scrape(`https://127.0.0.1:${master.httpPort}`);
    const refused = metricIn(metrics, 'flume_connections_refused_total', 'component="grpc"');
    assert.ok(refused >= 10, `refused and counted: ${refused}`);
    assert.equal(metricIn(metrics, 'flume_connections_closed_share_total', 'component="grpc"'), 0, 'one address: nothing displaced');
    assert.equal(metricIn(metrics, 'flume_connections_closed_framing_total', 'component="grpc"'), 0, 'a refusal is not a failed handshake');

    for (const s of held) s.destroy();
    const node = await startTestNode('after-crowd', [master.address]);
    t.after(() => node.stop());
    await node.waitForLine(new RegExp(`master ${master.address}`), 20_000);
  },
);

/**
 * Where the master listens, where the attacker connects from, and how the master's line names it. On `::` the master
 * sees an IPv4 client as `::ffff:127.0.0.2`: the same address as over IPv4, not one of the /64 `::` that ::1 is in.
 */
const STALLERS = [
  { listen: '127.0.0.1', from: '127.0.0.2', named: '127.0.0.2' },
  { listen: '::', from: '127.0.0.2', named: '127.0.0.2' },
  { listen: '::', from: '::1', named: '::/64' },
];

for (const { listen, from, named } of STALLERS)
  test(
    `a client stalling every handshake slot from ${from} does not keep an admin from 127.0.0.1 out of a master listening on ${listen}; the displaced handshakes are counted and logged as ${named}'s`,
    { skip: testsInsecure() ? 'about TLS handshakes' : false, timeout: 60_000 },
    async (t) => {
      const dir = tempDir('flume-master-handshake-shares-');
      t.after(() => dir.remove());
      const master = await startMasterProc(['--data', dir.path, '--host', listen], false, {
        FLUME_LIMITS_MASTER_MAX_HANDSHAKES: String(HELD),
        FLUME_LIMITS_MASTER_HANDSHAKE_TIMEOUT_MS: '60000',
      });
      t.after(() => master.proc.stop());
      const attacker = new StallingClient(master.grpcPort, from);
      t.after(() => attacker.stop());
      await attacker.start(HELD);
      // Accepted in order: once one more from the attacker is closed at once, its HELD fill the gate.
      const probe = await silent(master.grpcPort, from);
      assert.ok(await closedWithin(probe, 5_000), 'the gate is full of the attacker');

      const admin = new AdminClient(master.address);
      t.after(() => admin.close());
      const started = Date.now();
      const info = await admin.info(5_000);
      assert.ok(info.id, 'answered');
      const waited = Date.now() - started;
      assert.ok(waited < 5_000, `answered in ${waited} ms (the handshake timeout is 60 s)`);

      const line = new RegExp(`Closed a TLS handshake of the address holding the most.* address=${named.replace(/\./g, '\\.')} `);
      await master.proc.waitForLine(line, 10_000);
      const metrics = await scrape(`https://127.0.0.1:${master.httpPort}`);
      const displaced = metricIn(metrics, 'flume_connections_closed_share_total', 'component="grpc"');
      assert.ok(displaced >= 1, `displaced and counted: ${displaced}`);
      assert.equal(
        metricIn(metrics, 'flume_connections_closed_framing_total', 'component="grpc"'),
        0,
        'what the gate closes is not counted as a failed handshake',
      );
      // The attacker, still renewing, gets no slot back: a second client is let in as promptly.
      const second = new AdminClient(master.address);
      t.after(() => second.close());
      await second.info(5_000);
    },
  );
