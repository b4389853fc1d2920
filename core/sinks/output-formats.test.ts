import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventCursor, makeEvent, encodeEvents, Priority } from '../event';
import { formatBatch, getFormat, OutputBuffer } from './output-formats';

const ev = makeEvent('he said "hi"\tthen\nleft', {
  timestamp: Date.UTC(2024, 2, 5, 7, 8, 9, 123),
  nanos: 42,
  priority: Priority.WARN,
  host: 'web01',
  attributes: new Map([['k', Buffer.from('v"1')]]),
});
const b = encodeEvents('o', 1, [ev, makeEvent('plain', { timestamp: 1, host: 'h' })]);

function fmt(name: string): string {
  return formatBatch(b, getFormat(name), new OutputBuffer(16)).toString();
}

test('raw writes each body and a newline', () => {
  assert.equal(fmt('raw'), 'he said "hi"\tthen\nleft\nplain\n');
});

test('raw writeBatch equals writing event by event, after what the buffer already holds', () => {
  const raw = getFormat('raw');
  const events = [];
  for (let i = 0; i < 500; i++) {
    const body = 'b'.repeat([0, 1, 99, 127, 128, 300, 20_000][i % 7]) + i;
    events.push(
      makeEvent(i % 11 === 0 ? '' : body, {
        timestamp: i % 3 ? 1_700_000_000_000 + i : 0,
        priority: i % 5,
        host: i % 2 ? 'web01' : '',
        attributes: i % 4 === 0 ? new Map([['k', Buffer.from('x'.repeat(i))]]) : undefined,
      }),
    );
  }
  const batch = encodeEvents('o', 9, events);
  const one = new OutputBuffer(8);
  one.text('kept:');
  const c = new EventCursor().reset(batch);
  while (c.next()) raw.write(c, one);
  const all = new OutputBuffer(8);
  all.text('kept:');
  raw.writeBatch!(batch, all);
  assert.ok(all.view().equals(one.view()));
  assert.equal(all.view().toString().split('\n').length, 501);
});

test('json and avrojson write one valid JSON object per line with every field', () => {
  const [line] = fmt('json').trimEnd().split('\n');
  assert.deepEqual(JSON.parse(line), {
    body: 'he said "hi"\tthen\nleft',
    timestamp: ev.timestamp,
    pri: 'WARN',
    nanos: 42,
    host: 'web01',
    fields: { k: 'v"1' },
  });
  const [a] = fmt('avrojson').trimEnd().split('\n');
  assert.deepEqual(JSON.parse(a), {
    body: { bytes: 'he said "hi"\tthen\nleft' },
    timestamp: ev.timestamp,
    pri: 'WARN',
    nanos: 42,
    host: 'web01',
    fields: { k: { bytes: 'v"1' } },
  });
});

test('syslog, log4j and debug lines', () => {
  assert.equal(fmt('syslog').split('\n')[0], '<12>Mar  5 07:08:09 web01 he said "hi"\tthen');
  assert.equal(fmt('log4j').split('\n')[0], '2024-03-05 07:08:09,123 WARN  web01: he said "hi"\tthen');
  assert.equal(fmt('debug').split('\n')[0], 'web01 [WARN 2024-03-05T07:08:09.123Z nanos=42] { k : v"1 } he said "hi"\tthen');
  assert.throws(() => getFormat('yaml'), /known formats: raw, json, avrojson, syslog, log4j, debug/);
});
