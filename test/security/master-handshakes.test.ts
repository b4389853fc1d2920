/**
 * A real flume-master (mutual TLS) under more connections in their TLS handshake than
 * `limits.master.max_handshakes` (core/grpc/handshake-gate.ts): the ones over it are closed at
 * once and counted, not left to time out with the rest, and once the handshakes in progress end a
 * node connects as usual. This is what serves a fleet that arrives all at once (its master died)
 * a few nodes at a time instead of none.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { test } from 'node:test';
import { tempDir } from '../harness/procs';
import { testsInsecure } from '../harness/tls';
import { startMasterProc, startTestNode } from '../master/helpers';
import { metricIn, scrape } from './floods';

const HELD = 4;

/** A TCP connection that never sends its ClientHello; resolves with it once connected. */
function silent(port: number): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.on('error', () => undefined);
  });
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
    const refused = metricIn(await scrape(`https://127.0.0.1:${master.httpPort}`), 'flume_connections_refused_total', 'component="grpc"');
    assert.ok(refused >= 10, `refused and counted: ${refused}`);

    for (const s of held) s.destroy();
    const node = await startTestNode('after-crowd', [master.address]);
    t.after(() => node.stop());
    await node.waitForLine(new RegExp(`master ${master.address}`), 20_000);
  },
);
