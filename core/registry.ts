/**
 * The component registry: maps a spec name (`tail`, `escapedFile`, `batch`, `roll`) to a factory
 * and its argument schema. Adding a component means writing one file that exports a def and adding
 * one line to its folder's index that lists the defs (see `registerAll`).
 *
 *     export const nullSink: SinkDef = {
 *       kind: 'sink', name: 'null', doc: 'Drops every batch.', args: [],
 *       create: () => new NullSink(),
 *     };
 *
 * Four kinds, each with its own namespace (`text` is both a source and a sink):
 * - source:    `create(args, ctx)` → Source
 * - sink:      `create(args, ctx)` → Sink
 * - decorator: `create(args, ctx, inner)` → Sink that transforms batches and appends to `inner`
 * - wrapper:   `create(args, ctx, makeBody)` → Sink that builds (and rebuilds) its body, such as
 *              `roll(ms) { sink }`; `makeBody()` returns a fresh, unopened instance each call.
 *
 * Argument checking reports every problem of a spec at once, each naming the component, the
 * argument and the line:column of the offending token.
 */
import type { Arg, Call, Literal, LogicalNodeSpec, Pos, SinkSpec } from './spec/ast';
import type { ComponentContext, Sink, Source } from './component';
import { FlumeError, ValidationError } from './errors';
import { type HostAccess, type HostAccessPolicy, hostAccessProblem } from './host-access';
import { status } from '@grpc/grpc-js';

type ArgType = 'string' | 'number' | 'boolean' | 'identifier' | 'any';
export type ArgValue = string | number | boolean;

export interface ArgSchema {
  name: string;
  /**
   * What the argument accepts. `string` also takes a bare word; `identifier` also takes a string;
   * `number` also takes a string that is a number; `boolean` takes true/false as a keyword,
   * identifier or string.
   */
  type: ArgType;
  required?: boolean;
  /** Used when the argument is absent (never when it is present and wrong). */
  default?: ArgValue;
  doc: string;
  /** The last schema entry only: takes every remaining positional argument (`mask(a, b, c)`). */
  rest?: boolean;
  /** Allowed values, for identifiers and strings (`format(raw|json|...)`). */
  oneOf?: readonly string[];
  /** A further check of a well-typed value; returns a problem sentence, or null. */
  check?: (value: ArgValue) => string | null;
}

export type ComponentKind = 'source' | 'sink' | 'decorator' | 'wrapper';

interface DefBase {
  name: string;
  /** Other names for the same component, e.g. Flume OG's names. */
  aliases?: readonly string[];
  /** One or two sentences for `flume-node components`. */
  doc: string;
  args: readonly ArgSchema[];
  /**
   * The component's promise needs a durable channel (E2E and DFO agent sinks, collector
   * sources): its logical node gets a WAL whatever the node's default channel is.
   */
  durableChannel?: boolean;
  /**
   * What the component would do to its host (run a program, read a file) with these arguments;
   * a registry with a policy refuses what the policy does not allow (core/host-access.ts).
   */
  hostAccess?: (args: ResolvedArgs) => HostAccess[];
}

export interface SourceDef extends DefBase {
  kind: 'source';
  create(args: ResolvedArgs, ctx: ComponentContext): Source;
}

export interface SinkDef extends DefBase {
  kind: 'sink';
  create(args: ResolvedArgs, ctx: ComponentContext): Sink;
}

export interface DecoratorDef extends DefBase {
  kind: 'decorator';
  create(args: ResolvedArgs, ctx: ComponentContext, inner: Sink): Sink;
}

export interface WrapperDef extends DefBase {
  kind: 'wrapper';
  /** `makeBody(tags)` builds a fresh body whose components see `tags` (e.g. `rolltag`) in ctx.tags. */
  create(args: ResolvedArgs, ctx: ComponentContext, makeBody: (tags?: Readonly<Record<string, string>>) => Sink): Sink;
}

export type ComponentDef = SourceDef | SinkDef | DecoratorDef | WrapperDef;
type DefOf<K extends ComponentKind> = Extract<ComponentDef, { kind: K }>;

/** One problem in a spec, at a position. Every validation path returns a list of these. */
export class SpecProblem extends FlumeError {
  override readonly grpcCode = status.INVALID_ARGUMENT;
  constructor(
    readonly detail: string,
    readonly line: number,
    readonly column: number,
    readonly component?: string,
    readonly argument?: string,
  ) {
    super(`${line}:${column}: ${detail}`);
  }
}

/** The arguments of one call, checked against its schema: typed getters, no guessing. */
export class ResolvedArgs {
  constructor(
    readonly component: string,
    private readonly values: ReadonlyMap<string, ArgValue | readonly ArgValue[]>,
  ) {}

  static of(component: string, values: Record<string, ArgValue | readonly ArgValue[]>): ResolvedArgs {
    return new ResolvedArgs(component, new Map(Object.entries(values)));
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  value(name: string): ArgValue | undefined {
    const v = this.values.get(name);
    if (Array.isArray(v)) throw new FlumeError(`${this.component}: argument ${name} is a list`);
    return v as ArgValue | undefined;
  }

  string(name: string): string {
    const v = this.value(name);
    if (v === undefined) throw new FlumeError(`${this.component}: argument ${name} is missing`);
    return String(v);
  }

  optionalString(name: string): string | undefined {
    const v = this.value(name);
    return v === undefined ? undefined : String(v);
  }

  number(name: string): number {
    const v = this.value(name);
    if (typeof v !== 'number') throw new FlumeError(`${this.component}: argument ${name} is not a number`);
    return v;
  }

  optionalNumber(name: string): number | undefined {
    return this.has(name) ? this.number(name) : undefined;
  }

  boolean(name: string): boolean {
    const v = this.value(name);
    if (typeof v !== 'boolean') throw new FlumeError(`${this.component}: argument ${name} is not a boolean`);
    return v;
  }

  /** The values of a `rest` argument (empty when none were given). */
  list(name: string): ArgValue[] {
    const v = this.values.get(name);
    if (v === undefined) return [];
    return Array.isArray(v) ? [...(v as ArgValue[])] : [v as ArgValue];
  }

  toJSON(): Record<string, ArgValue | readonly ArgValue[]> {
    return Object.fromEntries(this.values);
  }
}

const KIND_PLURAL: Record<ComponentKind, string> = {
  source: 'sources',
  sink: 'sinks',
  decorator: 'decorators',
  wrapper: 'wrappers',
};

export class Registry {
  /**
   * @param policy what the node this registry builds for lets configs do to its host; null (a
   *   master's registry, `validate`) checks the language and arguments only.
   */
  constructor(readonly policy: HostAccessPolicy | null = null) {}

  private readonly byKind: Record<ComponentKind, Map<string, ComponentDef>> = {
    source: new Map(),
    sink: new Map(),
    decorator: new Map(),
    wrapper: new Map(),
  };
  /** Canonical definitions in registration order, for listings. */
  private readonly defs: ComponentDef[] = [];

  /** Registers a definition under its name and aliases; a name taken twice in a kind throws. */
  register(def: ComponentDef): this {
    const table = this.byKind[def.kind];
    const problems = checkSchema(def);
    for (const name of [def.name, ...(def.aliases ?? [])]) {
      if (table.has(name)) problems.push(`${def.kind} name ${name} is already registered`);
    }
    if (problems.length > 0) throw new FlumeError(`cannot register ${def.kind} ${def.name}: ${problems.join('; ')}`);
    for (const name of [def.name, ...(def.aliases ?? [])]) table.set(name, def);
    this.defs.push(def);
    return this;
  }

  registerAll(defs: Iterable<ComponentDef>): this {
    for (const d of defs) this.register(d);
    return this;
  }

  lookup<K extends ComponentKind>(kind: K, name: string): DefOf<K> | undefined {
    return this.byKind[kind].get(name) as DefOf<K> | undefined;
  }

  /** The canonical names of a kind, sorted. */
  names(kind: ComponentKind): string[] {
    return this.list(kind)
      .map((d) => d.name)
      .sort();
  }

  list(kind?: ComponentKind): ComponentDef[] {
    return kind ? this.defs.filter((d) => d.kind === kind) : [...this.defs];
  }

  /** Looks a call up as `kind`; the problem, when unknown, lists the known names of that kind. */
  find<K extends ComponentKind>(kind: K, call: Call): DefOf<K> | SpecProblem {
    const def = this.lookup(kind, call.name);
    if (def) return def;
    const elsewhere = (Object.keys(this.byKind) as ComponentKind[]).filter((k) => k !== kind && this.byKind[k].has(call.name));
    const hint = elsewhere.length > 0 ? ` (${call.name} is a ${elsewhere.join('/')}${hintFor(elsewhere[0], call.name)})` : '';
    return new SpecProblem(
      `unknown ${kind} ${call.name}${hint}; known ${KIND_PLURAL[kind]}: ${this.names(kind).join(', ')}`,
      call.pos.line,
      call.pos.column,
      call.name,
    );
  }

  /**
   * Checks a call's arguments against the schema and returns them resolved (defaults applied),
   * or every problem found: unknown keyword, too many or missing arguments, wrong type, failed check.
   */
  resolveArgs(def: ComponentDef, call: Call): ResolvedArgs | SpecProblem[] {
    const problems: SpecProblem[] = [];
    const values = new Map<string, ArgValue | ArgValue[]>();
    /** Arguments present in the call, well-typed or not: a bad one is not also "missing". */
    const given = new Set<string>();
    const schema = def.args;
    const rest = schema.length > 0 && schema[schema.length - 1].rest ? schema[schema.length - 1] : undefined;
    const fixed = rest ? schema.slice(0, -1) : schema;
    const problem = (pos: Pos, detail: string, arg?: string): void => {
      problems.push(new SpecProblem(`${call.name}: ${detail}`, pos.line, pos.column, call.name, arg));
    };
    const usage = `${call.name}(${schema.map(formatArg).join(', ')})`;

    let positional = 0;
    let sawKeyword = false;
    for (const arg of call.args) {
      if (arg.kind === 'keyword') {
        sawKeyword = true;
        const s = schema.find((x) => x.name === arg.name);
        if (!s) {
          problem(
            arg.pos,
            `unknown argument ${arg.name}; ${call.name} takes ${schema.length ? schema.map((x) => x.name).join(', ') : 'no arguments'}`,
            arg.name,
          );
          continue;
        }
        if (given.has(s.name)) {
          problem(arg.pos, `argument ${s.name} is given twice`, s.name);
          continue;
        }
        given.add(s.name);
        const v = coerce(s, arg.value, (d) => problem(arg.value.pos, d, s.name));
        if (v !== undefined) values.set(s.name, s.rest ? [v] : v);
        continue;
      }
      if (sawKeyword) {
        problem(arg.pos, 'a positional argument cannot follow a keyword argument');
        continue;
      }
      const index = positional++;
      if (index < fixed.length) {
        const s = fixed[index];
        given.add(s.name);
        const v = coerce(s, arg, (d) => problem(arg.pos, d, s.name));
        if (v !== undefined) values.set(s.name, v);
      } else if (rest) {
        given.add(rest.name);
        const v = coerce(rest, arg, (d) => problem(arg.pos, d, rest.name));
        if (v !== undefined) {
          const list = (values.get(rest.name) as ArgValue[] | undefined) ?? [];
          list.push(v);
          values.set(rest.name, list);
        }
      } else {
        problem(arg.pos, `too many arguments: argument ${index + 1} is not expected; usage: ${usage}`);
      }
    }
    for (const s of schema) {
      if (given.has(s.name)) continue;
      if (s.required) problem(call.pos, `missing required argument ${s.name} (${s.doc}); usage: ${usage}`, s.name);
      else if (s.default !== undefined) values.set(s.name, s.default);
    }
    return problems.length > 0 ? problems : new ResolvedArgs(call.name, values);
  }
}

function hintFor(kind: ComponentKind, name: string): string {
  if (kind === 'decorator') return `; write { ${name}(...) => sink }`;
  if (kind === 'wrapper') return `; write ${name}(...) { sink }`;
  return '';
}

function formatArg(s: ArgSchema): string {
  const t = s.oneOf ? s.oneOf.join('|') : s.type;
  const base = s.rest ? `${s.name}: ${t}...` : `${s.name}: ${t}`;
  if (s.required) return base;
  return s.default !== undefined ? `${base} = ${JSON.stringify(s.default)}` : `[${base}]`;
}

function describe(lit: Literal): string {
  return lit.kind === 'string' ? `string ${JSON.stringify(lit.value)}` : `${lit.kind} ${String(lit.value)}`;
}

/** Converts one literal to the schema's type; reports and returns undefined when it cannot. */
function coerce(s: ArgSchema, arg: Arg, report: (detail: string) => void): ArgValue | undefined {
  if (arg.kind === 'keyword') {
    report(`argument ${s.name} cannot be a nested keyword`);
    return undefined;
  }
  let v: ArgValue | undefined;
  switch (s.type) {
    case 'any':
      v = arg.value;
      break;
    case 'string':
    case 'identifier':
      if (arg.kind === 'string' || arg.kind === 'identifier') v = arg.value;
      break;
    case 'number':
      if (arg.kind === 'number') v = arg.value;
      else if (arg.kind === 'string' && arg.value.trim() !== '' && Number.isFinite(Number(arg.value))) v = Number(arg.value);
      break;
    case 'boolean':
      if (arg.kind === 'boolean') v = arg.value;
      else if ((arg.kind === 'identifier' || arg.kind === 'string') && (arg.value === 'true' || arg.value === 'false')) {
        v = arg.value === 'true';
      }
      break;
  }
  if (v === undefined) {
    report(`argument ${s.name} must be a ${s.type}, found ${describe(arg)}`);
    return undefined;
  }
  if (s.oneOf && !s.oneOf.includes(String(v))) {
    report(`argument ${s.name} must be one of ${s.oneOf.join(', ')}, found ${describe(arg)}`);
    return undefined;
  }
  const bad = s.check?.(v);
  if (bad) {
    report(`argument ${s.name} ${bad}`);
    return undefined;
  }
  return v;
}

function checkSchema(def: ComponentDef): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  def.args.forEach((a, i) => {
    if (seen.has(a.name)) problems.push(`argument ${a.name} declared twice`);
    seen.add(a.name);
    if (a.rest && i !== def.args.length - 1) problems.push(`rest argument ${a.name} must be last`);
  });
  return problems;
}

/** Checks a logical node against the registry: every unknown component and bad argument, at once. */
export function validateNode(registry: Registry, node: LogicalNodeSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const check = (kind: ComponentKind, call: Call): void => {
    const def = registry.find(kind, call);
    if (def instanceof SpecProblem) {
      problems.push(def);
      return;
    }
    const args = registry.resolveArgs(def, call);
    if (Array.isArray(args)) {
      problems.push(...args);
      return;
    }
    if (registry.policy === null || def.hostAccess === undefined) return;
    for (const access of def.hostAccess(args)) {
      const refused = hostAccessProblem(access, registry.policy);
      if (refused !== null) problems.push(new SpecProblem(`${call.name}: ${refused}`, call.pos.line, call.pos.column, call.name));
    }
  };
  check('source', node.source);
  const walk = (spec: SinkSpec): void => {
    switch (spec.kind) {
      case 'sink':
        check('sink', spec.call);
        return;
      case 'decorated':
        check('decorator', spec.decorator);
        walk(spec.sink);
        return;
      case 'fanout':
        spec.sinks.forEach(walk);
        return;
      case 'failover':
        walk(spec.primary);
        walk(spec.backup);
        return;
      case 'wrapper':
        check('wrapper', spec.call);
        walk(spec.body);
        return;
    }
  };
  walk(node.sink);
  return problems;
}

/** Resolves a call or throws: a SpecProblem when unknown, a ValidationError listing every bad argument. */
export function resolveOrThrow<K extends ComponentKind>(registry: Registry, kind: K, call: Call): { def: DefOf<K>; args: ResolvedArgs } {
  const def = registry.find(kind, call);
  if (def instanceof SpecProblem) throw def;
  const args = registry.resolveArgs(def, call);
  if (Array.isArray(args)) throw new ValidationError(args, `${kind} ${call.name}`);
  return { def, args };
}
