import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHAIN_LENGTH, ChainTable, liveCollectors, rank } from './chains';
import type { LogicalStatus, NodeRecord } from './nodes';
import { NodeStateCode } from '../proto/messages';
import { emptyState, type MasterState } from './store/types';

const collectors = Array.from({ length: 8 }, (_, i) => `10.0.0.${i + 1}:35853`);
const agents = Array.from({ length: 8000 }, (_, i) => `agent-${i}`);

test('rendezvous hashing spreads first choices evenly and names distinct collectors', () => {
  const first = new Map<string, number>();
  for (const a of agents) {
    const chain = rank(a, collectors);
    assert.equal(chain.length, CHAIN_LENGTH);
    assert.equal(new Set(chain).size, CHAIN_LENGTH);
    first.set(chain[0], (first.get(chain[0]) ?? 0) + 1);
  }
  const fair = agents.length / collectors.length;
  assert.equal(first.size, collectors.length);
  for (const [c, n] of first) assert.ok(Math.abs(n - fair) < fair * 0.15, `${c} is first for ${n} agents, fair share ${fair}`);
});

test('a collector leaving changes only the chains that named it; its agents move to their second choice', () => {
  const gone = collectors[3];
  const rest = collectors.filter((c) => c !== gone);
  let affected = 0;
  for (const a of agents) {
    const before = rank(a, collectors);
    const after = rank(a, rest);
    if (!before.includes(gone)) {
      assert.deepEqual(after, before, `${a} did not name ${gone} but its chain changed`);
      continue;
    }
    affected++;
    assert.deepEqual(
      after.slice(0, CHAIN_LENGTH - 1),
      before.filter((c) => c !== gone),
      `${a} kept the order of the others`,
    );
  }
  // Each collector is in about CHAIN_LENGTH / N of the chains.
  const expected = (agents.length * CHAIN_LENGTH) / collectors.length;
  assert.ok(Math.abs(affected - expected) < expected * 0.15, `${affected} chains affected, expected about ${expected}`);
});

test('fewer collectors than a chain: all of them, in a per-agent order; none: empty', () => {
  assert.deepEqual([...rank('a', collectors.slice(0, 2))].sort(), collectors.slice(0, 2));
  assert.deepEqual(rank('a', []), []);
});

function state(): MasterState {
  const s = emptyState();
  s.configs = {
    c1: { flow: 'web', source: 'autoCollectorSource(0)', sink: 'null', version: 1 },
    c2: { flow: 'web', source: 'autoCollectorSource(0)', sink: 'null', version: 2 },
    c3: { flow: 'db', source: 'autoCollectorSource(0)', sink: 'null', version: 3 },
    c4: { flow: 'web', source: 'autoCollectorSource(0)', sink: 'null', version: 4 },
    a1: { flow: 'web', source: 'null', sink: 'autoE2EChain', version: 5 },
  };
  s.mappings = { h1: ['c1'], h2: ['c2'], h3: ['c3'], h4: ['c4'] };
  return s;
}

function node(physical: string, logical: LogicalStatus[], nodeState: number = NodeStateCode.ACTIVE): NodeRecord {
  return { physical, host: physical, role: 'collector', state: nodeState, lastSeen: 1, startedAt: 1, logical };
}

const active = (name: string, listen?: string): LogicalStatus => ({
  name,
  state: NodeStateCode.ACTIVE,
  configVersion: 1,
  message: '',
  ...(listen ? { listen } : {}),
});

test('live collectors: ACTIVE, configured, mapped, with an address, on a node neither LOST nor DECOMMISSIONED', () => {
  const s = state();
  const nodes = [
    node('h1', [active('c1', 'h1:1')]),
    node('h2', [active('c2', 'h2:1')], NodeStateCode.LOST),
    node('h3', [active('c3', 'h3:1')]),
    node('h4', [{ ...active('c4', 'h4:1'), state: NodeStateCode.ERROR }]),
    node('h5', [active('c9', 'h5:1')]), // not configured
    node('h6', [active('c1', 'h6:1')]), // c1 is mapped to h1, not h6
    node('h7', [active('h7')]), // no address: not a collector
  ];
  assert.deepEqual(
    liveCollectors(s, nodes).map((c) => `${c.address}/${c.flow}`),
    ['h1:1/web', 'h3:1/db'],
  );
  s.decommissioned.push('c1');
  assert.deepEqual(
    liveCollectors(s, nodes).map((c) => c.address),
    ['h3:1'],
  );
});

test('chain table: per-flow lists, version changes only with the list, two masters answer the same', () => {
  const s = state();
  let nodes = [node('h1', [active('c1', 'h1:1')]), node('h2', [active('c2', 'h2:1')]), node('h3', [active('c3', 'h3:1')])];
  let revision = 1;
  const source = () => ({ revision, state: s, nodes: () => nodes });
  const m1 = new ChainTable(source, 0);
  const m2 = new ChainTable(source, 0);
  const first = m1.chain('a1', undefined, 1);
  assert.deepEqual([...first.collectors].sort(), ['h1:1', 'h2:1'], 'a1 is in flow web: c3 (db) is not offered');
  assert.deepEqual(m2.chain('a1', undefined, 1), first);
  assert.deepEqual(m1.chain('a1', 'db', 1).collectors, ['h3:1']);
  assert.deepEqual(m1.chain('a1', 'nosuchflow', 1), { collectors: [], version: m1.chain('x', 'nosuchflow', 1).version });

  revision = 2; // an unrelated state change: same list, same version
  assert.deepEqual(m1.chain('a1', undefined, 2), first);

  nodes = [...nodes, node('h4', [active('c4', 'h4:1')])];
  const grown = m1.chain('a1', undefined, 3);
  assert.equal(grown.collectors.length, 3);
  assert.notEqual(grown.version, first.version);
  assert.deepEqual(m2.chain('a1', undefined, 3), grown);

  nodes = nodes.map((n) => (n.physical === 'h4' ? { ...n, state: NodeStateCode.LOST } : n));
  assert.deepEqual(m1.chain('a1', undefined, 4), first, 'back to the same list, back to the same version');
});
