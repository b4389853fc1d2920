import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { readLinkText, writeLinkText } from './link-text';

test('link text: written, replaced and read back as a link; an older regular file is read; a missing one is ENOENT', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-link-text-'));
  try {
    const file = path.join(dir, 'writer-id');
    assert.throws(() => readLinkText(file), { code: 'ENOENT' });
    writeLinkText(file, '0123456789abcdef');
    assert.equal(fs.lstatSync(file).isSymbolicLink(), true);
    assert.equal(readLinkText(file), '0123456789abcdef');
    fs.symlinkSync('left by a crash', `${file}.tmp`);
    writeLinkText(file, '42');
    assert.equal(readLinkText(file), '42');
    assert.deepEqual(fs.readdirSync(dir), ['writer-id']);
    const old = path.join(dir, 'seq');
    fs.writeFileSync(old, '100000\n');
    assert.equal(readLinkText(old), '100000\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
