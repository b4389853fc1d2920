/**
 * What the Append stream carries, as proto/flume.proto says: a first message that is an
 * AppendRequest (field 1: the hello), then each batch as its bare EventBatch encoding.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeHello, parseHello } from '../core/grpc/append';
import { encodeEvents, makeEvent } from '../core/event';
import { decodeMessage } from '../proto';
import type { WireAppendRequest, WireEventBatch } from '../proto/messages';

// A change to this string is a change to the wire: every collector must still read old agents' hellos.
const HELLO_HEX = '0a100a076167656e742d3112037765621801';

test('the first Append message is an AppendRequest holding the hello, pinned byte for byte', () => {
  const bytes = encodeHello({ agent: 'agent-1', flow: 'web', endToEnd: true });
  assert.equal(bytes.toString('hex'), HELLO_HEX);
  assert.deepEqual(decodeMessage<WireAppendRequest>('AppendRequest', bytes), { hello: { agent: 'agent-1', flow: 'web', endToEnd: true } });
  assert.deepEqual(parseHello(bytes), { agent: 'agent-1', flow: 'web', endToEnd: true });
});

test('every later Append message is an EventBatch encoding with no wrapper around it', () => {
  const batch = encodeEvents('agent-1', 3, [makeEvent('one'), makeEvent('two')]);
  const decoded = decodeMessage<WireEventBatch>('EventBatch', batch);
  assert.deepEqual(decoded.id, { origin: 'agent-1', seq: 3 });
  assert.deepEqual(
    decoded.events.map((e) => e.body.toString()),
    ['one', 'two'],
  );
});
