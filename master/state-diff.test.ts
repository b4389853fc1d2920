import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeIndex } from './state-diff';
import { emptyState, type MasterState, type StateView, type Touched } from './store/types';

const cfg = (version: number) => ({ flow: 'default', source: 'null', sink: 'null', version });

function state(patch: Partial<MasterState>): MasterState {
  return { ...emptyState(), ...patch };
}

const sorted = (s: Set<string>): string[] => [...s].sort();

let revision = 0;
const view = (s: MasterState, touched?: Touched): StateView => ({ revision: ++revision, state: s, touched });

/** A ChangeIndex fed views that do not say what they touched: it compares whole states. */
function indexOf(first: MasterState): { advance: (next: MasterState) => Set<string> } {
  const index = new ChangeIndex(view(first));
  return { advance: (next) => index.advance(view(next)) };
}

test('a config change concerns the node of that name and the nodes mapped to it, no other', () => {
  const configs = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`n${i}`, cfg(i + 1)]));
  const base = state({ configs, mappings: { p1: ['l1'], p2: ['l1', 'l2'], p3: ['l2'] } });
  const index = indexOf(base);
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
  const index = indexOf(s0);
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

test('a view that says what it touched since the indexed one is looked at there only; one from another revision, whole', () => {
  const configs = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`n${i}`, cfg(i + 1)]));
  const base = state({ configs, mappings: { p1: ['l1'] } });
  const first = view(base);
  const index = new ChangeIndex(first);
  // n8 differs too but is not named: a view that names its keys is believed.
  const next = { ...base, configs: { ...configs, n7: cfg(200), n8: cfg(201), l1: cfg(202) }, mappings: { p1: ['l1'], p2: ['n9'] } };
  const named = view(next, { from: first.revision, configs: ['n7', 'l1'], mappings: ['p2'] });
  assert.deepEqual(sorted(index.advance(named)), ['l1', 'n7', 'p1', 'p2']);
  const later = { ...next, configs: { ...next.configs, n9: cfg(300), n10: cfg(301) } };
  const stale = view(later, { from: first.revision, configs: ['n9'], mappings: [] });
  assert.deepEqual(sorted(index.advance(stale)), ['n10', 'n9', 'p2'], 'touched since an older view: compared whole');
});
