import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type FilePosition, OffsetStore } from './offset-store';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'offsets-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function storeIn(dir: string, followed = '/var/log/app.log'): { store: OffsetStore; errors: unknown[] } {
  const errors: unknown[] = [];
  return { store: new OffsetStore(dir, followed, (err) => errors.push(err)), errors };
}

const at = (offset: number, extra: Partial<FilePosition> = {}): FilePosition => ({
  path: '/var/log/app.log',
  dev: 2049,
  ino: 77,
  birth: 1.5,
  offset,
  ...extra,
});

test('offset store: the last position saved is the one loaded, by a new store on the same file', async (t) => {
  const dir = tempDir(t);
  const { store, errors } = storeIn(dir);
  assert.equal(store.load(), null);
  for (let i = 1; i <= 5; i++) store.save(at(i * 100, i === 5 ? { pending: { end: 900, seq: 12 } } : {}));
  await store.close();
  assert.deepEqual(storeIn(dir).store.load(), at(500, { pending: { end: 900, seq: 12 } }));
  store.save(at(600));
  await store.flush();
  assert.deepEqual(storeIn(dir).store.load(), at(600));
  await store.close();
  // A late save (a put that settled after the close) is still written.
  store.save(at(700));
  await store.flush();
  assert.deepEqual(storeIn(dir).store.load(), at(700));
  assert.deepEqual(errors, []);
});

test('offset store: a torn newest slot leaves the position saved before it', async (t) => {
  const dir = tempDir(t);
  const { store } = storeIn(dir);
  for (const offset of [100, 200, 300]) {
    store.save(at(offset));
    await store.flush();
  }
  await store.close();
  const bytes = fs.readFileSync(store.file);
  const half = bytes.length / 2;
  const newest = bytes.indexOf('"offset":300') < half ? 0 : half;
  bytes.fill(0x00, newest + 10, newest + 40);
  fs.writeFileSync(store.file, bytes);
  const reopened = storeIn(dir).store;
  assert.deepEqual(reopened.load(), at(200));
  // Saving after that load overwrites the torn slot, not the good one.
  reopened.save(at(400));
  await reopened.close();
  assert.deepEqual(storeIn(dir).store.load(), at(400));
});

test('offset store: a file of one JSON position (written before slots) is read, then replaced', async (t) => {
  const dir = tempDir(t);
  const { store } = storeIn(dir);
  fs.mkdirSync(path.dirname(store.file), { recursive: true });
  fs.writeFileSync(store.file, JSON.stringify(at(4242, { pending: { end: 5000, seq: 3 } })));
  assert.deepEqual(store.load(), at(4242, { pending: { end: 5000, seq: 3 } }));
  store.save(at(5000));
  await store.close();
  assert.deepEqual(storeIn(dir).store.load(), at(5000));
});

test('offset store: a position larger than a slot grows the slots; multibyte paths fit by bytes', async (t) => {
  const dir = tempDir(t);
  const { store, errors } = storeIn(dir);
  const long = `/var/log/${'é'.repeat(700)}.log`;
  store.save(at(1));
  await store.flush();
  store.save(at(2, { path: long }));
  await store.flush();
  store.save(at(3, { path: long }));
  await store.close();
  assert.deepEqual(storeIn(dir).store.load(), at(3, { path: long }));
  assert.ok(fs.statSync(store.file).size >= 2 * 2048);
  assert.deepEqual(errors, []);
});

test('offset store: a file holding no position is an error naming it', async (t) => {
  const dir = tempDir(t);
  const { store } = storeIn(dir);
  fs.mkdirSync(path.dirname(store.file), { recursive: true });
  fs.writeFileSync(store.file, 'garbage');
  assert.throws(() => store.load(), new RegExp(`offset file ${store.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} holds no position`));
});
