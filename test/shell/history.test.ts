/** The persistent history file of the REPL (no terminal needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { History, defaultHistoryFile } from '../../shell/history';
import { tempDir } from '../harness/procs';

test('lines are appended as run and come back newest first; blanks and repeats are skipped', (t) => {
  const dir = tempDir('flume-shell-history-');
  t.after(() => dir.remove());
  const file = path.join(dir.path, 'h');
  const warnings: string[] = [];
  const first = new History(file, (m) => warnings.push(m), 10);
  assert.deepEqual(first.load(), []);
  for (const line of ['getnodestatus  ', 'getnodestatus', '', '   ', 'exec map p l', 'getconfigs']) first.add(line);
  assert.equal(fs.readFileSync(file, 'utf8'), 'getnodestatus\nexec map p l\ngetconfigs\n');
  const second = new History(file, (m) => warnings.push(m), 10);
  assert.deepEqual(second.load(), ['getconfigs', 'exec map p l', 'getnodestatus']);
  second.add('getconfigs');
  assert.equal(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length, 3, 'a repeat of the newest line is not added');
  assert.deepEqual(warnings, []);
});

test('a file grown past twice the size is trimmed to the newest lines on load', (t) => {
  const dir = tempDir('flume-shell-history-');
  t.after(() => dir.remove());
  const file = path.join(dir.path, 'h');
  fs.writeFileSync(file, Array.from({ length: 25 }, (_, i) => `cmd ${i}`).join('\n') + '\n');
  const history = new History(file, () => {}, 10);
  const loaded = history.load();
  assert.equal(loaded.length, 10);
  assert.equal(loaded[0], 'cmd 24');
  assert.equal(loaded[9], 'cmd 15');
  assert.equal(fs.readFileSync(file, 'utf8'), Array.from({ length: 10 }, (_, i) => `cmd ${i + 15}`).join('\n') + '\n');
});

test('an unwritable history file disables history with one warning, never fails the shell', (t) => {
  const dir = tempDir('flume-shell-history-');
  t.after(() => dir.remove());
  const file = path.join(dir.path, 'missing-dir', 'h');
  const warnings: string[] = [];
  const history = new History(file, (m) => warnings.push(m), 10);
  assert.deepEqual(history.load(), []);
  history.add('getconfigs');
  history.add('getnodestatus');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /history disabled: cannot write .*missing-dir\/h: ENOENT/);
});

test('$FLUME_SHELL_HISTORY names the file, else ~/.flume_shell_history', () => {
  assert.equal(defaultHistoryFile({ FLUME_SHELL_HISTORY: '/tmp/x' }), '/tmp/x');
  assert.equal(defaultHistoryFile({}), path.join(os.homedir(), '.flume_shell_history'));
});
