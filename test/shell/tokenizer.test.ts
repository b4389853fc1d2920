/** The shell's line syntax (quoting, escapes, comments) and its small pure helpers. No master. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ContinuedLines,
  ShellSyntaxError,
  lastWord,
  lineAndColumn,
  quoteLine,
  quoteWord,
  tokenize,
  tokenizeWithColumns,
} from '../../shell/tokenizer';
import { parseAddress, AddressError } from '../../shell/admin-client';
import { nearest } from '../../shell/suggest';

test('bare words split on blanks; blank and comment lines give no words', () => {
  assert.deepEqual(tokenize('  exec   map\tphys1  log1 '), ['exec', 'map', 'phys1', 'log1']);
  assert.deepEqual(tokenize(''), []);
  assert.deepEqual(tokenize('   \t '), []);
  assert.deepEqual(tokenize('# the whole line is a comment'), []);
  assert.deepEqual(tokenize('   #indented comment'), []);
});

test('# starts a comment only at the start of a word, outside quotes', () => {
  assert.deepEqual(tokenize('getmappings phys1 # which ones'), ['getmappings', 'phys1']);
  assert.deepEqual(tokenize('exec config web#1 a b'), ['exec', 'config', 'web#1', 'a', 'b']);
  assert.deepEqual(tokenize(`exec config n 'tail("/a # b")' "x # y"`), ['exec', 'config', 'n', 'tail("/a # b")', 'x # y']);
});

test("'literal strings' keep every character, backslashes included", () => {
  assert.deepEqual(tokenize(`exec config web01 'tail("/var/log/app.log")' 'autoE2EChain'`), [
    'exec',
    'config',
    'web01',
    'tail("/var/log/app.log")',
    'autoE2EChain',
  ]);
  assert.deepEqual(tokenize(String.raw`x 'a\nb\\c "d"'`), ['x', String.raw`a\nb\\c "d"`]);
  assert.deepEqual(tokenize("x 'multi word  spaced'"), ['x', 'multi word  spaced']);
});

test('"escaped strings" take Java escapes', () => {
  assert.deepEqual(tokenize(String.raw`x "a\tb\nc\\d\"e\'f\rg\bh\fi"`), ['x', 'a\tb\nc\\d"e\'f\rg\bh\fi']);
  assert.deepEqual(tokenize(String.raw`x "\u0041\u00e9\uuu0042"`), ['x', 'A\u00e9B']);
  assert.deepEqual(tokenize(String.raw`x "\101\0\7\377\400"`), ['x', 'A\0\x07\xff\x200']);
  assert.deepEqual(tokenize(String.raw`exec config n "tail(\"/var/log/a b.log\")" console`), [
    'exec',
    'config',
    'n',
    'tail("/var/log/a b.log")',
    'console',
  ]);
});

test('quoted and bare parts that touch make one word; empty quotes make an empty word', () => {
  assert.deepEqual(tokenize(`a"b c"'d e'f`), ['ab cd ef']);
  assert.deepEqual(tokenize(`exec config n '' ""`), ['exec', 'config', 'n', '', '']);
});

test('an unterminated quote is an error naming the column where it opened', () => {
  assertSyntaxError(() => tokenize(`exec config n 'tail("/x")`), 15, /unterminated 'literal string'/);
  assertSyntaxError(() => tokenize('exec multiconfig "a : b | c;'), 18, /unterminated "escaped string"/);
  assertSyntaxError(() => tokenize('x "ends in backslash\\'), 3, /unterminated "escaped string"/);
});

test('a bad escape is an error naming its column', () => {
  assertSyntaxError(() => tokenize(String.raw`x "a\qb"`), 5, /bad escape \\q/);
  assertSyntaxError(() => tokenize(String.raw`x "\u12g4"`), 4, /unicode escape/);
});

test('tokens carry the column where they start', () => {
  assert.deepEqual(tokenizeWithColumns(`  ab 'c d'  e`), [
    { text: 'ab', column: 3 },
    { text: 'c d', column: 6 },
    { text: 'e', column: 13 },
  ]);
});

test('quoteWord writes any word so that tokenize reads it back unchanged', () => {
  assert.equal(quoteWord('web01'), 'web01');
  assert.equal(quoteWord('tail("/x")'), `'tail("/x")'`);
  assert.equal(quoteWord(''), "''");
  assert.equal(quoteWord("it's"), `"it's"`);
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary' }), { maxLength: 6 }), (words) => {
      assert.deepEqual(tokenize(quoteLine(words)), words);
    }),
    { numRuns: 500 },
  );
});

test('lastWord finds the word being typed, empty after a blank', () => {
  assert.deepEqual(lastWord('exec co'), { start: 5, text: 'co' });
  assert.deepEqual(lastWord('exec '), { start: 5, text: '' });
  assert.deepEqual(lastWord(''), { start: 0, text: '' });
});

test('master addresses: default port 35873, IPv6 in brackets, clear errors', () => {
  assert.deepEqual(parseAddress('master1'), { host: 'master1', port: 35873 });
  assert.deepEqual(parseAddress('127.0.0.1:4000'), { host: '127.0.0.1', port: 4000 });
  assert.deepEqual(parseAddress('[::1]:4000'), { host: '::1', port: 4000 });
  assert.deepEqual(parseAddress('[::1]'), { host: '::1', port: 35873 });
  assert.deepEqual(parseAddress('::1'), { host: '::1', port: 35873 });
  assert.deepEqual(parseAddress('master1:4000:4001'), { host: 'master1', port: 4000 }, "OG's host:adminport:reportport");
  assert.throws(
    () => parseAddress('host:abc'),
    (e: unknown) => e instanceof AddressError && /port 'abc' is not a number/.test(e.message),
  );
  assert.throws(() => parseAddress('host:70000'), /out of range/);
  assert.throws(() => parseAddress(':4000'), /no host/);
});

test('nearest suggests the closest command name, or nothing when none is close', () => {
  const names = ['getnodestatus', 'getconfigs', 'getmappings', 'waitForNodesActive', 'waitForNodesDone', 'quit', 'exec'];
  assert.equal(nearest('getnodestatu', names), 'getnodestatus');
  assert.equal(nearest('getconfig', names), 'getconfigs');
  assert.equal(nearest('waitfornodesdone', names), 'waitForNodesDone');
  assert.equal(nearest('qiut', names), 'quit');
  assert.equal(nearest('xyzzy', names), undefined);
});

test('a trailing backslash continues a command on the next line, as a newline', () => {
  const joined = new ContinuedLines();
  assert.equal(joined.push(`exec multiconfig 'a : syslogTcp(1) | null ; \\`), undefined);
  assert.ok(joined.pending);
  assert.equal(joined.push(`  b : syslogTcp(2) | console ;' \\`), undefined);
  const command = joined.push('# done');
  assert.equal(joined.pending, false);
  assert.deepEqual(tokenize(command!), ['exec', 'multiconfig', 'a : syslogTcp(1) | null ; \n  b : syslogTcp(2) | console ;']);
  assert.equal(joined.push('getconfigs'), 'getconfigs');
  assert.equal(joined.push('x \\'), undefined);
  assert.equal(joined.flush(), 'x ', 'end of input ends a continued command');
  assert.equal(joined.flush(), undefined);
});

test('lineAndColumn places a column of a continued command on its physical line', () => {
  assert.deepEqual(lineAndColumn('abc', 2), { lineOffset: 0, column: 2 });
  assert.deepEqual(lineAndColumn('ab\ncd\nef', 8), { lineOffset: 2, column: 2 });
  assert.deepEqual(lineAndColumn('ab\ncd', 4), { lineOffset: 1, column: 1 });
});

function assertSyntaxError(fn: () => unknown, column: number, reason: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ShellSyntaxError, `expected a ShellSyntaxError, got ${String(e)}`);
    assert.equal(e.column, column);
    assert.match(e.reason, reason);
    return true;
  });
}
