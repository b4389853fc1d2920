/**
 * The last known config (node/last-config.ts) and how the manager treats it: saved whole and
 * read back after a restart; a damaged file is ignored (the node waits for a master); nodes
 * opened from it give way to the master's version even when that version is older, and a master
 * that confirms them leaves them running.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { silentLogger } from '../../core/logger';
import { Metrics } from '../../core/metrics';
import { Registry } from '../../core/registry';
import { SINKS } from '../../core/sinks';
import { LastConfigFile } from '../../node/last-config';
import { LogicalNodeManager } from '../../node/manager';
import { generatorSourceDef, tempDir } from './helpers';

const root = tempDir('flume-last-config-unit-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

test('the last known config is saved whole and read back by the next start; chains of dropped nodes go with them', async () => {
  const dir = path.join(root, 'a');
  const file = new LastConfigFile(dir, silentLogger());
  assert.equal(file.hasNodes, false);
  await file.saveNodes(
    new Map([
      ['web01', { version: 3, flow: 'f', source: 'tail("/x")', sink: 'autoE2EChain' }],
      ['web02', { version: 1, flow: '', source: 'null', sink: 'null' }],
    ]),
  );
  await file.saveChain({ logical: 'web01', flow: '', version: 7, collectors: ['c1:1', 'c2:2'] });
  await file.saveChain({ logical: 'web02', flow: '', version: 2, collectors: ['c1:1'] });
  await file.saveNodes(new Map([['web01', { version: 4, flow: 'f', source: 'tail("/x")', sink: 'autoE2EChain' }]]));
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
    'no temp file left behind',
  );

  const again = new LastConfigFile(dir, silentLogger());
  assert.equal(again.hasNodes, true);
  assert.deepEqual(again.config.nodes, { web01: { version: 4, flow: 'f', source: 'tail("/x")', sink: 'autoE2EChain' } });
  assert.deepEqual(again.config.chains, [{ logical: 'web01', flow: '', version: 7, collectors: ['c1:1', 'c2:2'] }]);
});

test('a damaged last known config is ignored and the node waits for a master', () => {
  const dir = path.join(root, 'b');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'last-config.json'), '{"format":1,"nodes":{"web01":');
  const file = new LastConfigFile(dir, silentLogger());
  assert.equal(file.hasNodes, false);
});

test("nodes run from the last known config give way to the master's version, older or not; confirmed ones keep running", async () => {
  const m = new LogicalNodeManager({
    registry: new Registry().registerAll([generatorSourceDef, ...SINKS]),
    metrics: new Metrics(),
    logger: silentLogger(),
    physicalNode: 'p1',
    host: 'h',
    dataRoot: path.join(root, 'm'),
  });
  try {
    let r = await m.apply(
      { a: { source: 'testgen(1)', sink: 'null', version: 5 }, b: { source: 'testgen(1)', sink: 'null', version: 2 } },
      { lastKnown: true },
    );
    assert.deepEqual(r.opened.sort(), ['a', 'b']);
    const b = m.node('b');
    // The master knows a at version 3 (its store was restored) and b as it is.
    r = await m.apply({ a: { source: 'testgen(2)', sink: 'null', version: 3 }, b: { source: 'testgen(1)', sink: 'null', version: 2 } });
    assert.deepEqual(r.refused, []);
    assert.deepEqual(r.opened, ['a']);
    assert.deepEqual(r.unchanged, ['b']);
    assert.equal(m.node('b'), b, 'a confirmed node is left running');
    assert.equal(m.status().find((s) => s.name === 'a')?.version, 3);
    // From now on the master's versions are the running ones: an older one is refused again.
    r = await m.apply({ a: { source: 'testgen(1)', sink: 'null', version: 2 }, b: { source: 'testgen(1)', sink: 'null', version: 1 } });
    assert.deepEqual(r.refused.map((x) => x.name).sort(), ['a', 'b']);
  } finally {
    await m.closeAll();
  }
});
