import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import fc from 'fast-check';
import { BatchBuilder, EventCursor, Priority } from '../event';
import { CursorEscapeSource, escapeSourceOfEvent } from './escape-sources';
import { compileTemplate } from './escapes';
import { decodePathValue, PATH_VALUE_MAX, pathValue, pathValueOfBytes } from './path-value';

const RUNS = Number(process.env.FLUME_FUZZ_RUNS ?? 300);

function assertSafe(v: string, max = PATH_VALUE_MAX): void {
  assert.ok(!v.includes('/') && !v.includes('\\'), `${JSON.stringify(v)} has a separator`);
  assert.ok(!v.startsWith('.'), `${JSON.stringify(v)} starts with a dot`);
  assert.ok(/^[\x20-\x7e]*$/.test(v), `${JSON.stringify(v)} has a byte outside printable ASCII`);
  assert.ok(v.length <= max, `${v.length} bytes > ${max}`);
}

test('a safe value is used as it is; unsafe bytes are %XX-encoded and decode back exactly', () => {
  assert.equal(pathValue('web01.example.com'), 'web01.example.com');
  assert.equal(pathValue('a b:c@d-e_f+g=h'), 'a b:c@d-e_f+g=h');
  assert.equal(pathValue('..'), '%2E.');
  assert.equal(pathValue('.'), '%2E');
  assert.equal(pathValue('../../etc'), '%2E.%2F..%2Fetc');
  assert.equal(pathValue('/abs/path'), '%2Fabs%2Fpath');
  assert.equal(pathValue('a\u0000b\nc\\d%e'), 'a%00b%0Ac%5Cd%25e');
  assert.equal(pathValue('José'), 'Jos%C3%A9');
  assert.equal(pathValue(''), '');
  const raw = Buffer.from([0x41, 0xff, 0xfe, 0x2f, 0x00]);
  assert.equal(pathValueOfBytes(raw, 0, raw.length), 'A%FF%FE%2F%00');
  assert.deepEqual(decodePathValue('A%FF%FE%2F%00'), raw);
});

test('a long value keeps its head and ends in %~ and a hash of the whole value, within the limit', () => {
  const a = 'x'.repeat(300);
  const b = `${'x'.repeat(299)}y`;
  const ea = pathValue(a);
  const eb = pathValue(b);
  assert.equal(ea.length, PATH_VALUE_MAX);
  assert.match(ea, /^x+%~[0-9a-f]{16}$/);
  assert.notEqual(ea, eb);
  // A cut never splits a %XX.
  for (let n = 100; n < 140; n++) {
    const v = pathValue('/'.repeat(n), 40);
    assertSafe(v, 40);
    assert.match(v, /^(%2F)*%~[0-9a-f]{16}$/);
  }
});

test('any bytes: the encoding is safe, bounded, and distinct values stay distinct', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 32, max: 200 }), (x, y, max) => {
      const bx = Buffer.from(x);
      const by = Buffer.from(y);
      const ex = pathValueOfBytes(bx, 0, bx.length, max);
      const ey = pathValueOfBytes(by, 0, by.length, max);
      assertSafe(ex, max);
      if (!ex.includes('%~')) assert.deepEqual(decodePathValue(ex), bx);
      assert.equal(ex === ey, bx.equals(by));
      // A string goes through its UTF-8 bytes.
      const s = bx.toString('utf8');
      assert.equal(pathValue(s, max), pathValueOfBytes(Buffer.from(s), 0, Buffer.byteLength(s), max));
    }),
    { numRuns: RUNS },
  );
});

/** One encoded event with `host` and attributes `attrs`, read through a cursor. */
function cursorOf(host: string, attrs: Map<string, Uint8Array>, body = 'b'): EventCursor {
  const b = new BatchBuilder('o');
  b.append(Buffer.from(body), 1_700_000_000_000, Priority.INFO, host, attrs);
  const c = new EventCursor().reset(b.finish(1));
  assert.ok(c.next());
  return c;
}

test('a path template never leaves its root, whatever the host and attributes; cursor and decoded event agree', () => {
  const root = '/data/logs';
  const dir = compileTemplate(`${root}/%Y/%{host}/x%{kind}/`, { path: true });
  const file = compileTemplate('web-%{host}-%{kind}-%{rolltag}-', { path: true });
  const nasty = fc.oneof(
    fc.constantFrom('..', '.', '../..', '../../../../tmp/x', '/etc/passwd', 'a\u0000b', '\n', '', 'x'.repeat(300), '%2F', '%~'),
    fc.string({ unit: 'binary', maxLength: 80 }),
  );
  const src = new CursorEscapeSource();
  fc.assert(
    fc.property(
      nasty,
      fc.oneof(
        nasty.map((s) => Buffer.from(s)),
        fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
      ),
      (host, kind) => {
        const attrs = new Map<string, Uint8Array>([['kind', kind]]);
        const c = cursorOf(host, attrs);
        const d = dir.format(src.of(c), { rolltag: 'r1' });
        const f = file.format(src.of(c), { rolltag: 'r1' });
        const full = path.resolve(d, f);
        assert.ok(full.startsWith(`${root}/2023/`), full);
        assert.equal(path.dirname(full), path.resolve(d));
        for (const segment of full.slice(root.length + 1).split('/')) assert.ok(Buffer.byteLength(segment) <= 190, segment);
        const ev = c.toEvent();
        assert.equal(dir.format(escapeSourceOfEvent(ev), { rolltag: 'r1' }), d);
        assert.equal(file.format(escapeSourceOfEvent(ev), { rolltag: 'r1' }), f);
      },
    ),
    { numRuns: RUNS },
  );
});

test('templates without the path option print values as they are (text, not file names)', () => {
  const t = compileTemplate('%{host} %{a}');
  const c = cursorOf('../x', new Map([['a', Buffer.from('/y')]]));
  assert.equal(t.format(new CursorEscapeSource().of(c)), '../x /y');
});
