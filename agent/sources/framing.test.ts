import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StreamFramer } from './framing';

function run(chunks: Buffer[], max: number, octet: boolean): { frames: string[]; rejects: Array<[string, number]> } {
  const frames: string[] = [];
  const rejects: Array<[string, number]> = [];
  const f = new StreamFramer(max, octet, {
    onFrame: (buf, s, e) => frames.push(buf.toString('latin1', s, e)),
    onReject: (reason, bytes) => rejects.push([reason, bytes]),
  });
  for (const c of chunks) f.feed(c);
  f.end();
  return { frames, rejects };
}

function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(buf.subarray(last, p));
    last = p;
  }
  out.push(buf.subarray(last));
  return out;
}

const message = fc.stringMatching(/^<[1-9][0-9]?>[a-z ]{0,30}$/);

test('framing: mixed octet-counted and newline messages come out the same however the stream is cut', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(message, fc.boolean()), { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 20 }), (msgs, cuts) => {
      const wire = Buffer.from(msgs.map(([m, octet]) => (octet ? `${Buffer.byteLength(m)} ${m}` : `${m}\n`)).join(''));
      const { frames, rejects } = run(split(wire, cuts), 1000, true);
      assert.deepEqual(
        frames,
        msgs.map(([m]) => m.replace(/[\r\n]+$/, '')).filter((m) => m.length > 0),
      );
      assert.deepEqual(rejects, []);
    }),
  );
});

test('framing: CRLF lines, a last line without newline, empty lines skipped', () => {
  assert.deepEqual(run([Buffer.from('a\r\n\r\n\nb\nc')], 100, false).frames, ['a', 'b', 'c']);
});

test('framing: an oversized line is dropped up to its newline, however cut; the next line survives', () => {
  fc.assert(
    fc.property(fc.integer({ min: 11, max: 300 }), fc.array(fc.nat(), { maxLength: 10 }), (len, cuts) => {
      const wire = Buffer.from(`ok1\n${'x'.repeat(len)}\nok2\n`);
      const { frames, rejects } = run(split(wire, cuts), 10, false);
      assert.deepEqual(frames, ['ok1', 'ok2']);
      assert.equal(rejects.length, 1);
      assert.equal(rejects[0][0], 'oversize');
    }),
  );
});

test('framing: an octet count over the limit ends the stream, counting the bytes received, not the bytes claimed; a cut message is reported truncated', () => {
  const big = '<' + 'y'.repeat(49);
  assert.deepEqual(run([Buffer.from(`4 <ok!50 ${big}4 <abc`)], 20, true), { frames: ['<ok!'], rejects: [['framing', 3 + 50 + 6]] });
  // A client claiming 10 GB: what is reported is what arrived, and nothing after it is framed.
  const claim = run([Buffer.from('9999999999 <a'), Buffer.from('more bytes\n<1>x\n')], 1 << 20, true);
  assert.deepEqual(claim, { frames: [], rejects: [['framing', 13]] });
  assert.deepEqual(run([Buffer.from('10 <abc')], 20, true), { frames: [], rejects: [['truncated', 7]] });
  // A line that starts with a number and a space is a line, not a length that would swallow the next messages.
  assert.deepEqual(run([Buffer.from('2024 was a year\n<1>next\n')], 100, true).frames, ['2024 was a year', '<1>next']);
  // Digits not followed by a space are not a length: the line is a message of its own.
  assert.deepEqual(run([Buffer.from('12ab\n')], 20, true).frames, ['12ab']);
});
