/**
 * The heartbeat fast path on bytes: a node repeating its last heartbeat only moves its last-seen
 * time; anything new in the bytes is decoded and recorded; the physical name is read from any
 * field order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from '../core/metrics';
import { decodeMessage, encodeMessage } from '../proto';
import { MasterMetrics } from './metrics';
import { NodeTable } from './nodes';
import { NodeStateCode as S } from '../proto/messages';
import { heartbeatHandler, physicalOf } from './services';
import { emptyState, type ConfigStore, type StateView } from './store/types';

const request = (physical: string, state: number, extra: object = {}): Buffer =>
  encodeMessage('HeartbeatRequest', {
    physical,
    host: 'h1',
    role: 'agent',
    startedAt: 1_700_000_000_000,
    logical: [{ name: physical, state, configVersion: 0, message: '', counters: {} }],
    ...extra,
  });

test('physicalOf reads field 1 whatever the order and the other fields', () => {
  assert.equal(physicalOf(request('node-ü', S.ACTIVE)), 'node-ü');
  assert.equal(physicalOf(Buffer.alloc(0)), '');
  // Hand-made: started_at (varint, 64-bit) and role before physical, then an unknown fixed64 and fixed32 field.
  const bytes = Buffer.from([
    0x28,
    0x80,
    0x80,
    0x80,
    0x80,
    0x80,
    0x80,
    0x80,
    0x80,
    0x01, // 5: 2^56
    0x1a,
    0x05,
    ...Buffer.from('agent'), // 3: role
    0x0a,
    0x02,
    ...Buffer.from('p9'), // 1: physical
    0x31,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8, // 6: fixed64
    0x3d,
    1,
    2,
    3,
    4, // 7: fixed32
  ]);
  assert.equal(physicalOf(bytes), 'p9');
  assert.throws(() => physicalOf(Buffer.from([0x0a, 0x05, 0x61])), /truncated/);
  assert.throws(() => physicalOf(Buffer.from([0x0b])), /wire type 3/);
});

test('repeat() takes only a settled node sending the very same bytes, and moves its last-seen time', () => {
  const t = new NodeTable({ heartbeatMs: 1000, lostAfterMs: 5000 });
  const v: StateView = { revision: 1, state: emptyState() };
  const active = request('p1', S.ACTIVE);
  assert.equal(t.repeat('p1', active, v, 1000), undefined, 'unknown node');
  t.heartbeat(decode(active), v, 1000, active);
  assert.equal(t.repeat('p1', active, v, 2000), undefined, 'the first heartbeat (HELLO) must be followed by a decoded one');
  const r = t.heartbeat(decode(active), v, 2000, active);
  assert.equal(t.list(v.state, 2000)[0].state, S.ACTIVE);
  assert.equal(t.repeat('p1', Buffer.from(active), v, 3000), r, 'same bytes: the cached reply');
  assert.equal(t.list(v.state, 3000)[0].lastSeen, 3000);
  const error = request('p1', S.ERROR);
  assert.equal(t.repeat('p1', error, v, 4000), undefined, 'a change must be decoded');
  t.heartbeat(decode(error), v, 4000, error);
  assert.equal(t.list(v.state, 4000)[0].state, S.ERROR);
  assert.equal(t.repeat('p1', active, v, 5000), undefined, 'compared with the latest bytes, not the first');
});

function decode(bytes: Buffer): Parameters<NodeTable['heartbeat']>[0] {
  const m = decodeMessage<{
    physical: string;
    host: string;
    role: string;
    startedAt: number;
    logical: Array<{ name: string; state: number; configVersion: number; message: string }>;
  }>('HeartbeatRequest', bytes);
  return {
    physical: m.physical,
    host: m.host,
    role: m.role,
    startedAt: m.startedAt,
    logical: m.logical.map(({ name, state, configVersion, message }) => ({ name, state, configVersion, message })),
  };
}

test('the handler: repeated beats keep the node ACTIVE and alive; a new config version is in the very next reply', () => {
  const t = new NodeTable({ heartbeatMs: 1000, lostAfterMs: 5000 });
  let view: StateView = { revision: 1, state: emptyState() };
  const store = { view: () => view } as unknown as ConfigStore;
  const handle = heartbeatHandler(() => store, t, new MasterMetrics(new Metrics()));
  const bytes = request('p1', S.ACTIVE);
  for (let i = 0; i < 5; i++) {
    const reply = decodeMessage<{ logical: string[]; versions: Array<{ logical: string; version: number }>; heartbeatMs: number }>(
      'HeartbeatReply',
      handle(bytes),
    );
    assert.deepEqual(reply, { logical: ['p1'], versions: [{ logical: 'p1', version: 0 }], heartbeatMs: 1000 });
  }
  assert.equal(t.list(view.state, Date.now())[0].state, S.ACTIVE);
  const state = emptyState();
  state.configs.p1 = { flow: 'f', source: 's', sink: 'k', version: 4 };
  view = { revision: 2, state };
  const next = decodeMessage<{ versions: Array<{ logical: string; version: number }> }>('HeartbeatReply', handle(bytes));
  assert.deepEqual(next.versions, [{ logical: 'p1', version: 4 }]);
});
