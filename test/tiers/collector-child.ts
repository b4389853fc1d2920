/**
 * A collector process for the kill -9 test (collector-kill.test.ts): a CollectorServer on a WAL,
 * and a storage-writer stand-in that appends `origin seq` lines to a file (dropping ids it already
 * holds, as writers do), then fires the end-to-end ack. Usage: node collector-child.js DIR PORT.
 * Prints `port N` once listening. Serves mutual TLS with the certificate its parent passes in
 * FLUME_TLS_* (helpers.ts `tierTls.collectorEnv`), plaintext without.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CollectorServer } from '../../collector/source/collector-server';
import { inTransaction } from '../../core/channel';
import { openWal } from '../../core/wal/wal';
import { tlsFromEnv } from './helpers';

async function main(): Promise<void> {
  const [dir, portText] = process.argv.slice(2);
  const storageFile = path.join(dir, 'stored.log');
  const ids = new Set<string>();
  if (fs.existsSync(storageFile)) {
    for (const line of fs.readFileSync(storageFile, 'utf8').split('\n')) if (line) ids.add(line);
  }
  const wal = await openWal(path.join(dir, 'wal'), { capacityBytes: 64 * 1024 * 1024 });
  const server = new CollectorServer(
    wal,
    { port: Number(portText) },
    {
      tls: tlsFromEnv(),
      isStored: async (origin, seqs) => seqs.filter((s) => ids.has(`${origin} ${s}`)),
    },
  );
  await server.start();
  process.stdout.write(`port ${server.port}\n`);
  for (;;) {
    await inTransaction(wal, async (tx) => {
      const b = await tx.take(50);
      if (!b) return;
      const id = `${b.origin} ${b.seq}`;
      if (!ids.has(id)) {
        fs.appendFileSync(storageFile, `${id}\n`);
        ids.add(id);
      }
      server.ackEndToEnd(b.origin, b.seq);
    });
  }
}

main().catch((err) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
