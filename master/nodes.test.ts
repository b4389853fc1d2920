import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NameHeldError, NodeTable, aggregate, type NodeRecord } from './nodes';
import { NodeStateCode as S } from '../proto/messages';
import { PURGE_ALL, emptyState, type StateView } from './store/types';

const view = (revision: number, mutate: (s: ReturnType<typeof emptyState>) => void = () => undefined): StateView => {
  const state = emptyState();
  mutate(state);
  return { revision, state };
};

const hb = (physical: string, logical: Array<[string, number]> = []) => ({
  physical,
  host: 'h',
  role: 'agent',
  startedAt: 1,
  logical: logical.map(([name, state]) => ({ name, state, configVersion: 0, message: '' })),
});

test('first heartbeat is HELLO; the reply names the node itself when unmapped; cached per revision', () => {
  const t = new NodeTable({ heartbeatMs: 1000, lostAfterMs: 5000 });
  const v1 = view(1);
  const r1 = t.heartbeat(hb('p1'), v1, 1000);
  assert.deepEqual(r1, { logical: ['p1'], versions: [{ logical: 'p1', version: 0 }], heartbeatMs: 1000 });
  assert.equal(t.list(v1.state, 1000)[0].state, S.HELLO);
  assert.equal(t.heartbeat(hb('p1', [['p1', S.ACTIVE]]), v1, 2000), r1, 'same revision: the same reply object');
  const v2 = view(2, (s) => {
    s.mappings.p1 = ['a', 'b'];
    s.configs.a = { flow: 'f', source: 's', sink: 'k', version: 7 };
  });
  const r2 = t.heartbeat(hb('p1', [['p1', S.ACTIVE]]), v2, 3000);
  assert.deepEqual(r2.versions, [
    { logical: 'a', version: 7 },
    { logical: 'b', version: 0 },
  ]);
  assert.equal(t.list(v2.state, 3000)[0].state, S.ACTIVE);
});

test('a commit rebuilds only the replies of the nodes it concerns; the others stay the same object', () => {
  const t = new NodeTable({ heartbeatMs: 1000, lostAfterMs: 5000 });
  const v1 = view(1, (s) => {
    s.configs.p1 = { flow: 'f', source: 's', sink: 'k', version: 1 };
    s.configs.x = { flow: 'f', source: 's', sink: 'k', version: 2 };
  });
  const p1 = t.heartbeat(hb('p1'), v1, 1000);
  const p2 = t.heartbeat(hb('p2'), v1, 1000);
  const p3 = t.heartbeat(hb('p3'), v1, 1000);
  const v2: StateView = {
    revision: 2,
    state: { ...v1.state, configs: { ...v1.state.configs, p1: { ...v1.state.configs.p1, version: 3 } }, nextVersion: 4 },
  };
  assert.deepEqual(t.replyFor('p1', v2)!.versions, [{ logical: 'p1', version: 3 }]);
  assert.notEqual(t.replyFor('p1', v2), p1);
  assert.equal(t.replyFor('p2', v2), p2, 'p2 is not concerned');
  // A mapping of x to p3 concerns p3 only; later a new version of x reaches it.
  const v3: StateView = { revision: 3, state: { ...v2.state, mappings: { p3: ['x'] } } };
  assert.deepEqual(t.replyFor('p3', v3)!.versions, [{ logical: 'x', version: 2 }]);
  assert.notEqual(t.replyFor('p3', v3), p3);
  assert.equal(t.replyFor('p2', v3), p2);
  const v4: StateView = { revision: 4, state: { ...v3.state, configs: { ...v3.state.configs, x: { ...v3.state.configs.x, version: 5 } } } };
  assert.deepEqual(t.replyFor('p3', v4)!.versions, [{ logical: 'x', version: 5 }]);
  assert.equal(t.replyFor('p2', v4), p2);
  assert.deepEqual(t.replyFor('p1', v4)!.versions, [{ logical: 'p1', version: 3 }]);
});

test('LOST after the silence, for this master and with records from other masters', () => {
  const t = new NodeTable({ heartbeatMs: 1000, lostAfterMs: 5000 });
  const v = view(1);
  t.heartbeat(hb('p1', [['p1', S.ACTIVE]]), v, 1000);
  t.heartbeat(hb('p1', [['p1', S.ACTIVE]]), v, 2000);
  assert.equal(t.list(v.state, 7000)[0].state, S.ACTIVE);
  const lost = t.list(v.state, 7001)[0];
  assert.equal(lost.state, S.LOST);
  assert.equal(lost.logical[0].state, S.LOST);
  assert.deepEqual(t.newlyLost(v.state, 7001), ['p1']);
  assert.deepEqual(t.newlyLost(v.state, 8000), [], 'reported once');
  // Another master heard from it later: it is alive.
  const remote: NodeRecord = { physical: 'p1', host: 'h', role: 'agent', state: S.ACTIVE, lastSeen: 7500, startedAt: 1, logical: [] };
  t.setExchange({ remote: () => [remote], get: (p) => (p === 'p1' ? remote : undefined) });
  assert.equal(t.list(v.state, 8000)[0].state, S.ACTIVE);
  assert.equal(t.list(v.state, 8000)[0].lastSeen, 7500);
});

test('purge hides what was seen before it; purgeAll hides everyone', () => {
  const t = new NodeTable({ heartbeatMs: 1000, lostAfterMs: 5000 });
  const v = view(1);
  t.heartbeat(hb('p1'), v, 1000);
  t.heartbeat(hb('p2'), v, 1000);
  assert.deepEqual(
    t.list({ ...v.state, purged: { p1: 1500 } }, 2000).map((n) => n.physical),
    ['p2'],
  );
  assert.deepEqual(t.list({ ...v.state, purged: { [PURGE_ALL]: 1500 } }, 2000), []);
  t.heartbeat(hb('p1'), v, 3000);
  assert.deepEqual(
    t.list({ ...v.state, purged: { [PURGE_ALL]: 1500 } }, 3000).map((n) => n.physical),
    ['p1'],
    'back after a new heartbeat',
  );
});

test('aggregate state of a physical node', () => {
  const l = (...states: number[]) => states.map((state, i) => ({ name: `l${i}`, state, configVersion: 0, message: '' }));
  assert.equal(aggregate([]), S.IDLE);
  assert.equal(aggregate(l(S.ACTIVE, S.IDLE)), S.ACTIVE);
  assert.equal(aggregate(l(S.ACTIVE, S.ERROR)), S.ERROR);
  assert.equal(aggregate(l(S.ACTIVE, S.CONFIGURING)), S.CONFIGURING);
  assert.equal(aggregate(l(S.DECOMMISSIONED)), S.DECOMMISSIONED);
  assert.equal(aggregate(l(S.IDLE, S.IDLE)), S.IDLE);
});

test('a second live process claiming a name is refused and listed; once the holder is silent it is taken as a restart', () => {
  const t = new NodeTable({ heartbeatMs: 1000, lostAfterMs: 5000 });
  const v = view(1);
  const a = { ...hb('p1', [['p1', S.ACTIVE]]), host: 'hA', startedAt: 100 };
  const b = { ...hb('p1', [['p1', S.IDLE]]), host: 'hB', role: 'collector', startedAt: 200 };
  t.heartbeat(a, v, 1000);
  assert.throws(
    () => t.heartbeat(b, v, 1500),
    (err: Error) => err instanceof NameHeldError && /held by another live process \(host hA/.test(err.message),
  );
  t.heartbeat(a, v, 2000);
  const listed = t.list(v.state, 2000);
  assert.deepEqual(
    listed.map((r) => [r.physical, r.host, r.state]),
    [
      ['p1', 'hA', S.ACTIVE],
      ['p1', 'hB', S.ERROR],
    ],
  );
  assert.match(listed[1].logical[0].message, /refused|held by another/);
  // The holder goes silent: after the claim window the newcomer is its restart.
  assert.throws(() => t.heartbeat(b, v, 2000 + t.claimWindowMs), NameHeldError);
  t.heartbeat(b, v, 2001 + t.claimWindowMs);
  const after = t.list(v.state, 2001 + t.claimWindowMs);
  assert.deepEqual(
    after.map((r) => [r.physical, r.host, r.role]),
    [['p1', 'hB', 'collector']],
  );
  // The old process, back from a partition, is now the one refused.
  assert.throws(() => t.heartbeat(a, v, 2100 + t.claimWindowMs), NameHeldError);
});
