/**
 * Property tests of the spec parser against hostile and broken text (issue 15): whatever the
 * input, `tryParseSpec` returns, and `parseSpec`/`parseSource`/`parseSink` throw nothing but a
 * ValidationError of SpecSyntaxErrors, each at a line:column inside the text. The inputs are
 * random token soups, valid specs cut and spliced at random, and nesting far past the limit.
 * `npm test` runs a few hundred cases of each; FLUME_FUZZ_RUNS raises the count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SpecSyntaxError, ValidationError } from '../errors';
import { MAX_SPEC_DEPTH, parseSink, parseSource, parseSpec, tryParseSpec } from './parser';

const RUNS = Number(process.env.FLUME_FUZZ_RUNS ?? 300);

/** The line lengths of `text`, to check that a position lies inside it (or just past its end). */
function lineLengths(text: string): number[] {
  return text.split('\n').map((l) => l.length);
}

function assertInside(e: SpecSyntaxError, text: string): void {
  const lines = lineLengths(text);
  assert.ok(Number.isInteger(e.line) && e.line >= 1 && e.line <= lines.length, `line ${e.line} of ${lines.length}: ${e.message}`);
  assert.ok(
    Number.isInteger(e.column) && e.column >= 1 && e.column <= lines[e.line - 1] + 1,
    `column ${e.column} of ${lines[e.line - 1]}: ${e.message}`,
  );
  assert.match(e.message, /^\d+:\d+: /);
}

/** Runs `parse`; it may succeed or throw a ValidationError of positioned SpecSyntaxErrors, nothing else. */
function parsesOrExplains(text: string, parse: (t: string) => unknown): void {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ValidationError, `threw ${String(err)}`);
    assert.ok(err.problems.length > 0);
    for (const p of err.problems) {
      assert.ok(p instanceof SpecSyntaxError, `problem ${String(p)}`);
      assertInside(p, text);
    }
  }
}

function checkAll(text: string): void {
  const result = tryParseSpec(text);
  for (const e of result.errors) assertInside(e, text);
  parsesOrExplains(text, parseSpec);
  parsesOrExplains(text, parseSource);
  parsesOrExplains(text, parseSink);
}

const TOKENS = [
  'n',
  'web01',
  '10.0.0.1',
  ':',
  '|',
  ';',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  '<',
  '>',
  '?',
  ',',
  '=',
  '=>',
  'batch(100)',
  'console',
  'null',
  'tail("/var/log/x")',
  '"str"',
  "'s'",
  '"unterminated',
  '"\\u12',
  '42',
  '-3.5',
  '1e5',
  'true',
  'k=1',
  '\n',
  ' ',
  '\t',
  '#',
  '//',
  '/*',
  '*/',
  '\\',
  '\u0000',
  '\u00e9',
  '\ud800',
  '%{host}',
];

const tokenSoup = fc.array(fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 4 })), { maxLength: 60 }).map((ts) => ts.join(''));

const VALID = [
  'web01 : tail("/var/log/app.log") | { batch(100) => agentE2ESink("c1", 35853) } ;',
  'coll1 : collectorSource(35853) | collector(30000) { collectorSink("file:///d/%Y/", "web-%{host}-") } ;',
  'a : synth(10) | [ console, < null ? { gzip => counter("c") } >, roll(1000) { text("/tmp/x") } ] ;\nb : stdin | value("k", "v") regex("x", "y", 1) console ;',
  'n : exec("ls", aggregate=true, period=10) | { sample(2) => delay(5) => null } ;',
];

/** A valid spec with random slices deleted, repeated or inserted: what a careless edit makes. */
const mutated = fc
  .tuple(
    fc.constantFrom(...VALID),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 12 }), fc.oneof(fc.constant(''), fc.constantFrom(...TOKENS), fc.string({ maxLength: 3 }))), {
      minLength: 1,
      maxLength: 6,
    }),
  )
  .map(([base, edits]) => {
    let s = base;
    for (const [at, len, insert] of edits) {
      const i = at % (s.length + 1);
      s = s.slice(0, i) + insert + s.slice(i + (insert === '' ? len : 0));
    }
    return s;
  });

test('random token soups never make the parser throw anything but positioned syntax errors', () => {
  fc.assert(fc.property(tokenSoup, checkAll), { numRuns: RUNS });
});

test('valid specs cut and spliced at random are parsed or explained with line:column, never crash', () => {
  fc.assert(fc.property(mutated, checkAll), { numRuns: RUNS });
});

const OPENERS = [
  ['[', ']'],
  ['< ', ' ? null >'],
  ['{ batch(1) => ', ' }'],
  ['roll(1) { ', ' }'],
  ['gzip ', ''],
] as const;

test(`nesting past ${MAX_SPEC_DEPTH} levels is an error naming the limit at a line:column, at any depth`, () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: OPENERS.length - 1 }), { minLength: 1, maxLength: 6000 }),
      fc.boolean(),
      (drawn, newlines) => {
        // `gzip { ... }` reads as a wrapper with a body, not a decorator: no brace after a bare decorator.
        const kinds = drawn.map((k, i) => (k === 2 && drawn[i - 1] === 4 ? 0 : k));
        const sep = newlines ? '\n' : '';
        const text = `n : x | ${kinds.map((k) => OPENERS[k][0] + sep).join('')}null${kinds
          .map((k) => OPENERS[k][1])
          .reverse()
          .join('')} ;`;
        // Each opener is one level, except a braced chain which is two (the braces and its decorator).
        const depth = kinds.reduce((d, k) => d + (k === 2 ? 2 : 1), 1);
        const result = tryParseSpec(text);
        for (const e of result.errors) assertInside(e, text);
        if (depth <= MAX_SPEC_DEPTH) {
          assert.deepEqual(
            result.errors.map((e) => e.message),
            [],
          );
        } else {
          assert.equal(result.nodes.length, 0);
          assert.ok(
            result.errors.some((e) => e.message.includes(`deeper than ${MAX_SPEC_DEPTH} levels`)),
            result.errors.map((e) => e.message).join('; '),
          );
        }
      },
    ),
    { numRuns: Math.max(50, RUNS / 4) },
  );
});

test('a spec nested 50000 deep, or a chain of 50000 decorators, is refused with line:column, and the next node still parses', () => {
  const deep = `a : x | ${'['.repeat(50_000)}null${']'.repeat(50_000)} ;\nb : x | null ;`;
  const chain = `a : x | { ${'batch(1) => '.repeat(50_000)}null } ;\nb : x | null ;`;
  const bare = `a : x | ${'gzip '.repeat(50_000)}null ;\nb : x | null ;`;
  for (const text of [deep, chain, bare]) {
    const result = tryParseSpec(text);
    assert.deepEqual(
      result.nodes.map((n) => n.name),
      ['b'],
    );
    assert.equal(result.errors.length, 1);
    assert.match(result.errors[0].message, new RegExp(`^1:\\d+: sinks nested deeper than ${MAX_SPEC_DEPTH} levels \\(the limit\\)$`));
    assert.throws(
      () => parseSink(text.slice(8, text.indexOf(' ;'))),
      (e: unknown) => e instanceof ValidationError && /deeper than/.test(e.message),
    );
  }
});
