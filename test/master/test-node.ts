/**
 * A tiny physical node for the master's tests: a real process talking real gRPC to real masters
 * through node/master-client. It "runs" whatever it is told by reporting it ACTIVE, and prints
 * one line per change so a test can follow it:
 *   `test-node ready pid=N`, `master ADDRESS`, `desired {"name":version,...}`
 *
 * Usage: node dist/test/master/test-node.js --master h:p[,h:p] --name NAME [--role agent] [--heartbeat-ms N]
 */
import { createLogger } from '../../core/logger';
import { TlsContext } from '../../core/tls';
import { MasterClient } from '../../node/master-client';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : fallback;
  if (value === undefined) {
    console.error(`test-node: --${name} is required`);
    process.exit(2);
  }
  return value;
}

const client = new MasterClient({
  masters: arg('master').split(','),
  physical: arg('name'),
  role: arg('role', 'agent'),
  heartbeatMs: Number(arg('heartbeat-ms', '1000')),
  callTimeoutMs: Number(arg('call-timeout-ms', '2000')),
  logger: createLogger({ level: process.env.FLUME_LOG_LEVEL ?? 'warn', process: 'test-node' }),
  // FLUME_TLS_* as a real node reads them (test/harness/tls.ts sets them); FLUME_TLS_MODE=insecure: plaintext.
  tls:
    process.env.FLUME_TLS_MODE === 'insecure' || !process.env.FLUME_TLS_CERT
      ? undefined
      : TlsContext.load({ ca: process.env.FLUME_TLS_CA!, cert: process.env.FLUME_TLS_CERT, key: process.env.FLUME_TLS_KEY! }),
});

let running = new Set<string>();
client.on('desired', (desired) => {
  for (const name of running) if (!desired.has(name)) client.forget(name);
  running = new Set(desired.keys());
  for (const [name, d] of desired) client.reportState(name, 'ACTIVE', d.version);
  console.log(`desired ${JSON.stringify(Object.fromEntries([...desired].map(([n, d]) => [n, d.version])))}`);
});
client.on('master', (address) => console.log(`master ${address}`));
process.on('SIGTERM', () => {
  void client.stop().then(() => process.exit(0));
});
client.start();
console.log(`test-node ready pid=${process.pid}`);
