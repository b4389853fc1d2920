/**
 * Counters of a tier endpoint (collector server, agent sink): kept locally for `stats()` and
 * tests, and forwarded to the component's counters (core/metrics.ts) when one is given.
 */
import type { ComponentCounters } from '../component';

export class TierCounters implements ComponentCounters {
  private readonly values = new Map<string, number>();

  constructor(private readonly forward?: ComponentCounters) {}

  add(name: string, value = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + value);
    this.forward?.add(name, value);
  }

  observe(name: string, ms: number): void {
    this.forward?.observe?.(name, ms);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.values);
  }
}
