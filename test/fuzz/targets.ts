/**
 * What the fuzzer throws at: every parser that reads bytes or text a client controls. Each
 * target is a fast-check arbitrary (random input, and valid input mutated) and a check that
 * holds for every input: bad input ends in the parser's own error (with what it expected), never
 * a TypeError, a RangeError, a stack overflow or a hang, and whatever is accepted is well formed.
 *
 * test/fuzz/fuzz.test.ts runs them briefly in `npm test`; `npm run fuzz` runs them long and keeps
 * every input that ever failed in test/fuzz/corpus/, which both replay first.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SyslogBatchWriter, SyslogParser } from '../../agent/sources/syslog-parse';
import { StreamFramer } from '../../agent/sources/framing';
import { HttpSource } from '../../agent/sources/http';
import { FlumeError } from '../../core/errors';
import { decodeEvents, encodeBatch, encodeEvents, EventCursor, makeEvent, verifyBatch } from '../../core/event';
import { parseSpec } from '../../core/spec/parser';
import { planCommand, COMMAND_NAMES } from '../../master/commands';
import { emptyState } from '../../master/store/types';
import { testContext } from '../node/helpers';

/** An input as the corpus keeps it: bytes (base64) or text, plus what the target needs. */
export type FuzzInput = { bytes?: string; text?: string; args?: string[]; cuts?: number[] };

export interface FuzzTarget {
  name: string;
  arbitrary: fc.Arbitrary<FuzzInput>;
  /** Throws (an assertion) when the input breaks a promise of the parser. */
  check(input: FuzzInput): void;
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const bytesOf = (input: FuzzInput): Buffer => Buffer.from(input.bytes ?? '', 'base64');

/** Valid samples mutated: bytes flipped, cut, duplicated, spliced together. */
function mutated(samples: Buffer[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      fc.constantFrom(...samples),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat({ max: 3 })), { maxLength: 8 }),
    )
    .map(([sample, edits]) => {
      let b = Buffer.from(sample);
      for (const [at, value, kind] of edits) {
        const p = b.length === 0 ? 0 : at % b.length;
        if (kind === 0 && b.length > 0) b[p] = value;
        else if (kind === 1) b = b.subarray(0, p);
        else if (kind === 2) b = Buffer.concat([b.subarray(0, p), Buffer.from([value]), b.subarray(p)]);
        else b = Buffer.concat([b, b.subarray(p)]);
      }
      return new Uint8Array(b);
    });
}

const anyBytes = (samples: Buffer[]): fc.Arbitrary<FuzzInput> =>
  fc.oneof(fc.uint8Array({ maxLength: 512 }), mutated(samples)).map((b) => ({ bytes: b64(b) }));

const SYSLOG_SAMPLES = [
  '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="App\\]x"] \uFEFFAn application event',
  "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
  '<13>1 - - - - - - x',
  '<0>1 2003-08-24T05:14:15.000003-07:00 h a - - [a b="c"][d] m',
].map((s) => Buffer.from(s));

const syslog: FuzzTarget = {
  name: 'syslog-parse',
  arbitrary: anyBytes(SYSLOG_SAMPLES),
  check(input) {
    const buf = bytesOf(input);
    const w = new SyslogBatchWriter('fuzz', 4);
    const ok = new SyslogParser('peer').parse(w, buf, 0, buf.length, 1_700_000_000_000);
    const events = decodeEvents(w.finish(1));
    assert.equal(events.length, ok ? 1 : 0);
  },
};

const framing: FuzzTarget = {
  name: 'framing',
  arbitrary: fc
    .tuple(
      anyBytes([Buffer.from('5 <1>ab4 <2>c\nline\r\n12 <3>toolongmessage'), Buffer.from('9999999999 <1>x')]),
      fc.array(fc.nat(), { maxLength: 6 }),
    )
    .map(([i, cuts]) => ({ ...i, cuts })),
  check(input) {
    const buf = bytesOf(input);
    let framed = 0;
    const max = 16;
    const f = new StreamFramer(max, true, {
      onFrame: (b, s, e) => {
        assert.ok(s >= 0 && e <= b.length && e - s <= max, `frame [${s}, ${e}) of ${b.length}`);
        framed += e - s;
      },
      onReject: (_reason, bytes) => assert.ok(bytes >= 0 && bytes <= buf.length, `reject of ${bytes} bytes of ${buf.length} received`),
    });
    const points = [...new Set((input.cuts ?? []).map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
    let last = 0;
    for (const p of [...points, buf.length]) {
      f.feed(buf.subarray(last, p));
      last = p;
    }
    f.end();
    assert.ok(framed <= buf.length);
  },
};

const BATCH_SAMPLES = [
  encodeEvents('agent-1', 7, [makeEvent('hello', { host: 'h', attributes: new Map([['k', Buffer.from('v')]]) }), makeEvent('')]),
  encodeEvents('o', 0, []),
];

/** The events run of each sample: mutated, then wrapped with a correct CRC (`wrap`). */
const EVENT_RUNS = BATCH_SAMPLES.map((b) => {
  const h = verifyBatch(b);
  return b.subarray(h.eventsStart, h.eventsEnd);
}).filter((b) => b.length > 0);

const batchDecoder: FuzzTarget = {
  name: 'batch-decoder',
  // Mutated whole batches mostly fail their CRC; events wrapped with a correct one reach the decoder.
  arbitrary: fc.oneof(
    anyBytes(BATCH_SAMPLES),
    anyBytes(EVENT_RUNS).map((i) => ({ ...i, args: ['wrap'] })),
  ),
  check(input) {
    const raw = bytesOf(input);
    const buf = input.args?.[0] === 'wrap' ? encodeBatch('origin', 1, 1, raw) : raw;
    try {
      verifyBatch(buf);
    } catch (err) {
      assert.ok(err instanceof FlumeError, `verifyBatch threw ${String(err)}`);
      return;
    }
    try {
      const cursor = new EventCursor().reset(buf);
      let n = 0;
      while (cursor.next()) n++;
      assert.ok(n <= buf.length);
    } catch (err) {
      assert.ok(err instanceof FlumeError, `a verified batch's events threw ${String(err)}`);
    }
  },
};

const HTTP_SAMPLES = [
  '[{"body":"a","host":"h","attributes":{"k":"v"},"timestamp":1,"priority":"INFO"}]',
  '{"body":"x"}',
  '{"body":"a"}\n{"body":"b"}\n',
].map((s) => Buffer.from(s));

let httpSource: HttpSource | undefined;

const httpBody: FuzzTarget = {
  name: 'http-body',
  arbitrary: fc.oneof(
    anyBytes(HTTP_SAMPLES),
    fc.json().map((j) => ({ text: j })),
    fc.array(fc.json(), { maxLength: 4 }).map((a) => ({ text: a.join('\n') })),
  ),
  check(input) {
    httpSource ??= new HttpSource(testContext(), { port: 0 });
    const source = httpSource;
    const text = input.text ?? bytesOf(input).toString('utf8');
    try {
      const events = source['parseBody'](text, '127.0.0.1');
      assert.ok(Array.isArray(events));
    } catch (err) {
      assert.equal((err as Error).constructor.name, 'BadRequest', `parseBody threw ${String(err)}`);
    }
  },
};

const SPEC_SAMPLES = [
  'web01 : tail("/var/log/app.log") | { batch(100) => agentE2ESink("c1", 35853) } ;',
  'c : collectorSource(35853) | collector(30000) { [ escapedFile("/d/%Y/", "x-%{host}"), < null ? console > ] } ;',
].map((s) => Buffer.from(s));

const spec: FuzzTarget = {
  name: 'spec-parser',
  arbitrary: fc.oneof(
    anyBytes(SPEC_SAMPLES),
    fc.string({ maxLength: 200 }).map((text) => ({ text })),
  ),
  check(input) {
    const text = input.text ?? bytesOf(input).toString('utf8');
    try {
      parseSpec(text);
    } catch (err) {
      assert.ok(err instanceof FlumeError, `parseSpec threw ${String(err)}`);
      assert.match((err as Error).message, /\d+:\d+/, 'a spec error names its line and column');
    }
  },
};

const adminCommand: FuzzTarget = {
  name: 'admin-command',
  arbitrary: fc
    .tuple(
      fc.oneof(fc.constantFrom(...COMMAND_NAMES.filter((n) => !/^(save|load)$/i.test(n))), fc.string({ maxLength: 12 })),
      fc.array(fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('web01', 'tail("/x")', 'null', 'collectorSource(1)', '')), {
        maxLength: 4,
      }),
    )
    .map(([name, args]) => ({ args: [name, ...args] })),
  check(input) {
    const [name, ...args] = input.args ?? [''];
    if (/^(save|load)$/i.test(name)) return; // they touch files: tested on their own
    try {
      planCommand(name, args, { baseDir: '/nonexistent' })(emptyState());
    } catch (err) {
      assert.ok(err instanceof FlumeError, `${name} ${JSON.stringify(args)} threw ${String(err)}`);
    }
  },
};

export const TARGETS: readonly FuzzTarget[] = [syslog, framing, batchDecoder, httpBody, spec, adminCommand];
