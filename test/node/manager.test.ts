import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { silentLogger } from '../../core/logger';
import { Metrics } from '../../core/metrics';
import { Registry } from '../../core/registry';
import { SINKS } from '../../core/sinks';
import { LogicalNodeManager } from '../../node/manager';
import { generatorSourceDef, recorders, recordingSinkDef, tempDir, waitFor } from './helpers';

const root = tempDir();
after(() => fs.rmSync(root, { recursive: true, force: true }));

function manager(): LogicalNodeManager {
  return new LogicalNodeManager({
    registry: new Registry().registerAll([generatorSourceDef, recordingSinkDef, ...SINKS]),
    metrics: new Metrics(),
    logger: silentLogger(),
    physicalNode: 'p1',
    host: 'h',
    dataRoot: root,
  });
}

test('apply opens, keeps, reopens and closes nodes by diff, and refuses older versions', async () => {
  const m = manager();
  let r = await m.apply({
    a: { source: 'testgen(10)', sink: 'recording("a1")', version: 1 },
    b: { source: 'testgen(10)', sink: 'null', version: 1 },
  });
  assert.deepEqual(r.opened.sort(), ['a', 'b']);
  const a1 = m.node('a')!;
  const b1 = m.node('b')!;
  await a1.finished();
  assert.equal(recorders.get('a1')!.bodies().length, 10);

  r = await m.apply({
    a: { source: 'testgen(10)', sink: 'recording("a1")', version: 1 },
    b: { source: 'testgen(5)', sink: 'recording("b2")', version: 2 },
  });
  assert.deepEqual(r.unchanged, ['a']);
  assert.deepEqual(r.closed, ['b']);
  assert.deepEqual(r.opened, ['b']);
  assert.equal(m.node('a'), a1, 'an unchanged node is left running');
  assert.equal(b1.state, 'CLOSED');
  await m.node('b')!.finished();
  assert.equal(recorders.get('b2')!.bodies().length, 5);

  r = await m.apply({ b: { source: 'testgen(1)', sink: 'null', version: 1 } });
  assert.deepEqual(r.closed, ['a']);
  assert.equal(a1.state, 'CLOSED');
  assert.equal(r.refused.length, 1);
  assert.match(r.refused[0].reason, /version 1 is older than the running version 2/);
  assert.deepEqual(m.names(), ['b']);
  await m.closeAll();
  assert.deepEqual(m.names(), []);
});

test('a bad spec leaves the node in ERROR with its problems in the status', async () => {
  const m = manager();
  const r = await m.apply({ bad: { source: 'testgen(10', sink: 'nosink', version: 3 } });
  assert.equal(r.failed.length, 1);
  const [s] = m.status();
  assert.equal(s.state, 'ERROR');
  assert.equal(s.version, 3);
  assert.match(s.error ?? '', /^source "testgen\(10": parsing the spec failed:\n  1:8: unterminated '\('/);
  const r2 = await m.apply({ bad: { source: 'testgen(10)', sink: 'nosink', version: 4 } });
  assert.match(r2.failed[0].error, /unknown sink nosink; known sinks: console, counter, null, recording, text/);
  await m.closeAll();
});

test('a node that failed to open is tried again by a later apply of the same version, after a backoff', async () => {
  const m = manager();
  const blocker = path.join(root, 'not-a-dir');
  fs.writeFileSync(blocker, 'a file where the sink wants a directory');
  const desired = { t: { source: 'testgen(3)', sink: `text("${blocker}/out.txt")`, version: 1 } };
  const r1 = await m.apply(desired);
  assert.equal(r1.failed.length, 1);
  assert.match(r1.failed[0].error, /ENOTDIR|EEXIST/);
  const r2 = await m.apply(desired);
  assert.deepEqual(r2.unchanged, ['t'], 'not before the backoff');
  fs.rmSync(blocker);
  await waitFor(async () => (await m.apply(desired)).opened.includes('t'), 10_000, 'reopen after the backoff');
  await m.node('t')!.finished();
  assert.equal(fs.readFileSync(path.join(blocker, 'out.txt'), 'utf8'), 'line-0\nline-1\nline-2\n');
  assert.equal(m.status()[0].state, 'ACTIVE');
  await m.closeAll();
});
