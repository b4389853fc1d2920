/**
 * What one change of the master state consists of, found without copying the state: the
 * embedded store runs a command's effect on a `StateDraft`, keeps the `StateChange` it yields
 * (the entries the effect set or removed, compared with what they were), journals it, and
 * makes the next state with `applyChange`. A command's cost grows with what it changes, not
 * with the number of configs: the published state's records are frozen records
 * (frozen-record.ts: persistent maps that read as plain objects), and the next one shares all
 * but the changed entries of the last one.
 *
 * The draft: a MasterState whose records (`configs`, `mappings`, `purged`) read through to the
 * state it was made from and keep their writes and removals aside; `decommissioned` and
 * `nextVersion` are plain fields. An effect may also replace a whole record (`draft.mappings =
 * {}`). The state's values (configs, mapping lists, the decommissioned list) are frozen
 * (`freezeState`, and every value a change brings), so an effect that would change one in
 * place instead of setting a new one throws rather than changing the published state; so does
 * a write into a published record.
 */
import { frozenRecord, isFrozenRecord, readerOf, withEntries } from './frozen-record';
import type { LogicalConfig, MasterState, Touched } from './types';

/** Entries set (a value) or removed (null); with `replace`, on an empty record instead of the old one. */
export interface RecordChange<V> {
  replace?: true;
  entries: Array<[string, V | null]>;
}

export interface StateChange {
  configs?: RecordChange<LogicalConfig>;
  mappings?: RecordChange<string[]>;
  purged?: RecordChange<number>;
  decommissioned?: string[];
  nextVersion?: number;
}

type RecordName = 'configs' | 'mappings' | 'purged';
const RECORDS: RecordName[] = ['configs', 'mappings', 'purged'];
const REMOVED = Symbol('removed');
type Overlay = Map<string, unknown>;

/** A record of `base` seen through `overlay`, where its writes and removals go. */
function overlaid(base: Record<string, unknown>, overlay: Overlay): Record<string, unknown> {
  const reader = readerOf(base);
  const present = (key: string): boolean => (overlay.has(key) ? overlay.get(key) !== REMOVED : reader.own(key) !== undefined);
  return new Proxy<Record<string, unknown>>(
    {},
    {
      get: (_, key) => {
        if (typeof key !== 'string') return Reflect.get(base, key);
        const value = overlay.has(key) ? overlay.get(key) : reader.own(key);
        return value === REMOVED ? undefined : (value ?? Reflect.get(base, key));
      },
      set: (_, key, value) => {
        if (typeof key !== 'string') return false;
        overlay.set(key, value);
        return true;
      },
      defineProperty: (_, key, descriptor) => {
        if (typeof key !== 'string' || !('value' in descriptor)) return false;
        overlay.set(key, descriptor.value);
        return true;
      },
      deleteProperty: (_, key) => {
        if (typeof key === 'string' && present(key)) overlay.set(key, REMOVED);
        return true;
      },
      has: (_, key) => (typeof key === 'string' && overlay.has(key) ? overlay.get(key) !== REMOVED : Reflect.has(base, key)),
      ownKeys: () => {
        const keys = reader.keys().filter((k) => overlay.get(k) !== REMOVED);
        for (const [k, v] of overlay) if (v !== REMOVED && reader.own(k) === undefined) keys.push(k);
        return keys;
      },
      getOwnPropertyDescriptor: (_, key) => {
        if (typeof key !== 'string' || !present(key)) return undefined;
        const value = overlay.has(key) ? overlay.get(key) : reader.own(key);
        return { value, writable: true, enumerable: true, configurable: true };
      },
    },
  );
}

/** A draft of `base` for one effect (see the header); `change()` says what the effect changed. */
export class StateDraft {
  readonly state: MasterState;
  private readonly views = new Map<RecordName, { view: Record<string, unknown>; overlay: Overlay }>();

  constructor(private readonly base: Readonly<MasterState>) {
    const state = { decommissioned: base.decommissioned, nextVersion: base.nextVersion } as MasterState;
    for (const name of RECORDS) {
      const overlay: Overlay = new Map();
      const view = overlaid(base[name] as Record<string, unknown>, overlay);
      this.views.set(name, { view, overlay });
      (state as unknown as Record<string, unknown>)[name] = view;
    }
    this.state = state;
  }

  /** What the effect changed, or undefined if nothing (entries set to what they were count as unchanged). */
  change(): StateChange | undefined {
    const out: StateChange = {};
    let changed = false;
    for (const name of RECORDS) {
      const c = this.recordChange(name);
      if (c) {
        (out as Record<RecordName, RecordChange<unknown>>)[name] = c;
        changed = true;
      }
    }
    if (!sameValue(this.state.decommissioned, this.base.decommissioned)) {
      out.decommissioned = [...this.state.decommissioned];
      changed = true;
    }
    if (this.state.nextVersion !== this.base.nextVersion) {
      out.nextVersion = this.state.nextVersion;
      changed = true;
    }
    return changed ? out : undefined;
  }

  private recordChange(name: RecordName): RecordChange<unknown> | undefined {
    const { view, overlay } = this.views.get(name)!;
    const base = this.base[name] as Record<string, unknown>;
    const now = this.state[name] as Record<string, unknown>;
    if (now !== view) {
      // Replaced whole: a change unless it holds the same entries.
      const keys = Object.keys(now);
      if (keys.length === readerOf(base).keys().length && keys.every((k) => Object.hasOwn(base, k) && sameValue(now[k], base[k]))) return;
      return { replace: true, entries: keys.map((k) => [k, now[k]]) };
    }
    const entries: Array<[string, unknown]> = [];
    for (const [key, value] of overlay) {
      const had = Object.hasOwn(base, key);
      if (value === REMOVED) {
        if (had) entries.push([key, null]);
      } else if (!had || !sameValue(value, base[key])) entries.push([key, value]);
    }
    return entries.length > 0 ? { entries } : undefined;
  }
}

/**
 * The state after `change`: a new state sharing every record the change leaves alone (`state`
 * is left as it was), or, `inPlace`, `state` itself with its changed records replaced (while
 * replaying the journal). The changed records are frozen records (frozen-record.ts) made from
 * the old ones at the cost of the entries changed; the values the change brings are frozen.
 */
export function applyChange(state: MasterState, change: StateChange, inPlace = false): MasterState {
  const next = inPlace ? state : { ...state };
  for (const name of RECORDS) {
    const c = change[name] as RecordChange<unknown> | undefined;
    if (!c) continue;
    const entries = c.entries.map(([key, value]): [string, unknown] => [key, value === null ? null : deepFreeze(value)]);
    (next as unknown as Record<string, unknown>)[name] = withEntries(c.replace ? undefined : state[name], entries);
  }
  if (change.decommissioned) next.decommissioned = deepFreeze([...change.decommissioned]);
  if (change.nextVersion !== undefined) next.nextVersion = change.nextVersion;
  return next;
}

/** The keys `change` may have set or removed in a record that was `before` (with `replace`, every key it had too). */
export function changedKeys<V>(before: Readonly<Record<string, V>>, change: RecordChange<V> | undefined): string[] {
  if (!change) return [];
  const keys = change.entries.map(([k]) => k);
  return change.replace ? [...new Set([...readerOf(before).keys(), ...keys])] : keys;
}

/** StateView.touched of the state `change` made from `before`, published as revision `from` + 1 or later. */
export function touchedBy(before: Readonly<MasterState>, change: StateChange, from: number): Touched {
  return { from, configs: changedKeys(before.configs, change.configs), mappings: changedKeys(before.mappings, change.mappings) };
}

/**
 * Freezes every value of `state` (see the header) and makes its records frozen records (frozen-record.ts), in place;
 * once, when a state is read from disk or ZooKeeper.
 */
export function freezeState(state: MasterState): MasterState {
  for (const name of RECORDS) {
    for (const value of Object.values(state[name])) deepFreeze(value);
    (state as unknown as Record<string, unknown>)[name] = frozenRecord<unknown>(state[name]);
  }
  deepFreeze(state.decommissioned);
  return state;
}

/** `value` and everything in it frozen (see the header). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value) && !isFrozenRecord(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Equal as stored values: the same primitive, or arrays or objects with the same primitives one level down. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => (a as Record<string, unknown>)[k] === (b as Record<string, unknown>)[k]);
}
