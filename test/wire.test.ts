import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchOf } from '../core/channel';
import { ChecksumError } from '../core/errors';
import { BatchBuilder, EventCursor, Priority, decodeEvents, encodeEvents, makeEvent, verifyBatch } from '../core/event';
import { decodeMessage, encodeMessage } from '../proto';

const FIXTURE_EVENTS = [
  makeEvent('hello world', { timestamp: 1_700_000_000_123, nanos: 456, priority: Priority.WARN, host: 'web01' }),
  makeEvent('second', {
    timestamp: 1_700_000_000_124,
    priority: Priority.INFO,
    host: 'web01',
    attributes: new Map([['service', Buffer.from('api')]]),
  }),
  makeEvent('', { timestamp: 0, priority: Priority.FATAL, host: '' }),
];

// A change to this string is a change to the wire and to every WAL on disk: do it on purpose.
const FIXTURE_HEX =
  '0a090a057765623031100710031d98a485537a200a0b68656c6c6f20776f726c6418fbd095ffbc3120c80328023205776562' +
  '30317a280a067365636f6e64120e0a0773657276696365120361706918fcd095ffbc312803320577656230317a00';

test('an encoded batch is pinned byte for byte', () => {
  const bytes = encodeEvents('web01', 7, FIXTURE_EVENTS);
  assert.equal(bytes.toString('hex'), FIXTURE_HEX.replace(/\s/g, ''));
});

test('protobufjs decodes what the hand encoder writes', () => {
  const bytes = encodeEvents('web01', 7, FIXTURE_EVENTS);
  const decoded = decodeMessage<any>('EventBatch', bytes);
  assert.deepEqual(decoded.id, { origin: 'web01', seq: 7 });
  assert.equal(decoded.count, 3);
  assert.equal(decoded.events.length, 3);
  assert.equal(decoded.events[0].body.toString(), 'hello world');
  assert.equal(decoded.events[0].timestamp, 1_700_000_000_123);
  assert.equal(decoded.events[0].nanos, 456);
  assert.equal(decoded.events[0].priority, Priority.WARN);
  assert.equal(decoded.events[1].attributes.service.toString(), 'api');
  assert.equal(decoded.events[2].body.length, 0);
});

test('the hand decoder reads what protobufjs writes, and the checksum holds', () => {
  const original = encodeEvents('web01', 7, FIXTURE_EVENTS);
  const reencoded = encodeMessage('EventBatch', decodeMessage('EventBatch', original));
  const header = verifyBatch(reencoded);
  assert.equal(header.origin, 'web01');
  assert.equal(header.seq, 7);
  const events = decodeEvents(reencoded);
  assert.deepEqual(events, decodeEvents(original));
  assert.equal(events[1].attributes.get('service')?.toString(), 'api');
});

test("nextBody finds the bodies next finds, whatever the order of an event's fields", () => {
  // Field order is the sender's choice in protobuf: an event with its timestamp, then its body.
  const late = Buffer.from([0x18, 0x05, 0x0a, 0x03, 0x61, 0x62, 0x63]);
  const unusual = Buffer.concat([Buffer.from([0x7a, late.length]), late]);
  const batch = Buffer.concat([unusual, encodeEvents('web01', 7, FIXTURE_EVENTS)]);
  const bodies = (step: (c: EventCursor) => boolean): string[] => {
    const c = new EventCursor().reset(batch);
    const out: string[] = [];
    while (step(c)) out.push(c.body().toString());
    return out;
  };
  const all = bodies((c) => c.next());
  assert.deepEqual(all, ['abc', 'hello world', 'second', '']);
  assert.deepEqual(
    bodies((c) => c.nextBody()),
    all,
  );
});

test('a flipped bit in an event is caught by the checksum', () => {
  const bytes = encodeEvents('web01', 7, FIXTURE_EVENTS);
  const header = verifyBatch(bytes);
  bytes[header.eventsStart + 5] ^= 0x01;
  assert.throws(() => verifyBatch(bytes), ChecksumError);
});

test('the builder reuses its buffer across batches and the cursor walks events in place', () => {
  const builder = new BatchBuilder('agent-a', 64);
  const body = Buffer.alloc(100, 'x');
  for (let i = 0; i < 1000; i++) builder.append(body, 1000 + i, Priority.INFO, 'h');
  const first = batchOf(builder.finish(1));
  builder.append(Buffer.from('only'), 5);
  const second = batchOf(builder.finish(2));
  assert.equal(first.count, 1000);
  assert.equal(second.count, 1);
  const cursor = new EventCursor().reset(first.bytes);
  let n = 0;
  while (cursor.next()) {
    assert.equal(cursor.timestamp, 1000 + n);
    assert.equal(cursor.bodyEnd - cursor.bodyStart, 100);
    n++;
  }
  assert.equal(n, 1000);
  assert.equal(decodeEvents(second.bytes)[0].body.toString(), 'only');
});

/** What appendLines should produce: one `append` of a view per line, with its own limits. */
function appendEach(
  b: BatchBuilder,
  text: Buffer,
  start: number,
  maxLine: number,
  maxEvents: number,
  maxBytes: number,
  ts: number,
  pri: Priority,
  host: string,
): number {
  let p = start;
  while (b.count < maxEvents && b.byteLength < maxBytes) {
    const nl = text.indexOf(0x0a, p);
    if (nl < 0) break;
    const end = nl > p && text[nl - 1] === 0x0d ? nl - 1 : nl;
    if (end - p > maxLine) break;
    b.append(text.subarray(p, end), ts, pri, host);
    p = nl + 1;
  }
  return p;
}

test('appendLines encodes each line exactly as append does with a view of it', () => {
  const text = Buffer.from('first line\nsecond\r\n\n\r\nlast');
  const byLines = new BatchBuilder('agent');
  const byView = new BatchBuilder('agent');
  const p = byLines.appendLines(text, 0, text.length, 1000, 1000, 1 << 20, 1_700_000_000_123, Priority.WARN, 'web01');
  assert.equal(p, appendEach(byView, text, 0, 1000, 1000, 1 << 20, 1_700_000_000_123, Priority.WARN, 'web01'));
  assert.equal(byLines.lastLines, 4);
  const a = byLines.finish(7);
  assert.ok(a.equals(byView.finish(7)));
  assert.deepEqual(
    decodeEvents(batchOf(a).bytes).map((e) => e.body.toString()),
    ['first line', 'second', '', ''],
  );
});

test('appendLines matches append on random lines, limits, trailers and calls that share a batch', () => {
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  for (let round = 0; round < 300; round++) {
    const parts: string[] = [];
    const lines = rnd(60);
    for (let i = 0; i < lines; i++) {
      const len = [0, 1, 5, 100, 127, 128, 200, 20_000][rnd(8)];
      parts.push('x'.repeat(len) + (rnd(4) === 0 ? '\r\n' : '\n'));
    }
    if (rnd(2) === 0) parts.push('partial');
    const text = Buffer.from(parts.join(''));
    const maxLine = [50, 1000, 1 << 20][rnd(3)];
    const maxEvents = [1, 7, 1000][rnd(3)];
    const maxBytes = [300, 5000, 1 << 22][rnd(3)];
    // Timestamp 0, FATAL and no host leave events with no trailer at all: the staging's edge case.
    const [ts, pri, host] =
      rnd(3) === 0 ? [0, Priority.FATAL, ''] : [1_700_000_000_000 + rnd(1000), Priority.INFO, rnd(2) ? 'h' : 'web01.example'];
    const byLines = new BatchBuilder('agent', 64);
    const byView = new BatchBuilder('agent', 64);
    let p = 0;
    let q = 0;
    for (let call = 0; call < 3; call++) {
      p = byLines.appendLines(text, p, text.length, maxLine, maxEvents * (call + 1), maxBytes * (call + 1), ts + call, pri, host);
      q = appendEach(byView, text, q, maxLine, maxEvents * (call + 1), maxBytes * (call + 1), ts + call, pri, host);
      assert.equal(p, q, `round ${round} call ${call}`);
      assert.equal(byLines.count, byView.count);
    }
    assert.ok(byLines.finish(1).equals(byView.finish(1)), `round ${round}`);
  }
});
