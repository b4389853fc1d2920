import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeEvents, type Event, Priority } from '../../core/event';
import { SyslogBatchWriter, SyslogParser } from './syslog-parse';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);

function parse(...messages: string[]): Array<Event | null> {
  const out: Array<Event | null> = [];
  for (const m of messages) {
    const w = new SyslogBatchWriter('t', 64);
    const buf = Buffer.from(m);
    const ok = new SyslogParser('peer').parse(w, buf, 0, buf.length, NOW);
    out.push(ok ? decodeEvents(w.finish(1))[0] : null);
  }
  return out;
}

function attrs(e: Event): Record<string, string> {
  return Object.fromEntries([...e.attributes].map(([k, v]) => [k, v.toString()]));
}

test('syslog RFC 5424: every header field, structured data with escapes, BOM dropped, zones applied', () => {
  const [e] = parse(
    '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="App\\]x"][b a="1"] \uFEFFAn application event',
  );
  assert.ok(e);
  assert.equal(e.body.toString(), 'An application event');
  assert.equal(e.host, 'mymachine.example.com');
  assert.equal(e.timestamp, Date.UTC(2003, 9, 11, 22, 14, 15, 3));
  assert.equal(e.priority, Priority.INFO); // severity 5 (notice)
  assert.deepEqual(attrs(e), {
    syslogfacility: '20',
    syslogseverity: '5',
    syslogappname: 'evntslog',
    syslogprocid: '1234',
    syslogmsgid: 'ID47',
    syslogsd: '[exampleSDID@32473 iut="3" eventSource="App\\]x"][b a="1"]',
  });
  const [z1, z2, z3] = parse(
    '<0>1 2003-08-24T05:14:15.000003-07:00 h a - - - m',
    '<0>1 2003-08-24T05:14:15.000003-07:00 h a - - - m2',
    '<0>1 2003-08-24T05:15:15+02:00 h a - - - m3',
  );
  assert.equal(z1!.timestamp, Date.UTC(2003, 7, 24, 12, 14, 15, 0));
  assert.equal(z2!.timestamp, Date.UTC(2003, 7, 24, 12, 14, 15, 0));
  assert.equal(z3!.timestamp, Date.UTC(2003, 7, 24, 3, 15, 15, 0));
  assert.equal(z1!.priority, Priority.FATAL);
});

test('syslog RFC 5424: nil fields fall back (host: the peer, time: now), no MSG is an empty body', () => {
  const [e] = parse('<11>1 - - - - - -');
  assert.ok(e);
  assert.equal(e.host, 'peer');
  assert.equal(e.timestamp, NOW);
  assert.equal(e.body.length, 0);
  assert.equal(e.priority, Priority.ERROR);
  assert.deepEqual(attrs(e), { syslogfacility: '1', syslogseverity: '3' });
});

test('syslog RFC 3164: timestamp, host, tag[pid]; headers without host or tag; ISO timestamps', () => {
  const [a, b, c, d] = parse(
    "<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed",
    '<13>Feb  5 01:02:03 app: no hostname here',
    '<13>just a message',
    '<12>2026-11-22T04:10:15.331+00:00 web01 sshd[9]: hi',
  );
  assert.equal(a!.host, 'mymachine');
  assert.equal(a!.body.toString(), "'su root' failed");
  assert.equal(a!.priority, Priority.FATAL); // severity 2 (crit)
  assert.deepEqual(attrs(a!), { syslogfacility: '4', syslogseverity: '2', syslogappname: 'su', syslogprocid: '230' });
  assert.equal(new Date(a!.timestamp).getMonth(), 9);
  assert.equal(new Date(a!.timestamp).getHours(), 22);
  assert.equal(b!.host, 'peer');
  assert.equal(attrs(b!).syslogappname, 'app');
  assert.equal(b!.body.toString(), 'no hostname here');
  assert.equal(new Date(b!.timestamp).getDate(), 5);
  // A February date seen in November is this year's, not the next.
  assert.equal(new Date(b!.timestamp).getFullYear(), 2026);
  assert.equal(c!.body.toString(), 'just a message');
  assert.equal(c!.timestamp, NOW);
  assert.equal(d!.host, 'web01');
  assert.equal(d!.timestamp, Date.UTC(2026, 10, 22, 4, 10, 15, 331));
  assert.equal(attrs(d!).syslogprocid, '9');
});

test('syslog: no valid <PRI> is not syslog', () => {
  assert.deepEqual(parse('hello', '<>x', '<192>1 - - - - - -', '<1a>x', '\x00\x01\x02', '<1'), [null, null, null, null, null, null]);
});

test('syslog: many messages into one writer make one batch that decodes in order', () => {
  const w = new SyslogBatchWriter('origin', 16);
  const p = new SyslogParser('peer');
  for (let i = 0; i < 500; i++) {
    const buf = Buffer.from(`<14>1 2026-11-22T04:10:${String(i % 60).padStart(2, '0')}.5Z h${i % 3} app - - - body ${i}`);
    assert.ok(p.parse(w, buf, 0, buf.length, NOW));
  }
  const events = decodeEvents(w.finish(7));
  assert.equal(events.length, 500);
  events.forEach((e, i) => {
    assert.equal(e.body.toString(), `body ${i}`);
    assert.equal(e.host, `h${i % 3}`);
    assert.equal(e.timestamp, Date.UTC(2026, 10, 22, 4, 10, i % 60, 500));
  });
});

test('syslog: arbitrary bytes never throw, and whatever is accepted decodes as a valid batch', () => {
  const pieces = fc.constantFrom(
    '<',
    '>',
    '1',
    '13',
    '191',
    ' ',
    '-',
    '[',
    ']',
    '"',
    '\\',
    ':',
    'Oct',
    '2024-01-02T03:04:05',
    '.5',
    'Z',
    '+01:00',
    'x',
  );
  const text = fc.array(fc.oneof(pieces, fc.string({ maxLength: 5 })), { maxLength: 25 }).map((a) => a.join(''));
  fc.assert(
    fc.property(
      fc.oneof(
        text.map((s) => Buffer.from(s)),
        fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a)),
      ),
      (buf) => {
        const w = new SyslogBatchWriter('t', 8);
        const ok = new SyslogParser('peer').parse(w, buf, 0, buf.length, NOW);
        const events = decodeEvents(w.finish(1));
        assert.equal(events.length, ok ? 1 : 0);
        if (ok) assert.ok(events[0].body.length <= buf.length);
      },
    ),
    { numRuns: 3000 },
  );
});
