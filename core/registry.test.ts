import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry, ResolvedArgs, SpecProblem, validateNode, type SinkDef, type SourceDef, type DecoratorDef } from './registry';
import { parseSpec } from './spec/parser';
import type { Sink } from './component';

const dummySink = (): Sink => ({ open: async () => {}, append: async () => {}, close: async () => {} });

const textSink: SinkDef = {
  kind: 'sink',
  name: 'text',
  doc: 'd',
  create: dummySink,
  args: [
    { name: 'file', type: 'string', required: true, doc: 'file' },
    { name: 'format', type: 'identifier', default: 'raw', oneOf: ['raw', 'json'], doc: 'fmt' },
  ],
};
const consoleSink: SinkDef = { kind: 'sink', name: 'console', aliases: ['stdout'], doc: 'd', args: [], create: dummySink };
const tailSource: SourceDef = {
  kind: 'source',
  name: 'tail',
  doc: 'd',
  create: () => ({ open: async () => {}, close: async () => {} }),
  args: [
    { name: 'file', type: 'string', required: true, doc: 'file' },
    { name: 'startFromEnd', type: 'boolean', default: false, doc: 'x' },
  ],
};
const batchDeco: DecoratorDef = {
  kind: 'decorator',
  name: 'batch',
  doc: 'd',
  create: (_a, _c, inner) => inner,
  args: [{ name: 'n', type: 'number', required: true, doc: 'n', check: (v) => ((v as number) > 0 ? null : 'must be positive') }],
};
const maskDeco: DecoratorDef = {
  kind: 'decorator',
  name: 'mask',
  doc: 'd',
  create: (_a, _c, inner) => inner,
  args: [{ name: 'attrs', type: 'string', rest: true, doc: 'names' }],
};

function registry(): Registry {
  return new Registry().registerAll([textSink, consoleSink, tailSource, batchDeco, maskDeco]);
}

function problems(text: string): SpecProblem[] {
  const [node] = parseSpec(text);
  return validateNode(registry(), node);
}

test('an unknown sink is an error listing the known sinks, at its position', () => {
  const p = problems('n1 : tail("/f") | consle ;');
  assert.equal(p.length, 1);
  assert.equal(p[0].line, 1);
  assert.equal(p[0].column, 19);
  assert.match(p[0].message, /unknown sink consle; known sinks: console, text/);
});

test('an unknown source lists the known sources; a decorator used as a sink says how to write it', () => {
  const p = problems('n1 : tial("/f") | batch(10) ;');
  assert.equal(p.length, 2);
  assert.match(p[0].message, /^1:6: unknown source tial; known sources: tail$/);
  assert.match(p[1].message, /unknown sink batch \(batch is a decorator; write \{ batch\(\.\.\.\) => sink \}\)/);
});

test('a bad argument is named with its line and column, and every problem is reported at once', () => {
  const p = problems('n1 : tail(42, startFromEnd="maybe") |\n  { batch(-1) => text("/x", yaml) } ;');
  assert.deepEqual(
    p.map((x) => [x.line, x.column, x.argument]),
    [
      [1, 11, 'file'],
      [1, 28, 'startFromEnd'],
      [2, 11, 'n'],
      [2, 29, 'format'],
    ],
  );
  assert.match(p[0].message, /tail: argument file must be a string, found number 42/);
  assert.match(p[1].message, /argument startFromEnd must be a boolean, found string "maybe"/);
  assert.match(p[2].message, /batch: argument n must be positive/);
  assert.match(p[3].message, /argument format must be one of raw, json, found identifier yaml/);
});

test('missing, extra and unknown keyword arguments', () => {
  const p = problems('n1 : tail | text("/a", raw, 3, bogus=1) ;');
  assert.equal(p.length, 3);
  assert.match(p[0].message, /^1:6: tail: missing required argument file/);
  assert.match(
    p[1].message,
    /text: too many arguments: argument 3 is not expected; usage: text\(file: string, format: raw\|json = "raw"\)/,
  );
  assert.match(p[2].message, /text: unknown argument bogus; text takes file, format/);
});

test('resolveArgs applies defaults, coerces numbers and booleans, collects rest arguments', () => {
  const r = registry();
  const [node] = parseSpec('n1 : tail("/f", "true") | { mask("a", "b", c) => stdout } ;');
  const src = r.resolveArgs(tailSource, node.source);
  assert.ok(src instanceof ResolvedArgs);
  assert.equal(src.string('file'), '/f');
  assert.equal(src.boolean('startFromEnd'), true);
  assert.ok(node.sink.kind === 'decorated');
  const mask = r.resolveArgs(maskDeco, node.sink.decorator);
  assert.ok(mask instanceof ResolvedArgs);
  assert.deepEqual(mask.list('attrs'), ['a', 'b', 'c']);
  assert.equal(r.lookup('sink', 'stdout'), consoleSink);
  assert.equal(problems('n1 : tail("/f") | { batch("100") => text("/x") } ;').length, 0);
});

test('registering a name twice in one kind fails; the same name in two kinds is fine', () => {
  const r = registry();
  assert.throws(() => r.register({ ...consoleSink, name: 'text2', aliases: ['console'] }), /console is already registered/);
  r.register({ ...tailSource, name: 'text' });
  assert.equal(r.lookup('source', 'text')?.kind, 'source');
  assert.equal(r.lookup('sink', 'text')?.kind, 'sink');
});
