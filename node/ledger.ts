/** The StorageLedger of one logical node (contract in core/component.ts). */
import type { StorageLedger } from '../core/component';

type Lookup = (origin: string, seqs: number[]) => Promise<number[]>;

export class NodeLedger implements StorageLedger {
  private readonly listeners = new Set<(origin: string, seq: number) => void>();
  private readonly indexes = new Set<Lookup>();
  private readonly rejectListeners = new Set<(origin: string, seq: number, reason: string) => void>();

  stored(origin: string, seq: number): void {
    for (const l of this.listeners) l(origin, seq);
  }

  onStored(listener: (origin: string, seq: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  rejected(origin: string, seq: number, reason: string): void {
    for (const l of this.rejectListeners) l(origin, seq, reason);
  }

  onRejected(listener: (origin: string, seq: number, reason: string) => void): () => void {
    this.rejectListeners.add(listener);
    return () => this.rejectListeners.delete(listener);
  }

  addIndex(lookup: Lookup): () => void {
    this.indexes.add(lookup);
    return () => this.indexes.delete(lookup);
  }

  async isStored(origin: string, seqs: number[]): Promise<number[]> {
    const found = new Set<number>();
    for (const lookup of this.indexes) for (const s of await lookup(origin, seqs)) found.add(s);
    return seqs.filter((s) => found.has(s));
  }
}
