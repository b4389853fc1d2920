import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeIndex } from './state-diff';
import { emptyState, type MasterState } from './store/types';

const cfg = (version: number) => ({ flow: 'default', source: 'null', sink: 'null', version });

function state(patch: Partial<MasterState>): MasterState {
  return { ...emptyState(), ...patch };
}

const sorted = (s: Set<string>): string[] => [...s].sort();

test('a config change concerns the node of that name and the nodes mapped to it, no other', () => {
  const configs = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`n${i}`, cfg(i + 1)]));
  const base = state({ configs, mappings: { p1: ['l1'], p2: ['l1', 'l2'], p3: ['l2'] } });
  const index = new ChangeIndex(base);
  assert.deepEqual(sorted(index.advance({ ...base, configs: { ...configs, n7: cfg(200) } })), ['n7']);
  const withL1: Record<string, ReturnType<typeof cfg>> = { ...configs, n7: cfg(200), l1: cfg(201) };
  assert.deepEqual(sorted(index.advance({ ...base, configs: withL1 })), ['l1', 'p1', 'p2']);
  const { n3: _gone, ...without } = withL1;
  assert.deepEqual(sorted(index.advance({ ...base, configs: without })), ['n3'], 'an unconfig');
  assert.deepEqual(sorted(index.advance({ ...base, configs: without })), [], 'nothing changed');
});

test('map, unmap and decommission concern the physical nodes they name; the index follows the mappings', () => {
  const configs = { l1: cfg(1), l2: cfg(2) };
  const s0 = state({ configs, mappings: { p1: ['l1'] } });
  const index = new ChangeIndex(s0);
  const s1 = state({ configs, mappings: { p1: ['l1'], p2: ['l1'] } });
  assert.deepEqual(sorted(index.advance(s1)), ['p2'], 'a map');
  assert.deepEqual(sorted(index.advance(state({ configs: { ...configs, l1: cfg(3) }, mappings: s1.mappings }))), ['l1', 'p1', 'p2']);
  const s3 = state({ configs: { ...configs, l1: cfg(3) }, mappings: { p2: ['l1'] } });
  assert.deepEqual(sorted(index.advance(s3)), ['p1'], 'an unmap');
  assert.deepEqual(sorted(index.advance({ ...s3, configs: { ...s3.configs, l1: cfg(4) } })), ['l1', 'p2'], 'p1 no longer runs l1');
  const s5 = { ...s3, configs: { l1: cfg(4) }, decommissioned: ['l2'] };
  assert.deepEqual(sorted(index.advance(s5)), ['l2'], 'a decommission');
  assert.deepEqual(sorted(index.advance({ ...s5, decommissioned: [] })), ['l2'], 'undone');
});
