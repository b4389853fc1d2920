/** When waitForNodesActive / waitForNodesDone consider a node ready (no master needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LogicalConfig, NodeStatus } from '../../shell/admin-client';
import { describeView, isActive, isDone, nodeViews } from '../../shell/session';
import { NodeStateCode, type NodeStateName } from '../../proto/messages';

function physical(name: string, state: NodeStateName, logical: Array<[string, NodeStateName, number]>): NodeStatus {
  return {
    physical: name,
    host: 'h',
    role: 'agent',
    state: NodeStateCode[state],
    lastSeen: 0,
    logical: logical.map(([l, s, v]) => ({ name: l, state: NodeStateCode[s], configVersion: v, message: '' })),
  };
}

function config(logical: string, version: number): LogicalConfig {
  return { logical, version, flow: 'default', source: 'null', sink: 'null' };
}

test('a logical node is ACTIVE once it runs the version the master wants', () => {
  const nodes = [physical('p1', 'ACTIVE', [['web01', 'ACTIVE', 3]])];
  assert.equal(isActive(nodeViews(nodes, [config('web01', 3)]).get('web01')!), true);
  const stale = nodeViews(nodes, [config('web01', 4)]).get('web01')!;
  assert.equal(isActive(stale), false, 'still on the previous version after a config or refresh');
  assert.equal(describeView('web01', stale), 'web01 (ACTIVE, runs v3 of v4)');
  assert.equal(isActive(nodeViews(nodes).get('web01')!), true, 'no config on the master: any version');
  assert.equal(
    isActive(nodeViews([physical('p1', 'ACTIVE', [['web01', 'ACTIVE', 0]])]).get('web01')!),
    false,
    'version 0 never had a config (Flume OG)',
  );
});

test('configured but not reported yet: a physical node of the same name is not ready', () => {
  const views = nodeViews([physical('web02', 'IDLE', [])], [config('web02', 1)]);
  assert.equal(isDone(views.get('web02')!), false);
  assert.equal(isActive(views.get('web02')!), false);
  assert.equal(describeView('ghost', views.get('ghost')), 'ghost (unknown to the master)');
});

test('done: IDLE or ERROR with the wanted config, LOST, DECOMMISSIONED; a LOST physical node makes its logical nodes LOST', () => {
  const nodes = [
    physical('p1', 'IDLE', [
      ['a', 'IDLE', 2],
      ['b', 'ERROR', 2],
      ['c', 'IDLE', 1],
      ['d', 'DECOMMISSIONED', 0],
    ]),
    physical('p2', 'LOST', [['e', 'ACTIVE', 5]]),
    physical('p3', 'IDLE', []),
  ];
  const views = nodeViews(nodes, [config('a', 2), config('b', 2), config('c', 2), config('e', 5)]);
  assert.equal(isDone(views.get('a')!), true);
  assert.equal(isDone(views.get('b')!), true);
  assert.equal(isDone(views.get('c')!), false, 'IDLE on an older version: the new one has not run yet');
  assert.equal(isDone(views.get('d')!), true);
  assert.equal(views.get('e')!.state, 'LOST');
  assert.equal(isDone(views.get('e')!), true);
  assert.equal(isDone(views.get('p3')!), true, 'a physical node with nothing to run is done');
});
