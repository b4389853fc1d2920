/**
 * A record of the master state as the stores publish it (`MasterState.configs`, `mappings`, `purged`): a persistent map
 * (immutable's OrderedMap, a hash array mapped trie) behind a Proxy that reads as a plain object whose entries cannot
 * be written. `withEntries` makes the next record from the previous one in O(entries changed × log n), sharing the
 * rest, where a copy of a plain object costs every key (10,000 configs in a fleet) on every change.
 *
 * What a reader sees is what it would see of a plain object holding the same entries, set in the same order:
 * property reads (and what Object.prototype gives for a missing key), `in`, Object.hasOwn, Object.keys/values/
 * entries, for-in, spread, JSON.stringify, with the keys in plain-object order (integer-like keys ascending first,
 * then the others in the order they were first set; setting a key again keeps its place, removing it loses it).
 * Writes (set, delete, defineProperty, preventExtensions) throw a TypeError in strict code. What differs: the
 * descriptors say `configurable: true` and Object.isFrozen says false (a Proxy may claim neither for a property or
 * object its target does not have); `toJSON` and util.inspect's custom symbol read as functions (inherited ones in
 * effect, unless an entry of that name hides them) so that JSON.stringify and console.log do not go through the Proxy
 * key by key.
 */
import { OrderedMap } from 'immutable';
import { inspect } from 'node:util';

const ENTRIES = Symbol('frozen record entries');
const ABSENT = Symbol('absent');

class Entries<V> {
  private ordered?: string[];

  constructor(
    readonly map: OrderedMap<string, V>,
    /** How many keys are integer-like (they come first, ascending, in a plain object's keys). */
    readonly indexKeys: number,
  ) {}

  /** The keys in plain-object order; made once, on the first read that lists them. */
  keys(): readonly string[] {
    if (this.ordered) return this.ordered;
    let keys = [...this.map.keys()];
    if (this.indexKeys > 0) {
      const index = keys.filter(isIndexKey).sort((a, b) => Number(a) - Number(b));
      keys = [...index, ...keys.filter((k) => !isIndexKey(k))];
    }
    return (this.ordered = keys);
  }
}

/** True if `record` was made by this module. */
export function isFrozenRecord(record: object): boolean {
  return entriesOf(record) !== undefined;
}

/** What a reader that goes through every entry of a record needs, without the Proxy of a frozen record. */
export interface RecordReader<V> {
  /** Object.keys(record) (shared: do not change it). */
  keys(): readonly string[];
  /** record[key] if the record has that key (Object.hasOwn), else undefined. */
  own(key: string): V | undefined;
}

/** A RecordReader of `record`, a frozen record or a plain object (whose values are never undefined). */
export function readerOf<V>(record: Readonly<Record<string, V>>): RecordReader<V> {
  const entries = entriesOf<V>(record);
  if (entries) return { keys: () => entries.keys(), own: (key) => entries.map.get(key) };
  return { keys: () => Object.keys(record), own: (key) => (Object.hasOwn(record, key) ? record[key] : undefined) };
}

/** `record` (a plain object or a frozen record) as a frozen record with the same entries in the same order. */
export function frozenRecord<V>(record: Readonly<Record<string, V>>): Record<string, V> {
  return isFrozenRecord(record) ? (record as Record<string, V>) : withEntries(undefined, Object.entries(record));
}

/**
 * The record `base` (a frozen or plain record; undefined: an empty one) with `entries` set (a value) or removed
 * (null), in their order; `base` is left as it was, and is what comes back if nothing changed.
 */
export function withEntries<V>(
  base: Readonly<Record<string, V>> | undefined,
  entries: Iterable<readonly [string, V | null]>,
): Record<string, V> {
  const from: Entries<V> | undefined = base && entriesOf(base);
  let indexKeys = from?.indexKeys ?? 0;
  const start =
    from?.map ??
    OrderedMap<string, V>().withMutations((m) => {
      if (base) for (const [k, v] of Object.entries(base)) m.set(k, v);
    });
  if (!from && base) for (const k of start.keys()) if (isIndexKey(k)) indexKeys++;
  const map = start.withMutations((m) => {
    for (const [key, value] of entries) {
      const had = m.has(key);
      if (value === null) m.remove(key);
      else m.set(key, value);
      if (had !== m.has(key) && isIndexKey(key)) indexKeys += had ? -1 : 1;
    }
  });
  return from && map === from.map ? (base as Record<string, V>) : recordOf(new Entries(map, indexKeys));
}

function entriesOf<V>(record: object): Entries<V> | undefined {
  return (record as { [ENTRIES]?: Entries<V> })[ENTRIES];
}

/** An array index, which a plain object lists before its other keys, ascending. */
function isIndexKey(key: string): boolean {
  const n = Number(key);
  return n >>> 0 === n && n !== 4294967295 && String(n) === key;
}

function recordOf<V>(entries: Entries<V>): Record<string, V> {
  const { map } = entries;
  const plain = (): Record<string, V> => {
    const out: Record<string, V> = {};
    for (const k of entries.keys()) {
      if (k === '__proto__') Object.defineProperty(out, k, { value: map.get(k), enumerable: true, writable: true, configurable: true });
      else out[k] = map.get(k)!;
    }
    return out;
  };
  // Not entries (see the header): JSON.stringify of a plain copy is faster than through the Proxy, and util.inspect
  // shows a Proxy's target.
  const target = Object.defineProperties(
    {},
    {
      toJSON: { value: plain, configurable: true },
      [inspect.custom]: { value: (_: number, options: object) => inspect(plain(), options), configurable: true },
    },
  );
  return new Proxy<Record<string, V>>(target, {
    get: (target, key) => {
      if (key === ENTRIES) return entries;
      const value = typeof key === 'string' ? map.get(key, ABSENT) : ABSENT;
      return value === ABSENT ? Reflect.get(target, key) : value;
    },
    has: (target, key) => (typeof key === 'string' && map.has(key)) || Reflect.has(target, key),
    ownKeys: () => entries.keys() as string[],
    getOwnPropertyDescriptor: (_, key) => {
      const value = typeof key === 'string' ? map.get(key, ABSENT) : ABSENT;
      return value === ABSENT ? undefined : { value, writable: false, enumerable: true, configurable: true };
    },
    set: () => false,
    defineProperty: () => false,
    deleteProperty: (_, key) => typeof key !== 'string' || !map.has(key),
    preventExtensions: () => false,
  });
}
