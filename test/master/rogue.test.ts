/**
 * A rogue client on the master's gRPC port (random bytes; an HTTP/2 preface followed by
 * garbage frames) is refused, counted in /metrics and logged, and the master keeps serving; a
 * flood of them is logged a line at a time.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { after, test } from 'node:test';
import { httpGet, tempDir, waitFor } from '../harness/procs';
import { AdminClient, startMasterProc, type MasterProc } from './helpers';

const dir = tempDir('flume-master-rogue-');
let master: MasterProc | undefined;
let admin: AdminClient | undefined;
after(async () => {
  admin?.close();
  await master?.proc.stop();
  dir.remove();
});

function sendAndWaitClose(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.on('error', () => undefined);
    s.on('close', () => resolve());
    s.setTimeout(5_000, () => s.destroy());
  });
}

test('garbage on the gRPC port is refused, counted and logged; the master goes on serving', async () => {
  master = await startMasterProc(['--data', dir.path]);
  admin = new AdminClient(master.address);
  assert.equal((await admin.exec('config', 'web01', 'text("/tmp/x")', 'console')).state, 2);
  await sendAndWaitClose(master.grpcPort, randomBytes(64 * 1024));
  await sendAndWaitClose(master.grpcPort, Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.alloc(64, 0xff)]));
  await master.proc.waitForLine(/Closed a connection that broke the protocol\..*peer=127\.0\.0\.1:\d+/);
  const count = await waitFor(
    async () => {
      const body = (await httpGet(`http://127.0.0.1:${master!.httpPort}/metrics`)).body;
      const n = Number(/^flume_master_connection_errors_total (\d+)/m.exec(body)?.[1] ?? 0);
      return n >= 2 ? n : undefined;
    },
    10_000,
    'both rogue connections counted',
  );
  assert.equal(count, 2);
  assert.equal((await admin.configs()).find((c) => c.logical === 'web01')?.source, 'text("/tmp/x")', 'the master still answers');
});

test('a flood of rogue connections is counted one by one but logged a line at a time, not a line each', async () => {
  await master?.proc.stop();
  master = await startMasterProc(['--data', `${dir.path}/flood`]);
  for (let i = 0; i < 20; i++) await sendAndWaitClose(master.grpcPort, randomBytes(1024));
  await waitFor(
    async () => {
      const body = (await httpGet(`http://127.0.0.1:${master!.httpPort}/metrics`)).body;
      return Number(/^flume_master_connection_errors_total (\d+)/m.exec(body)?.[1] ?? 0) >= 20 || undefined;
    },
    10_000,
    'every rogue connection counted',
  );
  const lines = master.proc.output().match(/Closed a connection that broke the protocol\./g) ?? [];
  assert.ok(lines.length >= 1 && lines.length <= 2, `${lines.length} lines for 20 rogue connections`);
});
