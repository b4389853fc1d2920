/**
 * How the shared MasterState lies in ZooKeeper: small znodes, one per thing that changes alone,
 * so no write grows with the fleet and none nears ZooKeeper's 1 MB limit.
 *
 *   /flume/meta                  {nextVersion, purgedAll, log}: the sequencer. Every write of
 *                                the state is one transaction that sets /flume/meta at the
 *                                version it read (compare-and-set) and creates, sets or removes
 *                                the item znodes it changes, so two writers never interleave.
 *   /flume/configs/<logical>     a LogicalConfig
 *   /flume/nodes/<physical>      {mapping?: string[], purged?: ms}: one physical node's mapping
 *                                and purge time
 *   /flume/decommissioned/<logical>  empty: a decommissioned logical node
 *
 * Names are URI-encoded (and '.' too), so any logical or physical name is one znode name.
 *
 * The change log: /flume/meta keeps, for its last LOG_LENGTH versions, the item keys each write
 * touched and the token of its writer. A master watches /flume/meta only (one watch, woken once
 * per committed write, never by node heartbeats, which do not touch these znodes); when woken it
 * reads the keys touched since its revision, or everything if it fell further behind than the
 * log reaches (or a write touched more than LOG_KEYS keys). A writer whose connection dropped
 * before the answer finds its token in the log if its write happened.
 *
 * Before this layout the whole state was one znode, /flume/state. A master that starts on a
 * ZooKeeper without /flume/meta creates the item znodes from /flume/state (create-only: an
 * item already there was made by another migrating master from the same state), then
 * /flume/meta, which marks the migration done, then removes /flume/state.
 */
import { PURGE_ALL, emptyState, normalizeState, type LogicalConfig, type MasterState } from './types';

export const ROOT = '/flume';
export const META = `${ROOT}/meta`;
/** The single-znode state of masters before this layout. */
export const LEGACY_STATE = `${ROOT}/state`;
const CONFIGS = `${ROOT}/configs`;
const NODES = `${ROOT}/nodes`;
const DECOMMISSIONED = `${ROOT}/decommissioned`;
export const ITEM_DIRS = [CONFIGS, NODES, DECOMMISSIONED] as const;

/** Writes remembered in /flume/meta. */
export const LOG_LENGTH = 32;
/** A write touching more keys than this is logged as "everything" (readers reload all). */
export const LOG_KEYS = 256;
/** A transaction larger than this is refused before it reaches ZooKeeper (jute.maxbuffer is 1 MB). */
export const MAX_WRITE_BYTES = 768 * 1024;

export interface LogEntry {
  /** /flume/meta's version after this write. */
  rev: number;
  writer: string;
  /** Item keys touched; null: too many to list. */
  touched: string[] | null;
}

export interface MetaDoc {
  nextVersion: number;
  purgedAll: number;
  log: LogEntry[];
}

/**
 * An item key: 'c/<name>', 'n/<physical>' or 'd/<name>', the znode path relative to /flume with
 * the name encoded.
 */
export type ItemKey = string;

function encodeName(name: string): string {
  return encodeURIComponent(name).replace(/\./g, '%2E');
}

export function decodeName(znode: string): string {
  return decodeURIComponent(znode);
}

export const configKey = (name: string): ItemKey => `c/${encodeName(name)}`;
export const nodeKey = (physical: string): ItemKey => `n/${encodeName(physical)}`;
export const decomKey = (name: string): ItemKey => `d/${encodeName(name)}`;

const DIR_OF: Record<string, string> = { c: CONFIGS, n: NODES, d: DECOMMISSIONED };

export function itemPath(key: ItemKey): string {
  return `${DIR_OF[key[0]]}/${key.slice(2)}`;
}

/** The key of znode `child` of item directory `dir`. */
export function keyOf(dir: string, child: string): ItemKey {
  return `${dir === CONFIGS ? 'c' : dir === NODES ? 'n' : 'd'}/${child}`;
}

export interface NodeItem {
  mapping?: string[];
  purged?: number;
}

/** Every item znode of `state`, as key -> its data (JSON text, '' for a decommissioned name). */
export function itemsOf(state: Readonly<MasterState>): Map<ItemKey, string> {
  const items = new Map<ItemKey, string>();
  for (const [name, c] of Object.entries(state.configs)) items.set(configKey(name), JSON.stringify(c));
  for (const physical of new Set([...Object.keys(state.mappings), ...Object.keys(state.purged)])) {
    const data = nodeItemData(state, physical);
    if (data !== undefined) items.set(nodeKey(physical), data);
  }
  for (const name of state.decommissioned) items.set(decomKey(name), '');
  return items;
}

/** The data of `physical`'s node item in `state`: its mapping and purge time; undefined: it has none. */
export function nodeItemData(state: Readonly<MasterState>, physical: string): string | undefined {
  const mapping = Object.hasOwn(state.mappings, physical) ? state.mappings[physical] : undefined;
  const purged = physical !== PURGE_ALL && Object.hasOwn(state.purged, physical) ? state.purged[physical] : undefined;
  if (mapping === undefined && purged === undefined) return undefined;
  const item: NodeItem = {};
  if (mapping) item.mapping = mapping;
  if (purged !== undefined) item.purged = purged;
  return JSON.stringify(item);
}

/** The state from its items and meta (the inverse of itemsOf). */
export function stateOf(items: ReadonlyMap<ItemKey, string>, meta: MetaDoc): MasterState {
  const state = emptyState();
  state.nextVersion = meta.nextVersion;
  if (meta.purgedAll > 0) state.purged[PURGE_ALL] = meta.purgedAll;
  for (const [key, data] of items) {
    const name = decodeName(key.slice(2));
    if (key[0] === 'c') {
      state.configs[name] = JSON.parse(data) as LogicalConfig;
    } else if (key[0] === 'n') {
      const n = JSON.parse(data) as NodeItem;
      if (n.mapping) state.mappings[name] = n.mapping;
      if (n.purged !== undefined) state.purged[name] = n.purged;
    } else {
      state.decommissioned.push(name);
    }
  }
  // Object key order follows insertion; keep the order a single-znode state had (sorted by name).
  state.decommissioned.sort();
  return state;
}

export function metaOf(state: Readonly<MasterState>, log: LogEntry[]): MetaDoc {
  return { nextVersion: state.nextVersion, purgedAll: state.purged[PURGE_ALL] ?? 0, log };
}

export function parseMeta(data: Buffer): MetaDoc {
  const raw = JSON.parse(data.toString('utf8')) as Partial<MetaDoc>;
  return { nextVersion: raw.nextVersion ?? 1, purgedAll: raw.purgedAll ?? 0, log: raw.log ?? [] };
}

/** The state a legacy /flume/state znode held. */
export function legacyState(data: Buffer): MasterState {
  const raw = JSON.parse(data.toString('utf8')) as { state?: Partial<MasterState> };
  return normalizeState(raw.state ?? {});
}
