import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SpecSyntaxError, ValidationError } from '../errors';
import type { Arg, Call, Literal, SinkSpec } from './ast';
import { formatCall, formatNode, formatSink, parseSink, parseSource, parseSpec, tryParseSpec } from './index';

/** The tree without positions, for comparisons. */
function strip<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (k, v) => (k === 'pos' ? undefined : v)));
}

const call = (name: string, ...args: Arg[]): Call => ({ name, args, pos: { line: 0, column: 0 } });
const p = { line: 0, column: 0 };
const str = (value: string): Literal => ({ kind: 'string', value, pos: p });
const num = (value: number): Literal => ({ kind: 'number', value, pos: p });
const sink = (c: Call): SinkSpec => ({ kind: 'sink', call: c, pos: p });
const deco = (d: Call, s: SinkSpec): SinkSpec => ({ kind: 'decorated', decorator: d, sink: s, pos: p });

function messagesOf(text: string): string[] {
  return tryParseSpec(text).errors.map((e) => e.message);
}

test('a plain node: name, source, sink, positions and exact texts', () => {
  const [node] = parseSpec('  web01 : tail("/var/log/app.log")   |  agentE2ESink("c1", 35853)  ;');
  assert.equal(node.name, 'web01');
  assert.deepEqual(node.pos, { line: 1, column: 3 });
  assert.deepEqual(strip(node.source), strip(call('tail', str('/var/log/app.log'))));
  assert.deepEqual(node.source.pos, { line: 1, column: 11 });
  assert.deepEqual(strip(node.sink), strip(sink(call('agentE2ESink', str('c1'), num(35853)))));
  assert.equal(node.sourceText, 'tail("/var/log/app.log")');
  assert.equal(node.sinkText, 'agentE2ESink("c1", 35853)');
});

test('every argument kind, escapes and keywords', () => {
  const c = parseSource(
    `f("a\\"b\\\\c\\nd\\te\\u00e9\\'", 'C:\\dir\\n', 42, -7, 3.25, -0.5, true, false, raw, k=1, flag=true, fmt="json", n=-2)`,
  );
  assert.equal(c.name, 'f');
  const values = c.args.map((a) => (a.kind === 'keyword' ? [a.name, a.value.kind, a.value.value] : [a.kind, a.value]));
  assert.deepEqual(values, [
    ['string', 'a"b\\c\nd\te\u00e9\''],
    ['string', 'C:\\dir\\n'],
    ['number', 42],
    ['number', -7],
    ['number', 3.25],
    ['number', -0.5],
    ['boolean', true],
    ['boolean', false],
    ['identifier', 'raw'],
    ['k', 'number', 1],
    ['flag', 'boolean', true],
    ['fmt', 'string', 'json'],
    ['n', 'number', -2],
  ]);
  assert.deepEqual(c.args[2].pos, { line: 1, column: 40 });
});

test('calls without parentheses and with empty ones are the same call', () => {
  assert.deepEqual(strip(parseSource('console')), strip(parseSource('console()')));
  assert.deepEqual(parseSource('console').args, []);
});

test('node names may be host names, with digits, dots and dashes', () => {
  const nodes = parseSpec('10.0.0.1 : null | null ;\nweb-01.example_x : null | null ;');
  assert.deepEqual(
    nodes.map((n) => n.name),
    ['10.0.0.1', 'web-01.example_x'],
  );
});

test('decorators: braced, chained, nested and brace-less forms build the same tree', () => {
  const expected = strip(deco(call('batch', num(10)), deco(call('gzip'), sink(call('console')))));
  for (const text of [
    '{ batch(10) => gzip => console }',
    '{ batch(10) => { gzip => console } }',
    'batch(10) gzip console',
    '{ batch(10) gzip => console }',
  ]) {
    assert.deepEqual(strip(parseSink(text)), expected, text);
  }
  const braced = parseSink('{ batch(10) => gzip => console }');
  assert.equal(braced.kind, 'decorated');
  assert.deepEqual(braced.pos, { line: 1, column: 1 });
  if (braced.kind === 'decorated') assert.deepEqual(braced.sink.pos, { line: 1, column: 16 });
});

test('fan-out, failover (nested), and wrappers', () => {
  const fan = parseSink('[ console, null, text("f") ]');
  assert.equal(fan.kind, 'fanout');
  if (fan.kind === 'fanout')
    assert.deepEqual(
      fan.sinks.map((s) => (s.kind === 'sink' ? s.call.name : s.kind)),
      ['console', 'null', 'text'],
    );

  const fo = parseSink('< a ? < b ? c > >');
  assert.deepEqual(
    strip(fo),
    strip({
      kind: 'failover',
      pos: p,
      primary: sink(call('a')),
      backup: { kind: 'failover', pos: p, primary: sink(call('b')), backup: sink(call('c')) },
    }),
  );

  const roll = parseSink('roll(1000) { escapedCustomDfs("file:///tmp/%{rolltag}") }');
  assert.deepEqual(
    strip(roll),
    strip({
      kind: 'wrapper',
      pos: p,
      call: call('roll', num(1000)),
      body: sink(call('escapedCustomDfs', str('file:///tmp/%{rolltag}'))),
    }),
  );

  // A wrapper whose body is decorated, inside a failover, inside a fan-out.
  const deep = parseSink('[ < collector(30000) { { batch(5) => text("x") } } ? null >, console ]');
  assert.equal(deep.kind, 'fanout');
});

test('a multi-line text with comments: every node, exact texts, line numbers', () => {
  const text = [
    '# agents',
    'web01 : tail("/var/log/app.log")   # the app',
    '      | { batch(100) => agentE2ESink("c1", 35853) } ;',
    '/* the collector, spanning',
    '   two lines */ coll1 : collectorSource(35853) | collector(30000) {',
    '    collectorSink("file:///data/%Y-%m-%d/", "web-")  # bucketed by day',
    '  } ;',
    '',
  ].join('\n');
  const nodes = parseSpec(text);
  assert.deepEqual(
    nodes.map((n) => [n.name, n.pos.line, n.pos.column]),
    [
      ['web01', 2, 1],
      ['coll1', 5, 17],
    ],
  );
  assert.equal(nodes[0].sourceText, 'tail("/var/log/app.log")');
  assert.equal(nodes[0].sinkText, '{ batch(100) => agentE2ESink("c1", 35853) }');
  assert.equal(nodes[1].sinkText, 'collector(30000) {\n    collectorSink("file:///data/%Y-%m-%d/", "web-")  # bucketed by day\n  }');
  assert.deepEqual(nodes[1].sink.kind === 'wrapper' && nodes[1].sink.body.pos, { line: 6, column: 5 });
});

test('an empty text or one with only comments has no nodes', () => {
  assert.deepEqual(parseSpec(''), []);
  assert.deepEqual(parseSpec('  # nothing\n/* here */\n'), []);
});

/** Examples from Flume OG's user guide and cookbook that use these forms. */
const OG_EXAMPLES = [
  'host : text("/var/log/messages") | [ console, { batch(10) => agentE2ESink("c", 35853) } ];',
  'collector : collectorSource(35853) | collector(30000) { collectorSink("hdfs://nn/path/%Y-%m-%d/", "web-%{host}-") } ;',
  'agent : tail("/var/log/app") | < agentE2ESink("a") ? { diskFailover => agentDFOSink("b") } > ;',
  'roller : text("/etc/services") | roll(1000) { escapedCustomDfs("file:///tmp/%{rolltag}") } ;',
  'node1 : tail("/var/log/httpd/access_log") | agentSink("collector", 35853) ;',
  'collector1 : collectorSource(35853) | collectorSink("hdfs://namenode/user/flume/", "syslog") ;',
  'host : console | console ;',
  'foo : syslogTcp(5140) | console("avrojson") ;',
  'udp : syslogUdp(5140) | { value("dc", "east") => agentBESink("collector") } ;',
  'agentA : tailDir("/var/log/app", fileregex="^app.*\\\\.log$") | autoE2EChain ;',
  'agentB : exec("ps aux", false, true, 1000) | autoDFOChain ;',
  'agentC : asciisynth(1000, 100) | autoBEChain ;',
  'chained : text("/etc/hosts") | agentE2EChain("collector1:35853", "collector2:35853") ;',
  'sampler : tail("/var/log/messages") | { intervalSampler(10) => { delay(100) => console } } ;',
  'regexy : tail("/var/log/messages") | { regex("(Flume)", 1, "FlumeAttr") => console("debug") } ;',
  'bench : asciisynth(1000000, 100) | { benchinject => { benchreport("report") => [ console, counter("count") ] } } ;',
  'wal : tail("/var/log/a") | { ackedWriteAhead => { stubbornAppend => { insistentOpen => rpcSink("host", 35853) } } } ;',
  'fo : tail("/var/log/a") | < { lazyOpen => { stubbornAppend => logicalSink("c1") } } ? < { lazyOpen => logicalSink("c2") } ? null > > ;',
  'bucketed : collectorSource | collectorSink("hdfs://nn/flume/webdata/%H00/", "%{host}-") ;',
  'multi : text("/etc/services") | [ < agentE2ESink("a") ? agentBESink("b") >, roll(60000) { text("/tmp/%{rolltag}.log", "json") } ] ;',
  'gz : tail("/var/log/app") | { batch(100, 1000) => { gzip => agentE2ESink("c1", 35853) } } ;',
  'coll : collectorSource(35853) | { gunzip => { unbatch => collectorSink("file:///tmp/flume/collected", "syslog") } } ;',
  'nospace:text("/etc/hosts")|{batch(10)=>console};',
];

test('round trip: every OG example parses, formats to canonical text, and re-parses equal', () => {
  for (const text of OG_EXAMPLES) {
    const nodes = parseSpec(text);
    assert.equal(nodes.length, 1, text);
    const canonical = formatNode(nodes[0]);
    const again = parseSpec(canonical);
    assert.deepEqual(strip(again), strip(nodes.map((n) => ({ ...n, sourceText: again[0].sourceText, sinkText: again[0].sinkText }))), text);
    assert.equal(formatNode(again[0]), canonical, 'canonical text is a fixed point');
    assert.deepEqual(strip(parseSource(nodes[0].sourceText)), strip(nodes[0].source));
    assert.deepEqual(strip(parseSink(nodes[0].sinkText)), strip(nodes[0].sink));
  }
  const all = parseSpec(OG_EXAMPLES.join('\n').replace('host : console', 'host2 : console'));
  assert.equal(all.length, OG_EXAMPLES.length);
});

test('canonical formatting of each form', () => {
  assert.equal(formatCall(parseSource("f( 'x' , raw,-2.5,k = 1,b=true )")), 'f("x", raw, -2.5, k=1, b=true)');
  assert.equal(formatSink(parseSink('d1 d2 [a,b]')), '{ d1 => d2 => [ a, b ] }');
  assert.equal(formatSink(parseSink('<a?<b?c>>')), '< a ? < b ? c > >');
  assert.equal(formatSink(parseSink('roll(10){x}')), 'roll(10) { x }');
  assert.equal(formatCall(parseSource('f("tab\\tquote\\"nl\\nbs\\\\ctl\\u0001")')), 'f("tab\\tquote\\"nl\\nbs\\\\ctl\\u0001")');
});

// A random tree generator for the property below.
const word = fc.stringMatching(/^[a-z][A-Za-z0-9_]{0,6}$/).filter((w) => w !== 'true' && w !== 'false');
const literal: fc.Arbitrary<Literal> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }).map((value): Literal => ({ kind: 'string', value, pos: p })),
  fc
    .oneof(
      fc.integer({ min: -1e9, max: 1e9 }),
      fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((d) => Math.round(d * 1000) / 1000),
    )
    .map((value): Literal => ({ kind: 'number', value: Object.is(value, -0) ? 0 : value, pos: p })),
  fc.boolean().map((value): Literal => ({ kind: 'boolean', value, pos: p })),
  word.map((value): Literal => ({ kind: 'identifier', value, pos: p })),
);
const callArb: fc.Arbitrary<Call> = fc
  .tuple(word, fc.array(literal, { maxLength: 3 }), fc.uniqueArray(word, { maxLength: 2 }), fc.array(literal, { maxLength: 2 }))
  .map(([name, positional, keys, values]) => ({
    name,
    args: [...positional, ...keys.map((k, i): Arg => ({ kind: 'keyword', name: k, value: values[i] ?? num(1), pos: p }))],
    pos: p,
  }));
const { sinkArb } = fc.letrec<{ sinkArb: SinkSpec }>((tie) => ({
  sinkArb: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    callArb.map((c): SinkSpec => sink(c)),
    fc.tuple(callArb, tie('sinkArb')).map(([d, s]): SinkSpec => deco(d, s)),
    fc.array(tie('sinkArb'), { minLength: 1, maxLength: 3 }).map((sinks): SinkSpec => ({ kind: 'fanout', sinks, pos: p })),
    fc.tuple(tie('sinkArb'), tie('sinkArb')).map(([primary, backup]): SinkSpec => ({ kind: 'failover', primary, backup, pos: p })),
    fc.tuple(callArb, tie('sinkArb')).map(([c, body]): SinkSpec => ({ kind: 'wrapper', call: c, body, pos: p })),
  ),
}));

test('property: any tree formats to text that parses back to the same tree', () => {
  fc.assert(
    fc.property(word, callArb, sinkArb, (name, source, s) => {
      const text = formatNode({ name, source, sink: s });
      const [node] = parseSpec(text);
      assert.deepEqual(strip({ source: node.source, sink: node.sink }), strip({ source, sink: s }));
    }),
    { numRuns: 300 },
  );
});

/** [text, line:column, what the message says after the position]. */
const MALFORMED: Array<[string, string, string]> = [
  ['a : s | console', '1:16', "expected ';' but found end of input"],
  ['a s | console ;', '1:3', "expected ':' but found 's'"],
  [': s | console ;', '1:1', "expected a logical node name but found ':'"],
  ['a : | console ;', '1:5', "expected a source but found '|'"],
  ['a : s console ;', '1:7', "expected '|' but found 'console'"],
  ['a : s | ;', '1:9', "expected a sink but found ';'"],
  ['a : s("x" ;', '1:11', "expected ')' or ',' but found ';'"],
  ['a : s("x"', '1:6', "unterminated '(': expected ')' or ',' but found end of input"],
  ['a : s(1,) | c ;', '1:9', "expected an argument but found ')'"],
  ['a : s(,) | c ;', '1:7', "expected an argument but found ','"],
  ['a : s(k=) | c ;', '1:9', "expected a value but found ')'"],
  ['a : s | x(1 2) ;', '1:13', "expected ')' or ',' but found '2'"],
  ['a : s | [ x, y ;', '1:16', "expected ',' or ']' but found ';'"],
  ['a : s | [ x, y', '1:9', "unterminated '[': expected ',' or ']' but found end of input"],
  ['a : s | [ ] ;', '1:11', "expected a sink but found ']'"],
  ['a : s | < x y >;', '1:15', "expected '?' but found '>'"],
  ['a : s | < x ? y ;', '1:17', "expected '>' but found ';'"],
  ['a : s | < x ? > ;', '1:15', "expected a sink but found '>'"],
  ['a : s | < x ? y', '1:9', "unterminated '<': expected '>' but found end of input"],
  ['a : s | { batch(10) => } ;', '1:24', "expected a sink after '=>' but found '}'"],
  ['a : s | { console } ;', '1:19', "expected '=>' but found '}'"],
  ['a : s | { batch(10) => console ;', '1:32', "expected '}' but found ';'"],
  ['a : s | { batch => console', '1:9', "unterminated '{': expected '}' but found end of input"],
  ['a : s | { [ a, b ] => c } ;', '1:11', "expected a decorator before '=>' but found a fanout sink"],
  ['a : s | [ a, b ] => c ;', '1:18', "expected ';' but found '=>'"],
  ['a : s | roll(1000) { x ;', '1:24', "expected '}' but found ';'"],
  ['a : s | roll(1000) {', '1:20', "unterminated '{': expected a sink but found end of input"],
  ['a : text("abc) | x ;', '1:10', 'unterminated string: " is never closed on its line'],
  ["a : text('abc) | x ;", '1:10', "unterminated string: ' is never closed on its line"],
  ['a : text("a\\qb") | x ;', '1:12', "unknown escape '\\q' in string"],
  ['a : text("\\u12G4") | x ;', '1:11', "malformed unicode escape: '\\u' must be followed by 4 hex digits"],
  ['a : s | x ; /* comment', '1:13', "unterminated comment: '/*' is never closed"],
  ['a : s | x @ ;', '1:11', "unexpected character '@'"],
  ['a : s | x ;\na : s | y ;', '2:1', "duplicate logical node 'a' (first defined at 1:1)"],
  ['a : s(10x) | c ;', '1:7', "malformed number '10x'"],
  ['a : s(k=1, 2) | c ;', '1:12', 'positional argument after keyword arguments in s(...)'],
  ['a : s(k=1, k=2) | c ;', '1:12', "duplicate keyword argument 'k' in s(...)"],
  ['a : 5 | c ;', '1:5', "expected a source but found '5'"],
  ['a : "s" | c ;', '1:5', 'expected a source but found "s"'],
  ['a : s | x ) ;', '1:11', "expected ';' but found ')'"],
  ['a : s | x ;;', '1:12', "expected a logical node name but found ';'"],
  ['a : s | console\nb : s | c ;', '2:1', "expected ';' but found 'b'"],
  ['# header\nweb01 : tail("/var/log/app.log")\n      | agentE2ESink("c1", 35853 ;', '3:34', "expected ')' or ',' but found ';'"],
  ['a : s | x ; b : s("x", ', '1:18', "unterminated '(': expected an argument but found end of input"],
];

test(`${MALFORMED.length} malformed specs: each error has its exact line:column and message`, () => {
  for (const [text, where, gist] of MALFORMED) {
    const { errors } = tryParseSpec(text);
    assert.equal(errors.length, 1, `${JSON.stringify(text)} gave ${errors.map((e) => e.message).join(' | ')}`);
    const [line, column] = where.split(':').map(Number);
    assert.equal(errors[0].line, line, text);
    assert.equal(errors[0].column, column, text);
    assert.ok(errors[0].message.startsWith(`${where}: ${gist}`), `${JSON.stringify(text)}: ${errors[0].message}`);
    assert.throws(
      () => parseSpec(text),
      (e: unknown) => e instanceof ValidationError && e.problems[0] instanceof SpecSyntaxError,
    );
  }
});

test('an error carries what was found and what was expected', () => {
  const [e] = tryParseSpec('a : s("x" ;').errors;
  assert.ok(e instanceof SpecSyntaxError);
  assert.equal(e.found, ';');
  assert.deepEqual(e.expected, ["')'", "','"]);
  assert.equal(e.message, "1:11: expected ')' or ',' but found ';'");
  const [eof] = tryParseSpec('a : s | x').errors;
  assert.equal(eof.found, 'end of input');
});

test('a text with 3 independent errors reports all 3, and keeps the good nodes', () => {
  const text = [
    'good1 : null | null ;',
    'bad1 : tail("/var/log/a" | console ;',
    'good2 : null | { batch(10) => null } ;',
    'bad2 : null | [ console, ] ;',
    'bad3 : text("x\\z") | null ;',
    'good3 : null | < a ? b > ;',
  ].join('\n');
  const result = tryParseSpec(text);
  assert.deepEqual(
    result.errors.map((e) => e.message),
    [
      "2:26: expected ')' or ',' but found '|'",
      "4:26: expected a sink but found ']'",
      "5:15: unknown escape '\\z' in string (use \\\\ for a backslash)",
    ],
  );
  assert.deepEqual(
    result.nodes.map((n) => n.name),
    ['good1', 'good2', 'good3'],
  );
  assert.throws(
    () => parseSpec(text),
    (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.equal(e.problems.length, 3);
      assert.match(e.message, /^parsing the spec failed:\n {2}2:26: /);
      return true;
    },
  );
});

test('a repeated node name is an error; the first definition is kept', () => {
  const result = tryParseSpec('a : null | console ;\nb : null | null ;\na : null | null ;');
  assert.deepEqual(
    result.errors.map((e) => e.message),
    ["3:1: duplicate logical node 'a' (first defined at 1:1)"],
  );
  assert.deepEqual(
    result.nodes.map((n) => n.name + ' ' + n.sinkText),
    ['a console', 'b null'],
  );
});

test('a forgotten ";" costs one error, and the next line still parses', () => {
  assert.deepEqual(messagesOf('a : null | console\nb : null | null ;\nc : | x ;'), [
    "2:1: expected ';' but found 'b'",
    "3:5: expected a source but found '|'",
  ]);
});

test('parseSource and parseSink: whole text only, positions within the text', () => {
  assert.deepEqual(strip(parseSink('  { batch(10) => console }  ')), strip(deco(call('batch', num(10)), sink(call('console')))));
  assert.throws(
    () => parseSource('tail("a") | console'),
    (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.equal(e.problems[0].message, "1:11: expected end of input but found '|'");
      return true;
    },
  );
  assert.throws(() => parseSink('[ a,\n  b'), /1:1: unterminated '\[': expected ',' or '\]' but found end of input/);
  assert.throws(() => parseSink(''), /1:1: expected a sink but found end of input/);
  assert.throws(() => parseSource('tail("a\\x")'), /1:8: unknown escape '\\x'/);
});
