/**
 * A Prometheus histogram without labels whose `observe` allocates nothing, for code that records
 * every message of every node (the master's status handling).
 *
 * prom-client's Histogram (15.1) allocates on each observation: a closure, a labels object, a
 * value pair, a label hash, and the bucket's bound turned into a string to look up its count. A
 * master recording two histograms for each of 10,000 statuses a second made a tenth of all it
 * allocated that way (issue 17). Here a bucket is found by a scan of the bounds and counted in a
 * Float64Array; the exposition is built only when scraped, and reads as prom-client's would for
 * the same observations (`_bucket` lines with `le` and a `+Inf` line, `_sum`, `_count`).
 *
 * Registered in prom-client registries as one of their own metrics: a registry reads a metric
 * through `name`, `help`, `type`, `aggregator` and `get()`. A value that is not finite is not
 * recorded (prom-client throws for one).
 */
import type { Metric, Registry } from 'prom-client';

export class FixedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registers: Registry[],
  ) {
    this.counts = new Float64Array(bounds.length);
    for (const registry of registers) registry.registerMetric(this as unknown as Metric);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    if (i < this.bounds.length) this.counts[i]++;
    this.sum += value;
    this.count++;
  }

  /** What a registry exposes. */
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: FixedHistogramValue[] }> {
    const bucket = `${this.name}_bucket`;
    const values: FixedHistogramValue[] = [];
    let below = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      below += this.counts[i];
      values.push({ labels: { le: this.bounds[i] }, value: below, metricName: bucket });
    }
    values.push({ labels: { le: '+Inf' }, value: this.count, metricName: bucket });
    values.push({ labels: {}, value: this.sum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: this.count, metricName: `${this.name}_count` });
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

interface FixedHistogramValue {
  labels: { le?: number | string };
  value: number;
  metricName: string;
}
