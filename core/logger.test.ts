import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import winston from 'winston';
import { createLogger, type LogFormat, logfmtValue } from './logger';

/** The lines a logger of `format` writes for what `write` logs. */
function lines(format: LogFormat, write: (log: winston.Logger) => void): string[] {
  const log = createLogger({ format, level: 'debug', process: 'flume-test' });
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  log.clear().add(new winston.transports.Stream({ stream: out }));
  write(log);
  return text.trimEnd().split('\n');
}

const GRPC_ERROR = '14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:35873. Resolution note: ';

test('a value with spaces, quotes or newlines is quoted and escaped; a word or number is not', () => {
  assert.equal(logfmtValue('127.0.0.1:35873'), '127.0.0.1:35873');
  assert.equal(logfmtValue(42), '42');
  assert.equal(logfmtValue(''), '""');
  assert.equal(logfmtValue('a b'), '"a b"');
  assert.equal(logfmtValue('say "hi"\nback\\slash'), '"say \\"hi\\"\\nback\\\\slash"');
  assert.equal(logfmtValue('k=v'), '"k=v"');
  assert.equal(logfmtValue(['a', 'b', 3]), '[a,b,3]');
  assert.equal(logfmtValue([]), '[]');
  assert.equal(logfmtValue(['x: no such file']), '"[\\"x: no such file\\"]"');
  assert.equal(logfmtValue({ a: 1 }), '"{\\"a\\":1}"');
});

test('text lines: time, level, [component], the message, then logfmt fields; undefined fields are left out', () => {
  const [line] = lines('text', (log) =>
    log.child({ component: 'master-client' }).warn('Master unreachable.', { master: 'h:1', error: GRPC_ERROR, http: undefined }),
  );
  assert.match(
    line,
    /^\d{4}-\d\d-\d\dT[\d:.]+Z warn \[master-client\] Master unreachable\. master=h:1 error="14 UNAVAILABLE: No connection established\. Last error: connect ECONNREFUSED 127\.0\.0\.1:35873\."$/,
  );
});

test('logfmt lines parse back into the fields that were logged', () => {
  const [line] = lines('logfmt', (log) => log.child({ component: 'node.a' }).error('append failed', { error: 'boom "x"', count: 3 }));
  const fields: Record<string, string> = {};
  for (const m of line.matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/g))
    fields[m[1]] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
  assert.deepEqual(Object.keys(fields), ['ts', 'level', 'component', 'msg', 'error', 'count']);
  assert.equal(fields.level, 'error');
  assert.equal(fields.component, 'node.a');
  assert.equal(fields.msg, 'append failed');
  assert.equal(fields.error, 'boom "x"');
  assert.equal(fields.count, '3');
});

test("json lines are objects, without grpc-js's empty resolution note", () => {
  const [line] = lines('json', (log) => log.info('Master unreachable.', { error: GRPC_ERROR }));
  const record = JSON.parse(line);
  assert.equal(record.message, 'Master unreachable.');
  assert.equal(record.level, 'info');
  assert.equal(record.process, 'flume-test');
  assert.doesNotMatch(record.error, /Resolution note/);
});

test('FLUME_LOG_FORMAT picks the format; an unknown one is refused with the known ones', () => {
  const saved = process.env.FLUME_LOG_FORMAT;
  try {
    process.env.FLUME_LOG_FORMAT = 'yaml';
    assert.throws(() => createLogger(), /FLUME_LOG_FORMAT must be one of text, logfmt, json, not "yaml"/);
  } finally {
    if (saved === undefined) delete process.env.FLUME_LOG_FORMAT;
    else process.env.FLUME_LOG_FORMAT = saved;
  }
});
