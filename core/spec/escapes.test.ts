import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventCursor, encodeEvents, makeEvent, Priority, type Event } from '../event';
import { CursorEscapeSource, escapeSourceOfEvent } from './escape-sources';
import { compileTemplate, TemplateError, type EscapeSource } from './escapes';

/** Sunday 2025-01-05 13:04:09.123 UTC. */
const TS = Date.UTC(2025, 0, 5, 13, 4, 9, 123);

function at(timestamp: number, fields: Partial<Omit<Event, 'body'>> = {}, body = 'the body'): EscapeSource {
  return escapeSourceOfEvent(makeEvent(body, { ...fields, timestamp }));
}

function fmt(template: string, ev: EscapeSource = at(TS)): string {
  return compileTemplate(template).format(ev);
}

test('every date shorthand against a fixed timestamp, in UTC', () => {
  const expected: Record<string, string> = {
    a: 'Sun',
    A: 'Sunday',
    b: 'Jan',
    B: 'January',
    c: 'Sun Jan 5 13:04:09 2025',
    d: '05',
    D: '01/05/25',
    e: '5',
    H: '13',
    I: '01',
    j: '005',
    k: '13',
    l: '1',
    m: '01',
    n: '1',
    M: '04',
    p: 'PM',
    s: '1736082249',
    S: '09',
    t: '1736082249123',
    y: '25',
    Y: '2025',
    z: '+0000',
  };
  assert.equal(TS, 1736082249123);
  for (const [code, want] of Object.entries(expected)) assert.equal(fmt(`%${code}`), want, `%${code}`);
  assert.equal(fmt('/data/%Y-%m-%d/%H%M%S/'), '/data/2025-01-05/130409/');
});

test('midnight, noon, leap day and last day of a leap year', () => {
  const midnight = at(Date.UTC(2024, 11, 31, 0, 0, 0));
  assert.equal(fmt('%j %I %l %k %H %p %a %A %b %B %D', midnight), '366 12 12 0 00 AM Tue Tuesday Dec December 12/31/24');
  assert.equal(fmt('%I %l %p', at(Date.UTC(2024, 5, 1, 12, 30))), '12 12 PM');
  assert.equal(fmt('%Y-%m-%d %j', at(Date.UTC(2024, 1, 29, 23, 59, 59))), '2024-02-29 060');
  assert.equal(fmt('%Y-%m-%d %H:%M:%S %s', at(0)), '1970-01-01 00:00:00 0');
});

test('property: date fields agree with Date in UTC for any timestamp', () => {
  const tpl = compileTemplate('%Y %m %d %H %M %S %j %a %b %y %e %n %k %s');
  fc.assert(
    fc.property(fc.integer({ min: -2208988800000, max: 7258118400000 }), (ts) => {
      const d = new Date(ts);
      const start = Date.UTC(d.getUTCFullYear(), 0, 1);
      const yday = Math.floor((Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) - start) / 86400000) + 1;
      const p2 = (n: number): string => String(n).padStart(2, '0');
      const want = [
        String(d.getUTCFullYear()).padStart(4, '0'),
        p2(d.getUTCMonth() + 1),
        p2(d.getUTCDate()),
        p2(d.getUTCHours()),
        p2(d.getUTCMinutes()),
        p2(d.getUTCSeconds()),
        String(yday).padStart(3, '0'),
        d.toUTCString().slice(0, 3),
        d.toUTCString().slice(8, 11),
        p2(d.getUTCFullYear() % 100),
        String(d.getUTCDate()),
        String(d.getUTCMonth() + 1),
        String(d.getUTCHours()),
        String(Math.floor(ts / 1000)),
      ].join(' ');
      assert.equal(tpl.format(at(ts)), want);
    }),
    { numRuns: 2000 },
  );
});

test('event fields, attributes, a missing attribute, extra values and %%', () => {
  const ev = at(
    TS,
    {
      host: 'web01',
      nanos: 987654,
      priority: Priority.WARN,
      attributes: new Map([
        ['service', Buffer.from('billing')],
        ['dc.name', Buffer.from('east-1')],
      ]),
    },
    'hello body',
  );
  assert.equal(
    fmt('%{host}|%{hostname}|%{nanos}|%{priority}|%{body}|%{timestamp}|%{service}|%{dc.name}|%{missing}|100%%', ev),
    'web01|web01|987654|WARN|hello body|1736082249123|billing|east-1||100%',
  );
  const tpl = compileTemplate('file:///tmp/%{rolltag}-%{service}');
  assert.equal(tpl.format(ev, { rolltag: 'log.00001' }), 'file:///tmp/log.00001-billing');
  assert.equal(tpl.format(ev, { service: 'override' }), 'file:///tmp/-override');
  assert.equal(tpl.format(ev), 'file:///tmp/-billing');
  assert.deepEqual(tpl.names, ['rolltag', 'service']);
});

test('the cursor adapter reads fields and attributes in place, one object reused', () => {
  const events = [
    makeEvent('first', {
      timestamp: TS,
      host: 'h1',
      priority: Priority.ERROR,
      attributes: new Map([
        ['a', Buffer.from('1')],
        ['bb', Buffer.from('22')],
      ]),
    }),
    makeEvent('second', { timestamp: TS + 3_600_000, host: 'h2', nanos: 5, attributes: new Map([['bb', Buffer.from('x')]]) }),
    makeEvent('', { timestamp: TS, host: '' }),
  ];
  const batch = encodeEvents('origin', 1, events);
  const cursor = new EventCursor().reset(batch);
  const src = new CursorEscapeSource();
  const tpl = compileTemplate('%H/%{host}/%{priority}/%{a}/%{bb}/%{b}/%{nanos}/%{body}');
  const out: string[] = [];
  while (cursor.next()) out.push(tpl.format(src.of(cursor)));
  assert.deepEqual(out, ['13/h1/ERROR/1/22//0/first', '14/h2/INFO//x//5/second', '13//INFO////0/']);
  // The cursor and the Event adapter agree.
  assert.deepEqual(
    events.map((e) => tpl.format(escapeSourceOfEvent(e))),
    out,
  );
});

test('the per-second cache follows the timestamp back and forth', () => {
  const tpl = compileTemplate('%Y-%m-%d %H:%M:%S');
  const withMillis = compileTemplate('%S.%t');
  const seconds = [TS, TS + 1, TS + 999, TS + 1000, TS - 1000, TS, TS + 86_400_000, TS];
  for (const ts of seconds) {
    const d = new Date(ts).toISOString();
    assert.equal(tpl.format(at(ts)), `${d.slice(0, 10)} ${d.slice(11, 19)}`);
    assert.equal(withMillis.format(at(ts)), `${d.slice(17, 19)}.${ts}`);
  }
});

test('constant templates, and what a template reads', () => {
  const plain = compileTemplate('/var/log/flume/');
  assert.equal(plain.isConstant, true);
  assert.equal(plain.usesTime, false);
  assert.equal(plain.format(at(TS)), '/var/log/flume/');
  const pct = compileTemplate('100%% done');
  assert.equal(pct.isConstant, true);
  assert.equal(pct.format(at(TS)), '100% done');
  assert.equal(compileTemplate('%Y').isConstant, false);
  assert.equal(compileTemplate('%Y').usesTime, true);
  assert.equal(compileTemplate('%{host}').usesTime, false);
  assert.equal(compileTemplate('%{timestamp}').usesTime, true);
  assert.equal(compileTemplate('').format(at(TS)), '');
  // Event-free: only literals and names the extra values give.
  assert.equal(compileTemplate('/out/').eventFree(), true);
  assert.equal(compileTemplate('data-%{rolltag}').eventFree({ rolltag: 'r1' }), true);
  assert.equal(compileTemplate('data-%{rolltag}').eventFree(), false, 'rolltag would come from the event');
  assert.equal(compileTemplate('%{host}-%{rolltag}').eventFree({ rolltag: 'r1', host: 'h' }), false, 'host is the event field');
  assert.equal(compileTemplate('%Y-%{rolltag}').eventFree({ rolltag: 'r1' }), false);
});

test('malformed templates name the column of the problem', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['/data/%Q/', 7, /unknown escape '%Q'/],
    ['/data/%', 7, /lone '%' at the end/],
    ['/data/%{host', 7, /unterminated '%\{'/],
    ['x%{}y', 2, /empty name in '%\{\}'/],
    ['%{a b}', 4, /invalid character " " in '%\{a b\}'/],
    ['%Y-%E', 4, /unknown escape '%E'/],
  ];
  for (const [template, column, message] of cases) {
    assert.throws(
      () => compileTemplate(template),
      (e: unknown) => {
        assert.ok(e instanceof TemplateError, template);
        assert.equal(e.column, column, template);
        assert.equal(e.template, template);
        assert.match(e.message, message);
        assert.match(e.message, new RegExp(`at column ${column} of template`));
        return true;
      },
    );
  }
});
