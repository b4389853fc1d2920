/**
 * The ZooKeeper store's writes (zk-draft.ts) against the plain way: every admin command run on a
 * deep copy of the state and on a StateDraft must give the same next state, the item writes must
 * be exactly the items that differ, a follower applying those writes must reach the same state, and the state the
 * draft was made from must not change.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planCommand } from '../commands';
import { PURGE_ALL, cloneState, emptyState, type MasterState } from './types';
import { StateDraft } from './state-change';
import { applyItems, itemChange } from './zk-draft';
import { itemsOf, metaOf } from './zk-layout';

function fleetState(): MasterState {
  const s = emptyState();
  for (let i = 0; i < 300; i++)
    s.configs[`web${i}`] = { flow: i % 2 ? 'f1' : 'default-flow', source: `text("/l/${i}")`, sink: 'null', version: i + 1 };
  for (let i = 0; i < 100; i++) s.mappings[`host-${i}`] = [`web${i}`, `web${i + 100}`];
  s.decommissioned = ['gone.a', 'gone.b'];
  s.purged = { 'host-1': 5, [PURGE_ALL]: 3 };
  s.nextVersion = 301;
  return s;
}

const COMMANDS: Array<[string, string[]]> = [
  ['config', ['web7', 'text("/new")', 'console']],
  ['config', ['fresh.one', 'f2', 'text("/new")', 'console']],
  ['config', ['gone.a', 'text("/back")', 'null']],
  ['config', ['web8', `text("/l/8")`, 'null']],
  ['multiconfig', ['web1 : text("/m1") | null ;\nnew2 : text("/m2") | console ;']],
  ['unconfig', ['web9']],
  ['map', ['host-1', 'web200']],
  ['map', ['host-new', 'gone.b']],
  ['spawn', ['host-2', 'web2']],
  ['unmap', ['host-3', 'web3']],
  ['unmap', ['host-4', 'web104']],
  ['unmapAll', []],
  ['decommission', ['web5']],
  ['decommission', ['web105']],
  ['refresh', ['web10']],
  ['refreshAll', []],
  ['purge', ['host-9']],
  ['purgeAll', []],
];

for (const [name, args] of COMMANDS) {
  test(`${name} ${args.join(' ')}: the writes are exactly the items that differ and gives the state a copy gives`, () => {
    const base = fleetState();
    const before = cloneState(base);
    const effect = planCommand(name, args, { baseDir: '/nonexistent' });
    const copy = cloneState(base);
    effect(copy);
    const draft = new StateDraft(base);
    effect(draft.state);
    const { writes, created, next } = itemChange(base, draft.change());
    // purge stamps the clock: take the draft's times.
    for (const k of Object.keys(copy.purged)) if (k in next.purged) copy.purged[k] = next.purged[k];
    copy.decommissioned.sort();
    assert.deepEqual(next, copy);
    assert.deepEqual(base, before, 'the base state is unchanged');

    const was = itemsOf(base);
    const now = itemsOf(next);
    const differ = new Map<string, string | undefined>();
    for (const [k, v] of now) if (was.get(k) !== v) differ.set(k, v);
    for (const k of was.keys()) if (!now.has(k)) differ.set(k, undefined);
    assert.deepEqual(new Map([...writes].sort()), new Map([...differ].sort()));
    assert.deepEqual([...created].sort(), [...differ.keys()].filter((k) => !was.has(k)).sort());

    const followed = applyItems(base, writes, metaOf(next, []));
    assert.deepEqual(followed, next, 'a follower applying the writes reaches the same state');
    assert.deepEqual(base, before, 'applying leaves the base unchanged');
  });
}

test('a change shares what a command does not change: the other configs, and the records it left alone', () => {
  const base = fleetState();
  const draft = new StateDraft(base);
  planCommand('config', ['web7', 'text("/new")', 'console'], { baseDir: '/nonexistent' })(draft.state);
  const { writes, next } = itemChange(base, draft.change());
  assert.deepEqual([...writes.keys()], ['c/web7']);
  assert.equal(next.configs.web8, base.configs.web8);
  assert.equal(next.mappings, base.mappings);
  assert.equal(next.purged, base.purged);
  assert.equal(next.decommissioned, base.decommissioned);
});
