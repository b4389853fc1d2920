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

test('appendSlice encodes a body slice exactly as append does with a view of it', () => {
  const text = Buffer.from('first line\nsecond\n\nlast');
  const bySlice = new BatchBuilder('agent');
  const byView = new BatchBuilder('agent');
  let p = 0;
  for (;;) {
    const nl = text.indexOf(0x0a, p);
    const end = nl < 0 ? text.length : nl;
    bySlice.appendSlice(text, p, end, 1_700_000_000_123, Priority.WARN, 'web01');
    byView.append(text.subarray(p, end), 1_700_000_000_123, Priority.WARN, 'web01');
    if (nl < 0) break;
    p = nl + 1;
  }
  const a = bySlice.finish(7);
  assert.ok(a.equals(byView.finish(7)));
  assert.deepEqual(decodeEvents(batchOf(a).bytes).map((e) => e.body.toString()), ['first line', 'second', '', 'last']);
});
