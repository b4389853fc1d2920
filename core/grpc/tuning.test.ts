/**
 * The HTTP/2 window workaround does what it says: a plain Node HTTP/2 client connecting to a
 * tuned grpc-js server sees the raised per-stream window in the server's SETTINGS and the raised
 * connection window; an untuned server keeps Node's 65,535 bytes (so this test notices the day
 * grpc-js changes either).
 */
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { bindTuned, GRPC_TUNING_DEFAULTS } from './tuning';

async function windowsSeenByClient(raiseWindow: boolean): Promise<{ stream: number; connection: number }> {
  const server = new grpc.Server();
  const port = await bindTuned(server, '127.0.0.1', 0, { tuning: { raiseWindow } });
  const client = http2.connect(`http://127.0.0.1:${port}`);
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('remoteSettings', () => resolve());
      client.once('error', reject);
    });
    // The connection-level WINDOW_UPDATE follows the SETTINGS frame; poll for it.
    const deadline = Date.now() + 10_000;
    while (raiseWindow && client.state.remoteWindowSize! <= 65_535 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    return { stream: client.remoteSettings.initialWindowSize!, connection: client.state.remoteWindowSize! };
  } finally {
    client.destroy();
    server.forceShutdown();
  }
}

test('a tuned server advertises the raised stream window and opens the connection window', async () => {
  const w = await windowsSeenByClient(true);
  assert.equal(w.stream, GRPC_TUNING_DEFAULTS.windowBytes);
  assert.equal(w.connection, GRPC_TUNING_DEFAULTS.windowBytes);
});

test('without the workaround the grpc-js server keeps the 64 KiB window', async () => {
  const w = await windowsSeenByClient(false);
  assert.equal(w.stream, 65_535);
  assert.equal(w.connection, 65_535);
});
