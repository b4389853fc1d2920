import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeEvent, encodeEvents, Priority } from '../../core/event';
import { formatBatch, getFormat, OutputBuffer } from './formats';

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

test('json and avrojson write one valid JSON object per line with every field', () => {
  const [line] = fmt('json').trimEnd().split('\n');
  assert.deepEqual(JSON.parse(line), {
    body: 'he said "hi"\tthen\nleft', timestamp: ev.timestamp, pri: 'WARN', nanos: 42, host: 'web01', fields: { k: 'v"1' },
  });
  const [a] = fmt('avrojson').trimEnd().split('\n');
  assert.deepEqual(JSON.parse(a), {
    body: { bytes: 'he said "hi"\tthen\nleft' }, timestamp: ev.timestamp, pri: 'WARN', nanos: 42, host: 'web01', fields: { k: { bytes: 'v"1' } },
  });
});

test('syslog, log4j and debug lines', () => {
  assert.equal(fmt('syslog').split('\n')[0], '<12>Mar  5 07:08:09 web01 he said "hi"\tthen');
  assert.equal(fmt('log4j').split('\n')[0], '2024-03-05 07:08:09,123 WARN  web01: he said "hi"\tthen');
  assert.equal(fmt('debug').split('\n')[0], 'web01 [WARN 2024-03-05T07:08:09.123Z nanos=42] { k : v"1 } he said "hi"\tthen');
  assert.throws(() => getFormat('yaml'), /known formats: raw, json, avrojson, syslog, log4j, debug/);
});
