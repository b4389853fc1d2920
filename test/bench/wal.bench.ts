/**
 * Channels: one producer → one consumer of 100-byte events in batches of 100 and 1,000.
 *
 *   memory-100 / memory-1000   the memory channel, put+commit → take+commit
 *   wal-100 / wal-1000         the WAL with fsync'd group commit; the producer keeps up to 16
 *                              commits in flight and the consumer up to 16 acks (as a source with
 *                              many clients and a sink with a window of batches do)
 *   wal-reopen                 open a WAL holding FLUME_BENCH_BACKLOG_MB (default 1024) of
 *                              unacked batches and take its first batch; prints open_ms
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Channel, Transaction } from '../../core/channel';
import { batchOf } from '../../core/channel';
import { BatchBuilder } from '../../core/event';
import { MemoryChannel } from '../../core/memory-channel';
import { openWal } from '../../core/wal/wal';
import { report, wanted } from './util';

const RUN_MS = Number(process.env.FLUME_BENCH_MS ?? 4_000);
const IN_FLIGHT = 16;

function makeBatch(events: number, seq: number): Buffer {
  const builder = new BatchBuilder('bench', events * 120);
  const body = Buffer.alloc(100, 'x');
  for (let i = 0; i < events; i++) builder.append(body, 1_700_000_000_000 + i);
  return builder.finish(seq);
}

/** Runs a producer and a consumer for RUN_MS; returns events and bytes the consumer acked. */
async function pump(channel: Channel, events: number): Promise<{ events: number; bytes: number; seconds: number }> {
  const bytes = makeBatch(events, 1);
  // A clock, not a timer: a memory channel runs producer and consumer on microtasks alone, so a
  // timer would never fire.
  const deadline = Date.now() + RUN_MS;
  let running = true;
  let seq = 0;
  const producer = async (): Promise<void> => {
    const inFlight = new Set<Promise<void>>();
    while ((running = Date.now() < deadline)) {
      if (seq % 256 === 0) await new Promise((r) => setImmediate(r));
      const tx = channel.transaction();
      tx.begin();
      await tx.put({ origin: 'bench', seq: ++seq, count: events, bytes });
      const p: Promise<void> = tx.commit().then(() => {
        tx.close();
        inFlight.delete(p);
      });
      inFlight.add(p);
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  };
  let consumedEvents = 0;
  let consumedBytes = 0;
  const consumer = async (): Promise<void> => {
    const inFlight = new Set<Promise<void>>();
    for (;;) {
      const tx: Transaction = channel.transaction();
      tx.begin();
      const b = await tx.take(running ? 100 : 0);
      if (!b) {
        tx.rollback();
        tx.close();
        if (!running) break;
        continue;
      }
      const p: Promise<void> = tx.commit().then(() => {
        tx.close();
        consumedEvents += b.count;
        consumedBytes += b.bytes.length;
        inFlight.delete(p);
      });
      inFlight.add(p);
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  };
  const started = process.hrtime.bigint();
  const c = consumer();
  await producer();
  await c;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { events: consumedEvents, bytes: consumedBytes, seconds };
}

async function reopenBacklog(dir: string): Promise<void> {
  const targetBytes = Number(process.env.FLUME_BENCH_BACKLOG_MB ?? 1024) * 1024 * 1024;
  const options = { capacityBytes: targetBytes + 256 * 1024 * 1024 };
  const wal = await openWal(dir, options);
  let written = 0;
  let seq = 0;
  while (written < targetBytes) {
    const next = wal.transaction();
    next.begin();
    for (let i = 0; i < 64; i++) {
      const b = batchOf(makeBatch(1000, ++seq));
      await next.put(b);
      written += b.bytes.length;
    }
    await next.commit();
    next.close();
  }
  await wal.stop();
  const started = process.hrtime.bigint();
  const again = await openWal(dir, options);
  const take = again.transaction();
  take.begin();
  const first = await take.take();
  const openMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (first?.seq !== 1) throw new Error(`first batch after reopen is ${first?.seq}, expected 1`);
  take.rollback();
  take.close();
  await again.stop();
  report('wal-reopen', {
    events: first.count,
    bytes: first.bytes.length,
    seconds: openMs / 1000,
    extra: { backlog_mb: Math.round(written / 1048576), open_ms: openMs.toFixed(0) },
  });
}

export async function run(filter?: string): Promise<void> {
  for (const events of [100, 1000]) {
    const name = `memory-${events}`;
    if (!wanted(filter, name)) continue;
    const ch = new MemoryChannel('bench', { capacityBytes: 64 * 1024 * 1024 });
    report(name, await pump(ch, events));
    await ch.stop();
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-bench-'));
  try {
    for (const events of [100, 1000]) {
      const name = `wal-${events}`;
      if (!wanted(filter, name)) continue;
      const dir = path.join(root, name);
      const wal = await openWal(dir, { capacityBytes: 512 * 1024 * 1024 });
      const figures = await pump(wal, events);
      report(name, { ...figures, extra: { fsyncs: wal.counters.fsyncs, checkpoints: wal.counters.checkpoints } });
      await wal.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    if (wanted(filter, 'wal-reopen')) await reopenBacklog(path.join(root, 'reopen'));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
