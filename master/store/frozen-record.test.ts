/**
 * frozen-record.ts against the plain way: random sets and removals applied to a plain object and, one
 * `withEntries` at a time, to frozen records; every version must read as the plain object did at that point,
 * through every way the master's code reads a record, and writing into one must throw.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import * as fc from 'fast-check';
import { frozenRecord, withEntries } from './frozen-record';

/** Everything a reader of MasterState's records does with one, as data to compare. */
function reads(record: Record<string, unknown>, probes: string[]): unknown {
  const forIn: string[] = [];
  for (const k in record) forIn.push(k);
  return {
    keys: Object.keys(record),
    values: Object.values(record),
    entries: Object.entries(record),
    names: Object.getOwnPropertyNames(record),
    forIn,
    spread: { ...record },
    assigned: Object.assign({}, record),
    json: JSON.stringify(record),
    nested: JSON.stringify({ record }),
    inspected: inspect(record),
    length: Object.keys(record).length,
    probes: probes.map((k) => [record[k], k in record, Object.hasOwn(record, k), Object.getOwnPropertyDescriptor(record, k)?.value]),
    proto: Object.getPrototypeOf(record) === Object.prototype,
    toStringTag: Object.prototype.toString.call(record),
    symbols: Object.getOwnPropertySymbols(record),
  };
}

// Integer-like keys come first in a plain object; names of Object.prototype's members must read as entries when set.
const KEY = fc.constantFrom(
  'a',
  'b',
  'web-1',
  'web-2',
  '7',
  '10',
  '01',
  '-1',
  '4294967295',
  'toString',
  'constructor',
  'hasOwnProperty',
  '',
);
const VALUE = fc.oneof(fc.integer(), fc.array(fc.string(), { maxLength: 2 }), fc.record({ version: fc.nat() }));
const CHANGE = fc.array(fc.tuple(KEY, fc.option(VALUE, { nil: null })), { maxLength: 6 });

test('a frozen record reads as the plain object with the same entries would, in every version, whatever was set and removed', () => {
  fc.assert(
    fc.property(fc.dictionary(KEY, VALUE), fc.array(fc.tuple(CHANGE, fc.boolean()), { maxLength: 8 }), (start, changes) => {
      const probes = ['a', '7', 'toString', 'valueOf', 'nosuch', '__proto__'];
      const plain: Record<string, unknown> = { ...start };
      let record = frozenRecord(start);
      const versions: Array<[Record<string, unknown>, unknown]> = [[record, reads(plain, probes)]];
      for (const [change, replace] of changes) {
        if (replace) for (const k of Object.keys(plain)) delete plain[k];
        for (const [k, v] of change) {
          if (v === null) delete plain[k];
          else plain[k] = v;
        }
        record = withEntries(replace ? undefined : record, change);
        versions.push([record, reads(plain, probes)]);
        assert.deepEqual(record, plain);
      }
      for (const [version, expected] of versions) assert.deepEqual(reads(version, probes), expected, 'every version is kept');
    }),
    { numRuns: 300 },
  );
});

test('writing into a frozen record throws and changes nothing', () => {
  const record = withEntries<unknown>(undefined, [
    ['a', 1],
    ['b', 2],
  ]);
  assert.throws(() => {
    record.a = 5;
  }, TypeError);
  assert.throws(() => {
    record.c = 5;
  }, TypeError);
  assert.throws(() => delete record.a, TypeError);
  assert.equal(delete record.nosuch, true, 'as with a frozen object, removing a key it does not have is no error');
  assert.throws(() => Object.defineProperty(record, 'd', { value: 1 }), TypeError);
  assert.throws(() => Object.freeze(record), TypeError);
  assert.deepEqual(record, { a: 1, b: 2 });
});

test('a change that sets entries to what they are gives back the same record', () => {
  const value = { version: 1 };
  const record = withEntries(undefined, [['a', value]]);
  assert.equal(withEntries(record, [['a', value]]), record);
  assert.equal(withEntries<{ version: number }>(record, [['nosuch', null]]), record);
  assert.notEqual(withEntries(record, [['a', { version: 1 }]]), record);
});
