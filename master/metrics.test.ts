import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from '../core/metrics';
import { MasterMetrics } from './metrics';

const sample = (text: string, name: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(name));
  assert.ok(line, `${name} is on the page`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
};

test('an operator reads from /metrics how long the event loop was blocked since the last scrape, and the GC pauses', async () => {
  const metrics = new MasterMetrics(new Metrics());
  try {
    await metrics.metrics.text();
    // Keep the event loop busy for 120 ms, allocating, as a burst of work on the master does.
    const until = performance.now() + 120;
    let keep: number[][] = [];
    while (performance.now() < until) keep = [new Array<number>(10_000).fill(keep.length), ...keep.slice(0, 50)];
    await new Promise((r) => setTimeout(r, 30));
    const page = await metrics.metrics.text();
    const longest = sample(page, 'flume_master_event_loop_delay_max_seconds');
    assert.ok(longest >= 0.08 && longest < 5, `longest delay ${longest} s after a 120 ms block`);
    assert.ok(sample(page, 'flume_master_gcs_total{kind="minor"}') > 0, 'the allocation made young-generation collections');
    assert.ok(sample(page, 'flume_master_gc_seconds_total{kind="minor"}') > 0);
    assert.ok(sample(page, 'flume_master_heap_used_bytes') > 1e6);
    assert.ok(sample(page, 'flume_master_resident_memory_bytes') > sample(page, 'flume_master_heap_used_bytes'));
    await new Promise((r) => setTimeout(r, 30));
    const after = await metrics.metrics.text();
    const quiet = sample(after, 'flume_master_event_loop_delay_max_seconds');
    assert.ok(quiet < longest, `the next scrape starts afresh (${quiet} s)`);
    const over50ms =
      sample(after, 'flume_master_event_loop_delay_seconds_count') -
      sample(after, 'flume_master_event_loop_delay_seconds_bucket{le="0.05"}');
    assert.ok(over50ms >= 1, 'the histogram holds the delay over 50 ms');
  } finally {
    metrics.close();
  }
});
