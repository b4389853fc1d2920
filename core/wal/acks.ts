/**
 * Which lsns are acked, and the checkpoint that says so on disk.
 *
 * Acked is `lsn < ackedBelow` or `lsn ∈ done`: takes commit out of order (a sink with a window
 * of batches acks them as its peer answers), so acks above the first gap wait in `done` until
 * the gap closes and `ackedBelow` moves past them. `done` holds only lsns at or above
 * `ackedBelow`.
 *
 * The checkpoint (format in format.ts) is written to two slots in turn, `checkpoint.0` and
 * `checkpoint.1`, each write fdatasync'd, the slot chosen by the counter's parity. A crash in
 * the middle of a write leaves the other slot whole, so opening always finds the last or the
 * one before; the one with the higher counter wins. A checkpoint that is one behind only makes
 * some acked batches come back (a duplicate, which storage drops by id), never loses one.
 *
 * Each slot is preallocated to `CHECKPOINT_SLOT_BYTES` (zeros) when opened, so a checkpoint is
 * written over blocks the file already holds: on a full disk acks are still recorded (and the
 * segments they free deleted). A checkpoint with more out-of-order acks than fit grows its slot.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { type CheckpointState, decodeCheckpoint, encodeCheckpoint } from './format';

/** Room for 8,000 out-of-order acks per slot; a window of batches in flight uses a few hundred. */
const CHECKPOINT_SLOT_BYTES = 64 * 1024;

export class AckState {
  /** Every lsn below this is acked. */
  ackedBelow = 1;
  /** Lsns at or above `ackedBelow` acked out of order. */
  readonly done = new Set<number>();
  private counter = 0;
  private slots: fs.FileHandle[] = [];

  isAcked(lsn: number): boolean {
    return lsn < this.ackedBelow || this.done.has(lsn);
  }

  /** Marks one lsn acked; call `advance` after a run of these. */
  mark(lsn: number): void {
    if (lsn >= this.ackedBelow) this.done.add(lsn);
  }

  /** Moves `ackedBelow` over the acks that now follow it without a gap. */
  advance(): void {
    while (this.done.has(this.ackedBelow)) {
      this.done.delete(this.ackedBelow);
      this.ackedBelow++;
    }
  }

  /**
   * Opens both slots (creating them empty if missing) and returns the valid state with the
   * higher counter, or null, and how many non-empty slots did not decode. Later writes continue
   * from that counter. `reserved`: both slots are preallocated (false: the disk was full).
   */
  async open(dir: string): Promise<{ best: CheckpointState | null; invalid: number; reserved: boolean }> {
    let best: CheckpointState | null = null;
    let invalid = 0;
    for (let slot = 0; slot < 2; slot++) {
      const file = path.join(dir, `checkpoint.${slot}`);
      const handle = await fs.open(file, 'a+');
      this.slots.push(handle);
      const { size } = await handle.stat();
      if (size === 0) continue;
      const buf = Buffer.allocUnsafe(size);
      await handle.read(buf, 0, size, 0);
      // A preallocated slot never written yet.
      if (buf.every((b) => b === 0)) continue;
      const state = decodeCheckpoint(buf);
      if (!state) {
        invalid++;
        continue;
      }
      if (!best || state.counter > best.counter) best = state;
    }
    this.counter = best?.counter ?? 0;
    // 'a+' appends on write; reopen for positional writes.
    for (let slot = 0; slot < 2; slot++) {
      await this.slots[slot].close();
      this.slots[slot] = await fs.open(path.join(dir, `checkpoint.${slot}`), 'r+');
    }
    let reserved = true;
    for (const handle of this.slots) reserved = (await preallocate(handle)) && reserved;
    return { best, invalid, reserved };
  }

  /** Writes the ack state and `nextLsn` to the next slot and syncs it. */
  async write(nextLsn: number): Promise<void> {
    this.counter++;
    const buf = encodeCheckpoint({ counter: this.counter, ackedBelow: this.ackedBelow, nextLsn, done: [...this.done] });
    const handle = this.slots[this.counter % 2];
    await handle.write(buf, 0, buf.length, 0);
    await handle.datasync();
  }

  async close(): Promise<void> {
    for (const h of this.slots) await h.close().catch(() => undefined);
    this.slots = [];
  }
}

/** Fills a slot with zeros up to its reserved size (past whatever it holds); false if that failed. */
async function preallocate(handle: fs.FileHandle): Promise<boolean> {
  const { size } = await handle.stat();
  if (size >= CHECKPOINT_SLOT_BYTES) return true;
  try {
    await handle.write(Buffer.alloc(CHECKPOINT_SLOT_BYTES - size), 0, CHECKPOINT_SLOT_BYTES - size, size);
    await handle.datasync();
    return true;
  } catch {
    // A full disk: the slot keeps its size, and a later open tries again.
    await handle.truncate(size).catch(() => undefined);
    return false;
  }
}
