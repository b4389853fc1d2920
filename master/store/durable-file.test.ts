import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { DurableFileWriter, DurableWriteError } from './durable-file';

test('writes land in the order asked, each whole, and a failure names the file and its errno code', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-durable-'));
  const writer = new DurableFileWriter();
  try {
    const file = path.join(dir, 'state.json');
    await Promise.all(Array.from({ length: 20 }, (_, i) => writer.write(file, dir, JSON.stringify({ i, pad: 'x'.repeat(i * 1000) }))));
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).i, 19);
    assert.deepEqual(fs.readdirSync(dir), ['state.json'], 'no temp file is left');
    const missing = path.join(dir, 'no', 'such', 'state.json');
    await assert.rejects(
      writer.write(missing, path.dirname(missing), '{}'),
      (err: Error) => err instanceof DurableWriteError && err.code === 'ENOENT' && err.file === missing,
    );
    await writer.write(file, dir, '{"after":1}');
    assert.equal(fs.readFileSync(file, 'utf8'), '{"after":1}');
  } finally {
    await writer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a writer never used closes at once', async () => {
  await new DurableFileWriter().close();
});

test('appends land in order after what the file held, and a truncate empties it for the appends after', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-durable-'));
  const writer = new DurableFileWriter();
  try {
    const file = path.join(dir, 'journal');
    await Promise.all(['a\n', 'b\n', 'c\n'].map((line) => writer.append(file, dir, line)));
    assert.equal(fs.readFileSync(file, 'utf8'), 'a\nb\nc\n');
    await writer.truncate(file, dir);
    await writer.append(file, dir, 'd\n');
    assert.equal(fs.readFileSync(file, 'utf8'), 'd\n');
  } finally {
    await writer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
