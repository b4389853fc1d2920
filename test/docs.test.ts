/** The component reference in docs/ is what `flume-node components` prints: it cannot drift. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

const ROOT = path.join(__dirname, '..', '..');

test('docs/components.md matches the registry (regenerate: node bin/flume-node.js components > docs/components.md)', () => {
  const generated = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'flume-node.js'), 'components'], { encoding: 'utf8' });
  assert.equal(generated.status, 0, generated.stderr);
  const committed = fs.readFileSync(path.join(ROOT, 'docs', 'components.md'), 'utf8');
  assert.equal(committed, generated.stdout);
});
