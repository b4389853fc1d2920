/** The shell's output lines (Flume OG's words), from answers built by hand. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CommandStatus, NodeStatus } from '../../shell/admin-client';
import { formatCommands, formatConfigs, formatMappings, formatNodeStatus, formatOutcome, formatSubmitted } from '../../shell/render';
import { NodeStateCode, type NodeStateName } from '../../proto/messages';

function node(name: string, state: NodeStateName, logical: Array<[string, NodeStateName, string?]>): NodeStatus {
  return {
    physical: name,
    host: 'h',
    role: 'agent',
    state: NodeStateCode[state],
    lastSeen: 0,
    logical: logical.map(([l, s, message]) => ({ name: l, state: NodeStateCode[s], configVersion: 1, message: message ?? '' })),
  };
}

test('getnodestatus: OG lines, logical nodes under their physical node unless it only runs itself', () => {
  assert.deepEqual(
    formatNodeStatus([
      node('web02', 'ACTIVE', [['web02', 'ACTIVE']]),
      node('coll1', 'ACTIVE', [
        ['coll1', 'ACTIVE'],
        ['tier2', 'ERROR', 'bind: address in use'],
      ]),
      node('web01', 'LOST', []),
    ]),
    [
      'Master knows about 3 nodes',
      '\tcoll1 --> ACTIVE',
      '\t\tcoll1 --> ACTIVE',
      '\t\ttier2 --> ERROR (bind: address in use)',
      '\tweb01 --> LOST',
      '\tweb02 --> ACTIVE',
    ],
  );
  assert.deepEqual(formatNodeStatus([]), ['Master knows about 0 nodes']);
});

test('getconfigs and getmappings: padded columns, OG messages when empty', () => {
  assert.deepEqual(
    formatConfigs([
      { logical: 'web01', version: 12, flow: 'default', source: 'syslogTcp(5140)', sink: 'console' },
      { logical: 'a', version: 3, flow: 'f', source: 'null', sink: '{ batch(10) => null }' },
    ]),
    [
      'NODE \tFLOW   \tSOURCE         \tSINK                 \tVERSION',
      'a    \tf      \tnull           \t{ batch(10) => null }\t3',
      'web01\tdefault\tsyslogTcp(5140)\tconsole              \t12',
    ],
  );
  assert.deepEqual(formatConfigs([]), ['Master has no logical node configurations.']);
  const lines = formatMappings(
    [
      { physical: 'p1', logical: ['a', 'b'] },
      { physical: 'p0', logical: [] },
    ],
    'p1',
  );
  assert.equal(lines[0], 'Master has the following mappings for physical node p1');
  assert.match(lines[3], /^p1 +--> \[a, b\]$/);
  assert.equal(lines.length, 4, 'a physical node with nothing mapped is not listed');
  assert.match(formatMappings([])[0], /^No physical \/ logical node mappings\./);
});

test('submit, outcomes and the command list', () => {
  assert.equal(
    formatSubmitted(7, 'config', ['web01', 'tail("/a b")', 'null']),
    `[id: 7] Submitted command : config web01 'tail("/a b")' null`,
  );
  const status = (state: number, message: string): CommandStatus => ({
    id: 1,
    command: 'unconfig',
    args: ['x'],
    state,
    message,
    submittedAt: 0,
    finishedAt: 0,
  });
  assert.equal(formatOutcome(status(2, '')), 'Command succeeded');
  assert.equal(formatOutcome(status(2, 'unconfigured x')), 'Command succeeded: unconfigured x');
  assert.equal(formatOutcome(status(3, 'node x has no config')), 'Command failed: node x has no config');
  assert.equal(formatOutcome(status(0, '')), 'Command is QUEUED');
  assert.deepEqual(formatCommands([status(3, 'no')]), ['ID\tSTATE \tCOMMAND   \tMESSAGE', '1 \tFAILED\tunconfig x\tno']);
});
