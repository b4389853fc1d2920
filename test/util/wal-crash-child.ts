/**
 * The process the WAL crash test kills. It appends numbered batches from `start` on, several
 * commits in flight, and takes and acks them in order, printing `C seq` once a put's commit
 * has returned and `A seq` once a take's commit has; `P seq` and `T seq` before a put and a take
 * commit start. Lines are written synchronously, so a kill cannot lose one that was printed.
 * Usage: node wal-crash-child.js DIR START
 */
import * as fs from 'node:fs';
import { openWal } from '../../core/wal/wal';
import { numberedBatch } from './batches';

async function main(): Promise<void> {
  const [dir, startArg] = process.argv.slice(2);
  const wal = await openWal(dir, { segmentBytes: 128 * 1024, capacityBytes: 2 * 1024 * 1024 });
  let next = Number(startArg);
  // Synchronous, so the parent knows exactly what happened before the kill; stdout is a
  // non-blocking pipe, so a full pipe (EAGAIN) is waited out rather than fatal.
  const out = (line: string): void => {
    const bytes = Buffer.from(line + '\n');
    for (let off = 0; off < bytes.length;) {
      try {
        off += fs.writeSync(1, bytes, off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
    }
  };
  out('READY');
  // One producer with up to 8 commits in flight: they share fsyncs (the group commit under
  // test), and since each commit is started in seq order the log keeps that order.
  const producer = async (): Promise<void> => {
    const inFlight = new Set<Promise<void>>();
    for (;;) {
      const seq = next++;
      const tx = wal.transaction();
      tx.begin();
      out(`P ${seq}`);
      await tx.put(numberedBatch('crash', seq, 200 + (seq % 7) * 50));
      const commit = tx.commit().then(() => {
        tx.close();
        out(`C ${seq}`);
        inFlight.delete(commit);
      });
      inFlight.add(commit);
      if (inFlight.size >= 8) await Promise.race(inFlight);
    }
  };
  const consumer = async (): Promise<void> => {
    for (;;) {
      const tx = wal.transaction();
      tx.begin();
      const b = await tx.take(1000);
      if (!b) {
        tx.rollback();
        tx.close();
        continue;
      }
      out(`T ${b.seq}`);
      await tx.commit();
      tx.close();
      out(`A ${b.seq}`);
    }
  };
  await Promise.all([producer(), consumer()]);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
