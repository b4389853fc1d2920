/**
 * What a logical node's channel shows in `/metrics` and `/status`: its fill gauges, and the
 * WAL's damage counters (what recovery, or a later read of a damaged segment, had to drop)
 * brought into the channel's counters, zero from the start.
 */
import type { Channel } from '../core/channel';
import {
  CHANNEL_CAPACITY_BYTES,
  CHANNEL_FILL_BATCHES,
  CHANNEL_FILL_BYTES,
  type CounterSet,
  type Metrics,
  WAL_RECOVERY_LOST_BATCHES,
  WAL_RECOVERY_LOST_BYTES,
  WAL_RECOVERY_LOST_EVENTS,
} from '../core/metrics';
import { WalChannel } from '../core/wal/wal';

/** Adds to `counters` what the WAL lost since the last call. */
export function countWalLoss(channel: Channel | null, counters: CounterSet): void {
  if (!(channel instanceof WalChannel)) return;
  const { lostRecords, lostEvents, lostBytes } = channel.counters;
  counters.add(WAL_RECOVERY_LOST_BATCHES, lostRecords - counters.get(WAL_RECOVERY_LOST_BATCHES));
  counters.add(WAL_RECOVERY_LOST_EVENTS, lostEvents - counters.get(WAL_RECOVERY_LOST_EVENTS));
  counters.add(WAL_RECOVERY_LOST_BYTES, lostBytes - counters.get(WAL_RECOVERY_LOST_BYTES));
}

/** The loss counters and the fill gauges of logical node `node`, at a scrape. */
export function reportChannel(channel: Channel | null, counters: CounterSet, metrics: Metrics, node: string): void {
  countWalLoss(channel, counters);
  const s = channel?.stats();
  if (!s) return;
  metrics.setGauge(CHANNEL_FILL_BYTES, node, s.bytes);
  metrics.setGauge(CHANNEL_FILL_BATCHES, node, s.batches);
  metrics.setGauge(CHANNEL_CAPACITY_BYTES, node, s.capacityBytes);
}
