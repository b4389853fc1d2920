/**
 * A recursive-descent parser of Flume OG's dataflow spec language, producing the tree of
 * `./ast.ts`. Grammar (`{...}` below is literal where quoted):
 *
 *   text      := node*
 *   node      := word ':' call '|' sink ';'
 *   call      := ident [ '(' [ arg (',' arg)* ] ')' ]
 *   arg       := literal | ident '=' literal          (keywords after positionals)
 *   literal   := string | number | 'true' | 'false' | ident
 *   sink      := '[' sink (',' sink)* ']'                              fan-out
 *              | '<' sink '?' sink '>'                                 failover
 *              | '{' chain '}'                                         decorated
 *              | call '{' sink '}'                                     wrapper (roll, collector)
 *              | call sink                                             decorated, brace-less
 *              | call                                                  plain sink
 *   chain     := sink '=>' (chain | sink)      the left of '=>' must be calls only: `d1 d2 => s`
 *
 * `word` is an identifier or a number (host names such as `10.0.0.1` name nodes); a call name
 * starts with a letter or '_'.
 *
 * Errors: every problem becomes a {@link SpecSyntaxError}; after one, the parser skips to the
 * next ';' (or to a line that starts with `name :`) and goes on, so a text reports all of its
 * problems at once, in a {@link ValidationError}, sorted by position.
 *
 * Depth: a sink tree deeper than {@link MAX_SPEC_DEPTH} (brackets, braces, wrappers and each
 * decorator count one level) is a SpecSyntaxError at the token that goes one level too deep. The
 * parser recurses once per level and every consumer of the tree (validation, the node's builder,
 * the printer) walks it recursively too, so this bound is what keeps a hostile spec of
 * `[[[[...` from overflowing the stack anywhere; a `=>` chain is read in a loop for the same
 * reason. No real flow comes near it.
 */
import { SpecSyntaxError, ValidationError } from '../errors';
import type { Arg, Call, Literal, LogicalNodeSpec, Pos, SinkSpec } from './ast';
import { tokenize, type Token, type TokenKind } from './lexer';

/** What `ValidationError.what` says for a spec: "parsing the spec failed: ...". */
const WHAT = 'parsing the spec';

/** Thrown inside the parser to unwind to the recovery point; the error is already recorded. */
class Bail {}

/** The deepest sink tree the parser builds; see the module comment. */
export const MAX_SPEC_DEPTH = 100;

const NUMBER_LIKE = /^[-.0-9]/;
const CALL_NAME = /^[A-Za-z_]/;

function quote(kind: string): string {
  return `'${kind}'`;
}

function listOf(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** How a token reads in a message. */
function describe(t: Token): string {
  if (t.kind === 'eof') return 'end of input';
  const text = t.text.length > 40 ? `${t.text.slice(0, 37)}...` : t.text;
  return t.kind === 'string' ? text : `'${text}'`;
}

function posOf(t: Token): Pos {
  return { line: t.line, column: t.column };
}

class Parser {
  private i = 0;
  /** The brackets open at the current token, innermost last: where "unterminated" points. */
  private openers: Token[] = [];
  /** Tree depth of the sink being parsed. */
  private depth = 0;
  readonly errors: SpecSyntaxError[] = [];

  constructor(
    private readonly input: string,
    private readonly tokens: Token[],
  ) {}

  // ---- token access ----

  private peek(k = 0): Token {
    return this.tokens[Math.min(this.i + k, this.tokens.length - 1)];
  }

  private next(): Token {
    const t = this.tokens[this.i];
    if (t.kind !== 'eof') this.i++;
    return t;
  }

  private at(kind: TokenKind): boolean {
    return this.peek().kind === kind;
  }

  /** End offset of the last token consumed. */
  private get prevEnd(): number {
    return this.i === 0 ? 0 : this.tokens[this.i - 1].end;
  }

  // ---- errors ----

  /** Records a problem without stopping. */
  private report(message: string, at: Pos, found: string, expected: string[] = []): void {
    this.errors.push(new SpecSyntaxError(message, at.line, at.column, found, expected));
  }

  /**
   * Records "expected X but found Y" at the current token and unwinds. When the input ends
   * inside a bracket, the error points at the innermost bracket, which is never closed. An
   * `error` token was already reported by the lexer and is not reported again.
   */
  private fail(expected: string[]): never {
    const t = this.peek();
    if (t.kind !== 'error') {
      const found = t.kind === 'eof' ? 'end of input' : t.text;
      const gist = `expected ${listOf(expected)} but found ${describe(t)}`;
      const opener = this.openers[this.openers.length - 1];
      if (opener && t.kind === 'eof') {
        this.report(`unterminated '${opener.text}': ${gist}`, posOf(opener), found, expected);
      } else {
        this.report(gist, posOf(t), found, expected);
      }
    }
    throw new Bail();
  }

  private expect(kind: TokenKind): Token {
    if (!this.at(kind)) this.fail([quote(kind)]);
    return this.next();
  }

  /** Consumes an opening bracket and remembers it until {@link close}. */
  private open(): Token {
    const t = this.next();
    this.openers.push(t);
    return t;
  }

  private close(kind: TokenKind): void {
    this.expect(kind);
    this.openers.pop();
  }

  /**
   * Skips what is left of a broken node: up to and including the next ';', or up to a line
   * that starts with `name :` (a forgotten ';'). Always moves past `from`.
   */
  private recover(from: number): void {
    while (!this.at('eof')) {
      const t = this.peek();
      if (t.kind === ';') {
        this.next();
        return;
      }
      if (this.i > from && t.firstOnLine && (t.kind === 'ident' || t.kind === 'number') && this.peek(1).kind === ':') return;
      this.next();
    }
  }

  // ---- entry points ----

  parseText(): LogicalNodeSpec[] {
    const nodes: LogicalNodeSpec[] = [];
    while (!this.at('eof')) {
      const start = this.i;
      this.openers = [];
      this.depth = 0;
      try {
        nodes.push(this.parseNode());
      } catch (e) {
        if (!(e instanceof Bail)) throw e;
        this.recover(start);
      }
    }
    // A name defined twice: the first definition stands, each later one is an error.
    const seen = new Map<string, LogicalNodeSpec>();
    for (const node of nodes) {
      const first = seen.get(node.name);
      if (first) {
        this.report(
          `duplicate logical node '${node.name}' (first defined at ${first.pos.line}:${first.pos.column})`,
          node.pos,
          node.name,
          [],
        );
      } else {
        seen.set(node.name, node);
      }
    }
    return [...seen.values()];
  }

  /** Parses the whole input as one thing (a source or a sink), or records why not. */
  parseWhole<T>(part: () => T): T | undefined {
    try {
      const result = part();
      if (!this.at('eof')) this.fail(['end of input']);
      return result;
    } catch (e) {
      if (!(e instanceof Bail)) throw e;
      return undefined;
    }
  }

  // ---- grammar ----

  private parseNode(): LogicalNodeSpec {
    const nameTok = this.peek();
    if (nameTok.kind !== 'ident' && nameTok.kind !== 'number') this.fail(['a logical node name']);
    this.next();
    this.expect(':');
    const sourceStart = this.peek().start;
    const source = this.parseCall('a source');
    const sourceText = this.input.slice(sourceStart, this.prevEnd).trim();
    if (!this.at('|')) this.fail(["'|'"]);
    this.next();
    const sinkStart = this.peek().start;
    const sink = this.parseSink();
    const sinkText = this.input.slice(sinkStart, this.prevEnd).trim();
    this.expect(';');
    return { name: nameTok.text, source, sink, pos: posOf(nameTok), sourceText, sinkText };
  }

  parseCall(what: string): Call {
    const nameTok = this.peek();
    if (nameTok.kind !== 'ident' || !CALL_NAME.test(nameTok.text)) this.fail([what]);
    this.next();
    const call: Call = { name: nameTok.text, args: [], pos: posOf(nameTok) };
    if (!this.at('(')) return call;
    this.open();
    if (this.at(')')) {
      this.close(')');
      return call;
    }
    const keywords = new Set<string>();
    for (;;) {
      const arg = this.parseArg();
      if (arg.kind === 'keyword') {
        if (keywords.has(arg.name)) {
          this.report(`duplicate keyword argument '${arg.name}' in ${call.name}(...)`, arg.pos, arg.name);
        }
        keywords.add(arg.name);
      } else if (keywords.size > 0) {
        this.report(`positional argument after keyword arguments in ${call.name}(...)`, arg.pos, String(arg.value), ['a keyword argument']);
      }
      call.args.push(arg);
      if (this.at(',')) {
        this.next();
        continue;
      }
      if (this.at(')')) {
        this.close(')');
        return call;
      }
      this.fail(["')'", "','"]);
    }
  }

  private parseArg(): Arg {
    const t = this.peek();
    if (t.kind === 'ident' && this.peek(1).kind === '=') {
      if (!CALL_NAME.test(t.text)) this.fail(['an argument']);
      this.next();
      this.next();
      const value = this.parseLiteral('a value');
      return { kind: 'keyword', name: t.text, value, pos: posOf(t) };
    }
    return this.parseLiteral('an argument');
  }

  private parseLiteral(what: string): Literal {
    const t = this.peek();
    const pos = posOf(t);
    switch (t.kind) {
      case 'string':
        this.next();
        return { kind: 'string', value: t.value, pos };
      case 'number':
        this.next();
        return { kind: 'number', value: Number(t.text), pos };
      case 'ident':
        if (NUMBER_LIKE.test(t.text)) {
          this.report(`malformed number '${t.text}'`, pos, t.text, ['a number such as 10, -3 or 2.5']);
          throw new Bail();
        }
        this.next();
        if (t.text === 'true' || t.text === 'false') return { kind: 'boolean', value: t.text === 'true', pos };
        return { kind: 'identifier', value: t.text, pos };
      default:
        this.fail([what]);
    }
  }

  /**
   * True when the current token can begin a sink. A word that starts a line and is followed by
   * ':' begins the next node (the ';' before it was forgotten), not a decorated sink.
   */
  private startsSink(): boolean {
    const t = this.peek();
    if (t.kind === '[' || t.kind === '<' || t.kind === '{') return true;
    return t.kind === 'ident' && CALL_NAME.test(t.text) && !(t.firstOnLine && this.peek(1).kind === ':');
  }

  parseSink(): SinkSpec {
    const t = this.peek();
    if (this.depth >= MAX_SPEC_DEPTH) {
      this.report(`sinks nested deeper than ${MAX_SPEC_DEPTH} levels (the limit)`, posOf(t), describe(t), []);
      throw new Bail();
    }
    this.depth++;
    try {
      return this.parseSinkAt(t);
    } finally {
      this.depth--;
    }
  }

  private parseSinkAt(t: Token): SinkSpec {
    switch (t.kind) {
      case '[': {
        const open = this.open();
        const sinks: SinkSpec[] = [];
        for (;;) {
          sinks.push(this.parseSink());
          if (this.at(',')) {
            this.next();
            continue;
          }
          if (this.at(']')) {
            this.close(']');
            return { kind: 'fanout', sinks, pos: posOf(open) };
          }
          this.fail(["','", "']'"]);
        }
      }
      case '<': {
        const open = this.open();
        const primary = this.parseSink();
        this.expect('?');
        const backup = this.parseSink();
        this.close('>');
        return { kind: 'failover', primary, backup, pos: posOf(open) };
      }
      case '{': {
        const open = this.open();
        const sink = this.parseChain(open, true);
        this.close('}');
        return sink;
      }
      case 'ident': {
        if (!CALL_NAME.test(t.text)) break;
        const call = this.parseCall('a sink');
        if (this.at('{')) {
          this.open();
          const body = this.parseSink();
          this.close('}');
          return { kind: 'wrapper', call, body, pos: call.pos };
        }
        if (this.startsSink()) {
          return { kind: 'decorated', decorator: call, sink: this.parseSink(), pos: call.pos };
        }
        return { kind: 'sink', call, pos: call.pos };
      }
      default:
        break;
    }
    this.fail(['a sink']);
  }

  /**
   * The inside of `{ d1 => d2 => sink }`, read in a loop (a chain of thousands of decorators must
   * not recurse); `first` requires at least one '=>'. Each decorator is one level of the tree, so
   * the sinks after it are parsed one level deeper.
   */
  private parseChain(open: Token, first: boolean): SinkSpec {
    const base = this.depth;
    const decorators: Call[] = [];
    let sink: SinkSpec;
    try {
      for (;;) {
        const left = this.parseSink();
        if (!this.at('=>')) {
          if (first && decorators.length === 0) this.fail(["'=>'"]);
          sink = left;
          break;
        }
        const chain = decoratorChain(left);
        if (!chain) {
          this.report(`expected a decorator before '=>' but found a ${left.kind} sink`, left.pos, left.kind, ['a decorator']);
          throw new Bail();
        }
        decorators.push(...chain);
        this.depth = base + decorators.length;
        this.next();
        if (!this.startsSink()) this.fail(["a sink after '=>'"]);
      }
    } finally {
      this.depth = base;
    }
    for (let k = decorators.length - 1; k >= 0; k--) {
      const pos = k === 0 && first ? posOf(open) : decorators[k].pos;
      sink = { kind: 'decorated', decorator: decorators[k], sink, pos };
    }
    return sink;
  }
}

/** The calls of `d1 d2 d3` read as a sink (nested brace-less decorations), or null. */
function decoratorChain(s: SinkSpec): Call[] | null {
  const out: Call[] = [];
  for (;;) {
    if (s.kind === 'sink') {
      out.push(s.call);
      return out;
    }
    if (s.kind !== 'decorated') return null;
    out.push(s.decorator);
    s = s.sink;
  }
}

function sorted(errors: SpecSyntaxError[]): SpecSyntaxError[] {
  return errors.slice().sort((a, b) => a.line - b.line || a.column - b.column);
}

export interface SpecParseResult {
  /**
   * The nodes that parsed, in order. A node whose parse stopped at an error is left out, and so
   * is a repeated name; a node with only a problem that does not stop parsing (a repeated
   * keyword argument, a positional argument after keywords) is kept.
   */
  nodes: LogicalNodeSpec[];
  /** Every problem, lexical and syntactic, sorted by position; empty when the text is good. */
  errors: SpecSyntaxError[];
}

/**
 * Parses a text of `name : source | sink ;` lines and returns what parsed along with every
 * problem, without throwing: for `validate`, which adds the registry's problems to these.
 */
export function tryParseSpec(text: string): SpecParseResult {
  const lexed = tokenize(text);
  const parser = new Parser(text, lexed.tokens);
  const nodes = parser.parseText();
  return { nodes, errors: sorted([...lexed.errors, ...parser.errors]) };
}

/** Parses a spec text; throws a ValidationError holding every SpecSyntaxError. */
export function parseSpec(text: string): LogicalNodeSpec[] {
  const result = tryParseSpec(text);
  if (result.errors.length > 0) throw new ValidationError(result.errors, WHAT);
  return result.nodes;
}

function parsePart<T>(text: string, part: (p: Parser) => T): T {
  const lexed = tokenize(text);
  const parser = new Parser(text, lexed.tokens);
  const result = parser.parseWhole(() => part(parser));
  const errors = sorted([...lexed.errors, ...parser.errors]);
  if (errors.length > 0 || result === undefined) throw new ValidationError(errors, WHAT);
  return result;
}

/** Parses a source on its own (`exec config NODE 'SOURCE' 'SINK'`); positions are within `text`. */
export function parseSource(text: string): Call {
  return parsePart(text, (p) => p.parseCall('a source'));
}

/** Parses a sink on its own; positions are within `text`. */
export function parseSink(text: string): SinkSpec {
  return parsePart(text, (p) => p.parseSink());
}
