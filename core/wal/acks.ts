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
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { type CheckpointState, decodeCheckpoint, encodeCheckpoint } from './format';

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
   * from that counter.
   */
  async open(dir: string): Promise<{ best: CheckpointState | null; invalid: number }> {
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
    return { best, invalid };
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
