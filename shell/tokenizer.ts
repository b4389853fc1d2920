/**
 * Splits one shell line into words, the way Flume OG's shell did:
 *
 * - words are separated by blanks (space, tab);
 * - `"escaped strings"` take Java escapes: `\b \t \n \f \r \" \' \\`, octal `\0`–`\377`
 *   and `\uXXXX`; any other escape is an error;
 * - `'literal strings'` take every character as is, up to the next `'`;
 * - quoted and bare parts that touch make one word (`a"b c"` is `ab c`), so an empty
 *   argument is written `''` or `""`;
 * - `#` at the start of a word (outside quotes) starts a comment that runs to the end of the
 *   line; inside a word it is an ordinary character;
 * - a line ending in a backslash continues on the next one (`ContinuedLines`): the backslash
 *   becomes a newline, a blank between words or a newline inside a quoted string (a long
 *   `exec multiconfig` spec over several lines).
 *
 * Errors name the 1-based column where the problem starts. `quoteWord` is the inverse: it
 * writes a word so that `tokenize` gives it back unchanged.
 */
import { status } from '@grpc/grpc-js';
import { FlumeError } from '../core/errors';

export class ShellSyntaxError extends FlumeError {
  override readonly grpcCode = status.INVALID_ARGUMENT;
  constructor(
    readonly reason: string,
    readonly column: number,
  ) {
    super(`column ${column}: ${reason}`);
  }
}

/** A word and the 1-based column where it starts (for completion and error messages). */
export interface Token {
  text: string;
  column: number;
}

const BLANK = /[ \t\r\n]/;

const SIMPLE_ESCAPES: Record<string, string> = {
  b: '\b',
  t: '\t',
  n: '\n',
  f: '\f',
  r: '\r',
  '"': '"',
  "'": "'",
  '\\': '\\',
};

/** The words of `line` (comment and blanks dropped). Throws `ShellSyntaxError`. */
export function tokenize(line: string): string[] {
  return tokenizeWithColumns(line).map((t) => t.text);
}

export function tokenizeWithColumns(line: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && BLANK.test(line[i])) i++;
    if (i >= n) break;
    if (line[i] === '#') break;
    const start = i;
    let text = '';
    while (i < n && !BLANK.test(line[i])) {
      const c = line[i];
      if (c === "'") {
        const close = line.indexOf("'", i + 1);
        if (close < 0) throw new ShellSyntaxError("unterminated 'literal string' (no closing ')", i + 1);
        text += line.slice(i + 1, close);
        i = close + 1;
      } else if (c === '"') {
        const [value, next] = readEscaped(line, i);
        text += value;
        i = next;
      } else {
        text += c;
        i++;
      }
    }
    tokens.push({ text, column: start + 1 });
  }
  return tokens;
}

/** Reads the "escaped string" opening at `open`; returns its value and the index after it. */
function readEscaped(line: string, open: number): [string, number] {
  let value = '';
  let i = open + 1;
  for (;;) {
    if (i >= line.length) throw new ShellSyntaxError('unterminated "escaped string" (no closing ")', open + 1);
    const c = line[i];
    if (c === '"') return [value, i + 1];
    if (c !== '\\') {
      value += c;
      i++;
      continue;
    }
    const e = line[i + 1];
    if (e === undefined) throw new ShellSyntaxError('unterminated "escaped string" (no closing ")', open + 1);
    if (e in SIMPLE_ESCAPES) {
      value += SIMPLE_ESCAPES[e];
      i += 2;
    } else if (e === 'u') {
      // Java allows several u's: \uuuu0041.
      let j = i + 1;
      while (line[j] === 'u') j++;
      const hex = line.slice(j, j + 4);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
        throw new ShellSyntaxError('bad unicode escape: \\u must be followed by 4 hex digits', i + 1);
      }
      value += String.fromCharCode(parseInt(hex, 16));
      i = j + 4;
    } else if (e >= '0' && e <= '7') {
      // Java octal escape: up to three digits, at most \377.
      const max = e <= '3' ? 3 : 2;
      let j = i + 1;
      while (j < i + 1 + max && line[j] >= '0' && line[j] <= '7') j++;
      value += String.fromCharCode(parseInt(line.slice(i + 1, j), 8));
      i = j;
    } else {
      throw new ShellSyntaxError(`bad escape \\${e} (use \\\\ for a backslash, or a 'literal string')`, i + 1);
    }
  }
}

const SAFE_WORD = /^[A-Za-z0-9_\-.,:/@%+=()[\]{}<>?|;!*~^$&]+$/;

/** Writes `word` so that `tokenize` reads it back as one word equal to `word`. */
export function quoteWord(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  if (!word.includes("'")) return `'${word}'`;
  let out = '"';
  for (const c of word) {
    if (c === '"' || c === '\\') out += '\\' + c;
    else if (c === '\n') out += '\\n';
    else if (c === '\t') out += '\\t';
    else if (c === '\r') out += '\\r';
    else out += c;
  }
  return out + '"';
}

/** A command and its arguments written back as one line. */
export function quoteLine(words: readonly string[]): string {
  return words.map(quoteWord).join(' ');
}

/**
 * The word being typed at the end of `line`, for completion: its start index and its text
 * so far (quotes included as typed). A line ending in a blank is starting a new, empty word.
 */
export function lastWord(line: string): { start: number; text: string } {
  let i = line.length;
  while (i > 0 && !BLANK.test(line[i - 1])) i--;
  return { start: i, text: line.slice(i) };
}

/**
 * Joins physical lines into commands: a line whose last character is a backslash continues
 * on the next line. Feed lines in order with `push`; it returns each complete command.
 */
export class ContinuedLines {
  private parts: string[] = [];

  /** True while a command is continued and waits for its next line. */
  get pending(): boolean {
    return this.parts.length > 0;
  }

  /** The complete command once `line` ends it, else undefined (more lines to come). */
  push(line: string): string | undefined {
    if (line.endsWith('\\')) {
      this.parts.push(line.slice(0, -1));
      return undefined;
    }
    this.parts.push(line);
    return this.flush();
  }

  /** What was gathered so far as one command (end of input after a trailing backslash). */
  flush(): string | undefined {
    if (this.parts.length === 0) return undefined;
    const text = this.parts.join('\n');
    this.parts = [];
    return text;
  }
}

/** A 1-based column of a (possibly multi-line) command as a line offset and column. */
export function lineAndColumn(text: string, column: number): { lineOffset: number; column: number } {
  const before = text.slice(0, column - 1);
  const lastNewline = before.lastIndexOf('\n');
  return { lineOffset: before.split('\n').length - 1, column: column - 1 - lastNewline };
}
