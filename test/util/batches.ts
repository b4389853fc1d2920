/** Small helpers for channel tests: numbered batches and draining a channel. */
import { type Batch, type Channel, batchOf } from '../../core/channel';
import { encodeEvents, makeEvent } from '../../core/event';

/** A batch whose one event's body is `origin:seq` padded to `size` bytes. */
export function numberedBatch(origin: string, seq: number, size = 100): Batch {
  const label = `${origin}:${seq}`;
  return batchOf(encodeEvents(origin, seq, [makeEvent(label.padEnd(size, '.'), { timestamp: 1_700_000_000_000 + seq })]));
}

export async function putAll(channel: Channel, batches: Batch[]): Promise<void> {
  const tx = channel.transaction();
  tx.begin();
  for (const b of batches) await tx.put(b);
  await tx.commit();
  tx.close();
}

/** Takes and commits everything that is there now; returns the seqs in take order. */
export async function drain(channel: Channel, waitMs = 0): Promise<number[]> {
  const seqs: number[] = [];
  for (;;) {
    const tx = channel.transaction();
    tx.begin();
    const b = await tx.take(waitMs);
    if (!b) {
      tx.rollback();
      tx.close();
      return seqs;
    }
    seqs.push(b.seq);
    await tx.commit();
    tx.close();
  }
}

export function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}
