/**
 * Canonical text of spec trees: what `getconfigs` shows and what the master stores when it was
 * given a tree rather than text. Whatever these functions print parses back to an equal tree
 * (positions aside). Decorations always print in the braced form `{ d1 => d2 => sink }`.
 */
import type { Arg, Call, Literal, LogicalNodeSpec, SinkSpec } from './ast';

/** A double-quoted string with the escapes the lexer reads back. */
function quoteString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    const code = s.charCodeAt(i);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f || (code >= 0xd800 && code <= 0xdfff && !isPairedSurrogate(s, i))) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}

function isPairedSurrogate(s: string, i: number): boolean {
  const code = s.charCodeAt(i);
  if (code <= 0xdbff) {
    const next = s.charCodeAt(i + 1);
    return next >= 0xdc00 && next <= 0xdfff;
  }
  const prev = s.charCodeAt(i - 1);
  return prev >= 0xd800 && prev <= 0xdbff;
}

/** Numbers print in plain decimal notation (the language has no exponents). */
function formatNumber(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`cannot write ${n} in a spec`);
  const plain = String(n);
  if (!/e/i.test(plain)) return plain;
  if (Number.isInteger(n)) return BigInt(n).toString();
  return n.toFixed(20).replace(/0+$/, '');
}

function formatLiteral(lit: Literal): string {
  switch (lit.kind) {
    case 'string':
      return quoteString(lit.value);
    case 'number':
      return formatNumber(lit.value);
    case 'boolean':
      return lit.value ? 'true' : 'false';
    case 'identifier':
      return lit.value;
  }
}

function formatArg(arg: Arg): string {
  return arg.kind === 'keyword' ? `${arg.name}=${formatLiteral(arg.value)}` : formatLiteral(arg);
}

/** `name` when there are no arguments, else `name(a, b, k=v)`. */
export function formatCall(call: Call): string {
  return call.args.length === 0 ? call.name : `${call.name}(${call.args.map(formatArg).join(', ')})`;
}

export function formatSink(sink: SinkSpec): string {
  switch (sink.kind) {
    case 'sink':
      return formatCall(sink.call);
    case 'decorated': {
      const decorators: string[] = [];
      let inner: SinkSpec = sink;
      while (inner.kind === 'decorated') {
        decorators.push(formatCall(inner.decorator));
        inner = inner.sink;
      }
      return `{ ${decorators.join(' => ')} => ${formatSink(inner)} }`;
    }
    case 'fanout':
      return `[ ${sink.sinks.map(formatSink).join(', ')} ]`;
    case 'failover':
      return `< ${formatSink(sink.primary)} ? ${formatSink(sink.backup)} >`;
    case 'wrapper':
      return `${formatCall(sink.call)} { ${formatSink(sink.body)} }`;
  }
}

/** `name : source | sink ;` */
export function formatNode(node: Pick<LogicalNodeSpec, 'name' | 'source' | 'sink'>): string {
  return `${node.name} : ${formatCall(node.source)} | ${formatSink(node.sink)} ;`;
}
