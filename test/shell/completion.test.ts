/** What TAB offers in each position of a line (no master: node names are given). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { complete } from '../../shell/completion';
import { tempDir } from '../harness/procs';

const names = (): string[] => ['collector1', 'phys1', 'phys2', 'web01'];

test('the first word completes shell command names; a lone match gets a space', () => {
  assert.deepEqual(complete('getn', names), [['getnodestatus '], 'getn']);
  assert.deepEqual(complete('waitForNodes', names), [['waitForNodesActive', 'waitForNodesDone'], 'waitForNodes']);
  assert.deepEqual(complete('GETC', names), [['getcommands', 'getconfigs'], 'GETC'], 'case-insensitive when nothing matches with case');
  assert.deepEqual(complete('zz', names), [[], 'zz']);
  assert.ok(complete('', names)[0].includes('connect'));
});

test('after exec and submit: master commands, then node names', () => {
  assert.deepEqual(complete('exec ma', names), [['map '], 'ma']);
  assert.deepEqual(complete('submit unm', names), [['unmap', 'unmapAll'], 'unm']);
  assert.deepEqual(complete('exec map ph', names), [['phys1', 'phys2'], 'ph']);
  assert.deepEqual(complete('exec map phys1 w', names), [['web01 '], 'w']);
  assert.deepEqual(complete('getmappings c', names), [['collector1 '], 'c']);
  assert.deepEqual(complete('waitForNodesActive 1000 ', names), [names(), '']);
  assert.deepEqual(complete('waitForNodesActive ', names), [[], ''], 'MILLIS is not a node');
});

test('help completes shell and master commands; quoted words and open quotes complete nothing', () => {
  assert.deepEqual(complete('help multi', names), [['multiconfig '], 'multi']);
  assert.deepEqual(complete('help exec ref', names), [['refresh', 'refreshAll'], 'ref']);
  assert.deepEqual(complete("exec config web01 'sys", names), [[], "'sys"]);
  assert.deepEqual(complete("exec config web01 'a b", names), [[], 'b'], 'inside an open quote');
  assert.deepEqual(complete('connect 127', names), [[], '127']);
});

test('source completes file names, directories with a slash', () => {
  const dir = tempDir('flume-shell-complete-');
  try {
    fs.writeFileSync(path.join(dir.path, 'deploy.fsh'), '');
    fs.writeFileSync(path.join(dir.path, 'deploy-old.fsh'), '');
    fs.mkdirSync(path.join(dir.path, 'deployments'));
    const prefix = path.join(dir.path, 'dep');
    assert.deepEqual(complete(`source ${prefix}`, names), [[`${prefix}loy-old.fsh`, `${prefix}loy.fsh`, `${prefix}loyments/`], prefix]);
  } finally {
    dir.remove();
  }
});
