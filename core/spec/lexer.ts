/**
 * The tokens of the dataflow spec language.
 *
 *   word        [A-Za-z0-9_.-]+ ; a word that reads as `-?digits(.digits)?` is a number,
 *               any other word an identifier (`true`/`false` are identifiers here; the parser
 *               makes them booleans where a value is expected)
 *   string      "..." with Java escapes (\" \\ \' \n \t \r \b \f \uXXXX), or '...' taken
 *               literally; neither may span lines
 *   punctuation : | ; ( ) , { } [ ] < > ? = =>
 *   comments    # to the end of the line, and /* ... *\/
 *
 * The lexer never throws: a malformed token (unterminated string or comment, unknown escape,
 * stray character) becomes an `error` token and a {@link SpecSyntaxError}, so that the parser
 * can go on and report every problem of a text at once. Positions are 1-based; columns count
 * UTF-16 code units, a tab counts as one.
 */
import { SpecSyntaxError } from '../errors';

export type TokenKind =
  | 'ident'
  | 'number'
  | 'string'
  | ':'
  | '|'
  | ';'
  | '('
  | ')'
  | ','
  | '{'
  | '}'
  | '['
  | ']'
  | '<'
  | '>'
  | '?'
  | '='
  | '=>'
  | 'error'
  | 'eof';

export interface Token {
  kind: TokenKind;
  /** The exact input text of the token (with quotes, for strings). */
  text: string;
  /** The decoded value of a string token; the text for any other. */
  value: string;
  /** Offsets into the input: [start, end). */
  start: number;
  end: number;
  line: number;
  column: number;
  /** True when no other token precedes this one on its line (used by error recovery). */
  firstOnLine: boolean;
}

const PUNCTUATION = new Set(':|;(),{}[]<>?');
const NUMBER_RE = /^-?[0-9]+(\.[0-9]+)?$/;
const SIMPLE_ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  "'": "'",
  n: '\n',
  t: '\t',
  r: '\r',
  b: '\b',
  f: '\f',
};

function isWordChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x5f || // _
    c === 0x2e || // .
    c === 0x2d // -
  );
}

function isHex(c: string): boolean {
  return /^[0-9a-fA-F]$/.test(c);
}

/** Describes a character for a message: `'@'`, `a tab`, `U+00A0`. */
function describeChar(ch: string): string {
  if (ch === '\t') return 'a tab';
  const code = ch.codePointAt(0) ?? 0;
  if (code < 0x20 || (code >= 0x7f && code <= 0xa0)) return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return `'${ch}'`;
}

export interface LexResult {
  tokens: Token[];
  errors: SpecSyntaxError[];
}

/** Splits `input` into tokens; the last token is always `eof`. */
export function tokenize(input: string): LexResult {
  const tokens: Token[] = [];
  const errors: SpecSyntaxError[] = [];
  let pos = 0;
  let line = 1;
  let lineStart = 0;
  let lastTokenLine = 0;
  const n = input.length;

  const push = (kind: TokenKind, start: number, startLine: number, startCol: number, value?: string): void => {
    const text = input.slice(start, pos);
    tokens.push({
      kind,
      text,
      value: value ?? text,
      start,
      end: pos,
      line: startLine,
      column: startCol,
      firstOnLine: lastTokenLine !== startLine,
    });
    lastTokenLine = startLine;
  };
  const error = (message: string, l: number, c: number, found: string, expected: string[] = []): void => {
    errors.push(new SpecSyntaxError(message, l, c, found, expected));
  };

  while (pos < n) {
    const ch = input[pos];
    const code = input.charCodeAt(pos);
    if (ch === '\n') {
      pos++;
      line++;
      lineStart = pos;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\f' || ch === '\v') {
      pos++;
      continue;
    }
    const startLine = line;
    const startCol = pos - lineStart + 1;
    const start = pos;
    if (ch === '#') {
      while (pos < n && input[pos] !== '\n') pos++;
      continue;
    }
    if (ch === '/' && input[pos + 1] === '*') {
      const close = input.indexOf('*/', pos + 2);
      const end = close < 0 ? n : close + 2;
      for (let i = pos; i < end; i++) {
        if (input[i] === '\n') {
          line++;
          lineStart = i + 1;
        }
      }
      pos = end;
      if (close < 0) {
        error("unterminated comment: '/*' is never closed", startLine, startCol, 'end of input', ["'*/'"]);
        push('error', start, startLine, startCol);
      }
      continue;
    }
    if (isWordChar(code)) {
      while (pos < n && isWordChar(input.charCodeAt(pos))) pos++;
      const text = input.slice(start, pos);
      push(NUMBER_RE.test(text) ? 'number' : 'ident', start, startLine, startCol);
      continue;
    }
    if (ch === '"' || ch === "'") {
      const result = ch === '"' ? scanDoubleQuoted(input, pos, startLine, lineStart) : scanSingleQuoted(input, pos);
      pos = result.end;
      for (const e of result.errors) errors.push(e);
      if (result.unterminated) {
        error(`unterminated string: ${ch} is never closed on its line`, startLine, startCol, 'end of line', [ch]);
        push('error', start, startLine, startCol);
      } else if (result.errors.length > 0) {
        push('error', start, startLine, startCol);
      } else {
        push('string', start, startLine, startCol, result.value);
      }
      continue;
    }
    if (ch === '=') {
      pos += input[pos + 1] === '>' ? 2 : 1;
      push(pos - start === 2 ? '=>' : '=', start, startLine, startCol);
      continue;
    }
    if (PUNCTUATION.has(ch)) {
      pos++;
      push(ch as TokenKind, start, startLine, startCol);
      continue;
    }
    const cp = input.codePointAt(pos) ?? code;
    const whole = String.fromCodePoint(cp);
    pos += whole.length;
    error(`unexpected character ${describeChar(whole)}`, startLine, startCol, whole);
    push('error', start, startLine, startCol);
  }
  const eofCol = pos - lineStart + 1;
  tokens.push({
    kind: 'eof',
    text: '',
    value: '',
    start: n,
    end: n,
    line,
    column: eofCol,
    firstOnLine: lastTokenLine !== line,
  });
  return { tokens, errors };
}

interface ScanResult {
  end: number;
  value: string;
  unterminated: boolean;
  errors: SpecSyntaxError[];
}

function scanSingleQuoted(input: string, open: number): ScanResult {
  let pos = open + 1;
  while (pos < input.length && input[pos] !== "'" && input[pos] !== '\n') pos++;
  if (pos >= input.length || input[pos] === '\n') return { end: pos, value: '', unterminated: true, errors: [] };
  return { end: pos + 1, value: input.slice(open + 1, pos), unterminated: false, errors: [] };
}

function scanDoubleQuoted(input: string, open: number, line: number, lineStart: number): ScanResult {
  const errors: SpecSyntaxError[] = [];
  let value = '';
  let pos = open + 1;
  let runStart = pos;
  while (pos < input.length) {
    const ch = input[pos];
    if (ch === '"') {
      value += input.slice(runStart, pos);
      return { end: pos + 1, value, unterminated: false, errors };
    }
    if (ch === '\n') break;
    if (ch !== '\\') {
      pos++;
      continue;
    }
    value += input.slice(runStart, pos);
    const col = pos - lineStart + 1;
    const next = input[pos + 1];
    if (next === undefined || next === '\n') {
      pos++;
      break;
    }
    if (next in SIMPLE_ESCAPES) {
      value += SIMPLE_ESCAPES[next];
      pos += 2;
    } else if (next === 'u') {
      const hex = input.slice(pos + 2, pos + 6);
      if (hex.length === 4 && [...hex].every(isHex)) {
        value += String.fromCharCode(parseInt(hex, 16));
        pos += 6;
      } else {
        errors.push(
          new SpecSyntaxError(
            `malformed unicode escape: '\\u' must be followed by 4 hex digits`,
            line,
            col,
            `\\u${hex.replace(/[^0-9a-fA-F].*$/s, '')}`,
            ['4 hex digits'],
          ),
        );
        pos += 2;
      }
    } else {
      errors.push(
        new SpecSyntaxError(`unknown escape '\\${next}' in string (use \\\\ for a backslash)`, line, col, `\\${next}`, [
          '\\"',
          '\\\\',
          "\\'",
          '\\n',
          '\\t',
          '\\r',
          '\\b',
          '\\f',
          '\\uXXXX',
        ]),
      );
      pos += 2;
    }
    runStart = pos;
  }
  return { end: pos, value, unterminated: true, errors };
}
