/**
 * The ZooKeeper store's side of a change (zk-layout.ts): a command's effect runs on the shared
 * copy-on-write draft (state-change.ts, as in the embedded store), and
 * - `itemChange`: the item znodes that differ between the state and the draft's change, with
 *   their new data, and the next state (sharing every entry and record the change left alone);
 * - `applyItems`: the next state of a master that read the items another master changed.
 * Both cost what the change touches, not the whole state (10,000 configs). States are shared
 * between snapshots, so their values are frozen (state-change.ts) and nothing changes a state
 * once made: readers of a StateView only read it.
 */
import { withEntries } from './frozen-record';
import { applyChange, changedKeys, deepFreeze, type StateChange } from './state-change';
import { CommandError, PURGE_ALL, type LogicalConfig, type MasterState, type Touched } from './types';
import {
  MAX_WRITE_BYTES,
  configKey,
  decodeName,
  decomKey,
  nodeItemData,
  nodeKey,
  type ItemKey,
  type MetaDoc,
  type NodeItem,
} from './zk-layout';

/** An item's new data; undefined: remove it. */
export type ItemWrites = Map<ItemKey, string | undefined>;

/** What a change writes: the items (`created`: those whose znode does not exist yet) and the next state. */
export interface ItemChange {
  writes: ItemWrites;
  created: Set<ItemKey>;
  next: MasterState;
}

/** Refuses writes that, with `metaBytes` of /flume/meta, are more than ZooKeeper takes in one transaction. */
export function checkSize(writes: ItemWrites, metaBytes: number): void {
  let bytes = metaBytes;
  for (const [key, data] of writes) bytes += data === undefined ? 64 : key.length + data.length + 32;
  if (bytes > MAX_WRITE_BYTES) {
    throw new CommandError(
      `this change touches ${writes.size} znodes (${Math.round(bytes / 1024)} KiB); ZooKeeper takes at most ${MAX_WRITE_BYTES / 1024} KiB in one write: split it`,
    );
  }
}

/** The items `change` (from StateDraft.change(), made on `base`; undefined: nothing) writes, and the next state. */
export function itemChange(base: Readonly<MasterState>, change: StateChange | undefined): ItemChange {
  const writes: ItemWrites = new Map();
  const created = new Set<ItemKey>();
  if (!change) return { writes, created, next: base as MasterState };
  const next = applyChange(base as MasterState, change);
  for (const name of changedKeys(base.configs, change.configs)) {
    const had = Object.hasOwn(base.configs, name);
    const data = Object.hasOwn(next.configs, name) ? JSON.stringify(next.configs[name]) : undefined;
    if (had && data === JSON.stringify(base.configs[name])) continue;
    writes.set(configKey(name), data);
    if (!had) created.add(configKey(name));
  }
  for (const physical of new Set([...changedKeys(base.mappings, change.mappings), ...changedKeys(base.purged, change.purged)])) {
    if (physical === PURGE_ALL) continue; // in /flume/meta
    const data = nodeItemData(next, physical);
    const before = nodeItemData(base, physical);
    if (data === before) continue;
    writes.set(nodeKey(physical), data);
    if (before === undefined) created.add(nodeKey(physical));
  }
  if (change.decommissioned) {
    const was = new Set(base.decommissioned);
    const now = new Set(next.decommissioned);
    for (const name of now) {
      if (was.has(name)) continue;
      writes.set(decomKey(name), '');
      created.add(decomKey(name));
    }
    for (const name of was) if (!now.has(name)) writes.set(decomKey(name), undefined);
    // Sorted by name, as every master reads them from ZooKeeper (zk-layout's stateOf).
    next.decommissioned = deepFreeze([...now].sort());
  }
  return { writes, created, next };
}

/** The state after reading `read` (the items another master's writes touched) and `meta`. */
export function applyItems(base: Readonly<MasterState>, read: ItemWrites, meta: MetaDoc): MasterState {
  const configs: Array<[string, LogicalConfig | null]> = [];
  const mappings: Array<[string, string[] | null]> = [];
  const purged: Array<[string, number | null]> = [];
  let decommissioned: Set<string> | undefined;
  for (const [key, data] of read) {
    const name = decodeName(key.slice(2));
    if (key[0] === 'c') {
      configs.push([name, data === undefined ? null : deepFreeze(JSON.parse(data) as LogicalConfig)]);
    } else if (key[0] === 'n') {
      const item = data === undefined ? {} : (JSON.parse(data) as NodeItem);
      mappings.push([name, item.mapping ? deepFreeze(item.mapping) : null]);
      purged.push([name, item.purged ?? null]);
    } else {
      decommissioned ??= new Set(base.decommissioned);
      if (data === undefined) decommissioned.delete(name);
      else decommissioned.add(name);
    }
  }
  if (meta.purgedAll !== (base.purged[PURGE_ALL] ?? 0)) purged.push([PURGE_ALL, meta.purgedAll > 0 ? meta.purgedAll : null]);
  return {
    configs: configs.length > 0 ? withEntries(base.configs, configs) : base.configs,
    mappings: mappings.length > 0 ? withEntries(base.mappings, mappings) : base.mappings,
    purged: purged.length > 0 ? withEntries(base.purged, purged) : base.purged,
    decommissioned: decommissioned ? deepFreeze([...decommissioned].sort()) : base.decommissioned,
    nextVersion: meta.nextVersion,
  };
}

/** StateView.touched of a state that differs from revision `from`'s only in the items `keys`. */
export function touchedOf(keys: Iterable<ItemKey>, from: number): Touched {
  const configs: string[] = [];
  const mappings: string[] = [];
  for (const key of keys) {
    if (key[0] === 'c') configs.push(decodeName(key.slice(2)));
    else if (key[0] === 'n') mappings.push(decodeName(key.slice(2)));
  }
  return { from, configs, mappings };
}
