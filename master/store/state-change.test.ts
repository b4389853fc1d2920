import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { planCommand } from '../commands';
import { StateDraft, applyChange, freezeState } from './state-change';
import { cloneState, normalizeState, type MasterState } from './types';

/** A frozen state with something in every record, as the embedded store holds it. */
function published(): MasterState {
  return freezeState(
    normalizeState({
      configs: {
        a: { flow: 'default', source: 'text("/a")', sink: 'console', version: 1 },
        b: { flow: 'default', source: 'text("/b")', sink: 'null', version: 2 },
        gone: { flow: 'default', source: 'text("/g")', sink: 'null', version: 3 },
      },
      mappings: { p1: ['a', 'b'], p2: ['gone'] },
      decommissioned: ['old'],
      purged: { p9: 1000 },
      nextVersion: 4,
    }),
  );
}

test('every command changes the copy-on-write draft exactly as it changes a deep copy, and leaves the published state alone', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-state-change-'));
  fs.writeFileSync(path.join(dir, 'spec.flume'), 'a : text("/a2") | console ;\nnew : text("/n") | null ;\n');
  const commands: Array<[string, ...string[]]> = [
    ['config', 'a', 'text("/a1")', 'console'],
    ['config', 'old', 'flowX', 'text("/o")', 'null'],
    ['multiconfig', 'a : text("/m") | console ; c : text("/c") | null ;'],
    ['unconfig', 'b'],
    ['map', 'p2', 'a'],
    ['spawn', 'p3', 'old'],
    ['unmap', 'p1', 'b'],
    ['unmapAll'],
    ['decommission', 'gone'],
    ['decommission', 'b'],
    ['refresh', 'a'],
    ['refreshAll'],
    ['purge', 'p1'],
    ['purgeAll'],
    ['save', 'saved.flume'],
    ['load', 'spec.flume'],
  ];
  try {
    for (const [name, ...args] of commands) {
      const base = published();
      const before = JSON.stringify(base);
      const effect = planCommand(name, args, { baseDir: dir });
      const copy = cloneState(base);
      const expected = effect(copy);
      const draft = new StateDraft(base);
      assert.equal(effect(draft.state), expected, name);
      const change = draft.change();
      if (name === 'save') {
        assert.equal(change, undefined, 'save changes nothing');
        continue;
      }
      assert.ok(change, `${name} changes something`);
      const next = applyChange(base, change, false);
      // purge stamps the clock: compare what is not a time.
      const sameTimes = (s: MasterState): MasterState => ({ ...s, purged: Object.fromEntries(Object.keys(s.purged).map((k) => [k, 0])) });
      assert.deepEqual(sameTimes(JSON.parse(JSON.stringify(next))), sameTimes(copy), name);
      assert.equal(JSON.stringify(base), before, `${name} left the published state as it was`);
      assert.deepEqual(
        applyChange(cloneState(base), JSON.parse(JSON.stringify(change)), true),
        next,
        `${name}: its journal record replays`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a draft that ends where it started is no change; one that writes into a shared value throws', () => {
  const base = published();
  const same = new StateDraft(base);
  same.state.configs.a = { ...base.configs.a };
  delete same.state.configs.nosuch;
  same.state.purged = { p9: 1000 };
  assert.equal(same.change(), undefined);
  const changed = new StateDraft(base);
  delete changed.state.configs.a;
  changed.state.configs.z = { ...base.configs.b };
  assert.deepEqual(Object.keys(changed.state.configs).sort(), ['b', 'gone', 'z']);
  assert.ok(!('a' in changed.state.configs));
  assert.deepEqual(changed.change()?.configs, {
    entries: [
      ['a', null],
      ['z', base.configs.b],
    ],
  });
  const inPlace = new StateDraft(base);
  assert.throws(() => {
    inPlace.state.configs.a.version = 99;
  }, TypeError);
  assert.throws(() => inPlace.state.mappings.p1.push('x'), TypeError);
  assert.throws(() => inPlace.state.decommissioned.push('x'), TypeError);
  assert.equal(base.configs.a.version, 1);
});

test('a published state cannot be written into: its records throw on a write, as its values do', () => {
  const base = published();
  const draft = new StateDraft(base);
  draft.state.configs.z = { ...base.configs.a };
  const next = applyChange(base, draft.change()!);
  for (const state of [base, next]) {
    assert.throws(() => {
      state.configs.a = { ...state.configs.b };
    }, TypeError);
    assert.throws(() => delete state.mappings.p1, TypeError);
    assert.throws(() => {
      state.purged.p1 = 5;
    }, TypeError);
  }
  assert.deepEqual(Object.keys(next.configs), ['a', 'b', 'gone', 'z']);
  assert.equal(next.configs.b, base.configs.b);
  assert.equal(next.mappings, base.mappings);
});
