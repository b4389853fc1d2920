/**
 * The admin commands (Flume OG's set) as pure changes of the master state.
 *
 * `planCommand(name, args, ctx)` checks a command and returns its effect, a function that
 * changes a draft of the state and returns the message shown to the user. Every problem is found
 * before the effect runs: a bad spec (with the parser's line:column), an unknown node, a wrong
 * number of arguments all throw CommandError and change nothing. Effects may run more than once
 * (compare-and-set retries), so they depend only on the draft they are given (and the clock).
 * An effect sets or removes entries of the draft's records and replaces its lists; it never
 * changes a config, a mapping list or the decommissioned list in place: the embedded store's
 * draft shares those with the published state, and they are frozen (store/state-change.ts).
 *
 *   config NODE [FLOW] 'SOURCE' 'SINK'   multiconfig 'SPEC'      unconfig NODE
 *   map PHYSICAL LOGICAL   spawn PHYSICAL LOGICAL   unmap PHYSICAL LOGICAL   unmapAll
 *   decommission LOGICAL   refresh LOGICAL   refreshAll   purge PHYSICAL   purgeAll
 *   save FILE   load FILE
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ValidationError } from '../core/errors';
import { LOCK_FILE } from '../core/lock';
import { parseSink, parseSource, parseSpec, type LogicalNodeSpec } from '../core/spec';
import { DEFAULT_FLOW } from './chains';
import { JOURNAL_FILE, STATE_FILE } from './store/journal';
import { NODES_FILE } from './store/node-snapshot';
import { CommandError, PURGE_ALL, type MasterState } from './store/types';

/** Extra checks of a parsed node (for instance the component registry's), every problem at once. */
export type NodeValidator = (node: LogicalNodeSpec) => Error[];

export interface CommandContext {
  validate?: NodeValidator;
  /**
   * The master's data dir: relative `save`/`load` paths resolve here, and a path outside it is
   * refused (an admin command must not write or read the master's host at large).
   */
  baseDir: string;
}

export type Effect = (draft: MasterState) => string;

interface CommandDef {
  usage: string;
  /** Allowed argument counts. */
  arity: number[];
  plan(args: string[], ctx: CommandContext): Effect;
}

const NAME = /^[A-Za-z0-9_.\-:@]+$/;

/**
 * A node or flow name a command may use. Names every JavaScript object answers to (`constructor`,
 * `toString`, `__proto__`, ...) are refused: looked up in the state's records they read as
 * Object.prototype's functions, so `refresh toString` made a config out of one.
 */
function checkName(what: string, name: string): void {
  if (!NAME.test(name)) throw new CommandError(`bad ${what} name ${JSON.stringify(name)}: use letters, digits and _ . - : @`);
  if (name in Object.prototype) throw new CommandError(`bad ${what} name ${JSON.stringify(name)}: every JavaScript object has a ${name}`);
}

/** Turns a parser ValidationError into one message naming line:column of every problem. */
function specProblem(what: string, err: unknown): never {
  if (err instanceof ValidationError) {
    throw new CommandError(`bad ${what}: ${err.problems.map((p) => p.message).join('; ')}`, { cause: err });
  }
  throw err;
}

/** The master's own files in its data dir, which `save` must not overwrite nor `load` read. */
const OWN_FILES = new Set([STATE_FILE, JOURNAL_FILE, NODES_FILE, LOCK_FILE]);

/** `p` with the symlinks of its longest existing prefix resolved. */
function realish(p: string): string {
  const rest: string[] = [];
  for (let head = p; ; head = path.dirname(head)) {
    try {
      return path.join(fs.realpathSync(head), ...rest.reverse());
    } catch {
      if (path.dirname(head) === head) return p;
      rest.push(path.basename(head));
    }
  }
}

/**
 * `file` resolved in the data dir `baseDir`, or a CommandError when it lies outside (after `..`
 * and symlinks) or is one of the master's own files. The error names the path only: nothing of
 * the file is read.
 */
function dataDirPath(verb: 'save' | 'load', file: string, baseDir: string): string {
  const base = path.resolve(baseDir);
  const target = path.resolve(base, file);
  const realBase = realish(base);
  const real = realish(target);
  const inside = (p: string, root: string): boolean => p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
  if (!inside(target, base) || !inside(real, realBase)) {
    throw new CommandError(
      `${verb}: ${JSON.stringify(file)} is outside the master's data dir ${base}; ${verb} works on files inside it (a relative path resolves there)`,
    );
  }
  if (path.dirname(real) === realBase && OWN_FILES.has(path.basename(real))) {
    throw new CommandError(`${verb}: ${JSON.stringify(file)} is one of the master's own files; choose another name`);
  }
  return target;
}

function validated(node: LogicalNodeSpec, ctx: CommandContext): void {
  const problems = ctx.validate?.(node) ?? [];
  if (problems.length > 0) throw new CommandError(`invalid node ${node.name}: ${problems.map((p) => p.message).join('; ')}`);
}

function setConfig(draft: MasterState, node: string, flow: string, source: string, sink: string): number {
  const version = draft.nextVersion++;
  draft.configs[node] = { flow, source, sink, version };
  if (draft.decommissioned.includes(node)) draft.decommissioned = draft.decommissioned.filter((n) => n !== node);
  return version;
}

function removeFromMappings(draft: MasterState, logical: string): void {
  for (const [physical, list] of Object.entries(draft.mappings)) {
    const rest = list.filter((l) => l !== logical);
    if (rest.length === 0) delete draft.mappings[physical];
    else if (rest.length !== list.length) draft.mappings[physical] = rest;
  }
}

function parseWholeSpec(text: string, ctx: CommandContext): LogicalNodeSpec[] {
  let nodes: LogicalNodeSpec[];
  try {
    nodes = parseSpec(text);
  } catch (err) {
    specProblem('spec', err);
  }
  if (nodes.length === 0) throw new CommandError('the spec configures no node');
  const seen = new Set<string>();
  for (const n of nodes) {
    if (seen.has(n.name)) throw new CommandError(`node ${n.name} is configured twice in the spec (line ${n.pos.line})`);
    seen.add(n.name);
    validated(n, ctx);
  }
  return nodes;
}

function configureAll(nodes: LogicalNodeSpec[]): Effect {
  for (const n of nodes) checkName('node', n.name);
  return (draft) => {
    const parts = nodes.map((n) => `${n.name} v${setConfig(draft, n.name, DEFAULT_FLOW, n.sourceText, n.sinkText)}`);
    return `configured ${parts.join(', ')}`;
  };
}

/** The spec text of every config, one `name : source | sink ;` line each, sorted by name. */
export function specText(state: Readonly<MasterState>): string {
  return Object.keys(state.configs)
    .sort()
    .map((name) => `${name} : ${state.configs[name].source} | ${state.configs[name].sink} ;\n`)
    .join('');
}

const COMMANDS: Record<string, CommandDef> = {
  config: {
    usage: "config NODE [FLOW] 'SOURCE' 'SINK'",
    arity: [3, 4],
    plan(args, ctx) {
      const [node, flow, source, sink] = args.length === 4 ? args : [args[0], DEFAULT_FLOW, args[1], args[2]];
      checkName('node', node);
      checkName('flow', flow);
      const problems: string[] = [];
      let sourceSpec;
      let sinkSpec;
      try {
        sourceSpec = parseSource(source);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        problems.push(`source ${err.problems.map((p) => p.message).join('; ')}`);
      }
      try {
        sinkSpec = parseSink(sink);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        problems.push(`sink ${err.problems.map((p) => p.message).join('; ')}`);
      }
      if (problems.length > 0) throw new CommandError(`bad spec for ${node}: ${problems.join('; ')}`);
      validated(
        {
          name: node,
          source: sourceSpec!,
          sink: sinkSpec!,
          pos: { line: 1, column: 1 },
          sourceText: source.trim(),
          sinkText: sink.trim(),
        },
        ctx,
      );
      return (draft) => `configured ${node} v${setConfig(draft, node, flow, source.trim(), sink.trim())}`;
    },
  },
  multiconfig: {
    usage: "multiconfig 'SPEC'",
    arity: [1],
    plan: (args, ctx) => configureAll(parseWholeSpec(args[0], ctx)),
  },
  unconfig: {
    usage: 'unconfig NODE',
    arity: [1],
    plan: ([node]) => {
      checkName('node', node);
      return (draft) => {
        if (!draft.configs[node]) throw new CommandError(`node ${node} has no config`);
        delete draft.configs[node];
        draft.nextVersion++;
        return `unconfigured ${node}`;
      };
    },
  },
  map: { usage: 'map PHYSICAL LOGICAL', arity: [2], plan: (args) => mapEffect(args) },
  spawn: { usage: 'spawn PHYSICAL LOGICAL', arity: [2], plan: (args) => mapEffect(args) },
  unmap: {
    usage: 'unmap PHYSICAL LOGICAL',
    arity: [2],
    plan: ([physical, logical]) => {
      checkName('physical node', physical);
      checkName('logical node', logical);
      return (draft) => {
        const list = draft.mappings[physical] ?? [];
        if (!list.includes(logical)) throw new CommandError(`${logical} is not mapped to ${physical}`);
        const rest = list.filter((l) => l !== logical);
        if (rest.length > 0) draft.mappings[physical] = rest;
        else delete draft.mappings[physical];
        return `unmapped ${logical} from ${physical}`;
      };
    },
  },
  unmapAll: {
    usage: 'unmapAll',
    arity: [0],
    plan: () => (draft) => {
      const n = Object.values(draft.mappings).reduce((sum, l) => sum + l.length, 0);
      draft.mappings = {};
      return `removed ${n} mappings`;
    },
  },
  decommission: {
    usage: 'decommission LOGICAL',
    arity: [1],
    plan: ([logical]) => {
      checkName('logical node', logical);
      return (draft) => {
        const mapped = Object.values(draft.mappings).some((l) => l.includes(logical));
        if (!draft.configs[logical] && !mapped) throw new CommandError(`logical node ${logical} is neither configured nor mapped`);
        delete draft.configs[logical];
        removeFromMappings(draft, logical);
        if (!draft.decommissioned.includes(logical)) draft.decommissioned = [...draft.decommissioned, logical];
        draft.nextVersion++;
        return `decommissioned ${logical}`;
      };
    },
  },
  refresh: {
    usage: 'refresh LOGICAL',
    arity: [1],
    plan: ([logical]) => {
      checkName('logical node', logical);
      return (draft) => {
        const config = draft.configs[logical];
        if (!config) throw new CommandError(`node ${logical} has no config`);
        const version = draft.nextVersion++;
        draft.configs[logical] = { ...config, version };
        return `refreshed ${logical} v${version}`;
      };
    },
  },
  refreshAll: {
    usage: 'refreshAll',
    arity: [0],
    plan: () => (draft) => {
      const names = Object.keys(draft.configs).sort();
      for (const name of names) draft.configs[name] = { ...draft.configs[name], version: draft.nextVersion++ };
      return `refreshed ${names.length} nodes`;
    },
  },
  purge: {
    usage: 'purge PHYSICAL',
    arity: [1],
    plan: ([physical]) => {
      checkName('physical node', physical);
      return (draft) => {
        draft.purged[physical] = Date.now();
        return `purged ${physical}`;
      };
    },
  },
  purgeAll: {
    usage: 'purgeAll',
    arity: [0],
    plan: () => (draft) => {
      draft.purged = { [PURGE_ALL]: Date.now() };
      return 'purged every node';
    },
  },
  save: {
    usage: 'save FILE',
    arity: [1],
    plan: ([file], ctx) => {
      const target = dataDirPath('save', file, ctx.baseDir);
      return (draft) => {
        const text = specText(draft);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(`${target}.tmp`, text);
        fs.renameSync(`${target}.tmp`, target);
        return `saved ${Object.keys(draft.configs).length} configs to ${target}`;
      };
    },
  },
  load: {
    usage: 'load FILE',
    arity: [1],
    plan: ([file], ctx) => {
      const source = dataDirPath('load', file, ctx.baseDir);
      let text: string;
      try {
        text = fs.readFileSync(source, 'utf8');
      } catch (err) {
        throw new CommandError(`cannot read ${source}: ${(err as Error).message}`);
      }
      return configureAll(parseWholeSpec(text, ctx));
    },
  },
};

function mapEffect([physical, logical]: string[]): Effect {
  checkName('physical node', physical);
  checkName('logical node', logical);
  return (draft) => {
    removeFromMappings(draft, logical);
    draft.mappings[physical] = [...(draft.mappings[physical] ?? []), logical];
    if (draft.decommissioned.includes(logical)) draft.decommissioned = draft.decommissioned.filter((n) => n !== logical);
    return `mapped ${logical} to ${physical}`;
  };
}

export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

/** Case-insensitive lookup of a command name, as the shell types them. */
function findCommand(name: string): CommandDef | undefined {
  const key = COMMAND_NAMES.find((k) => k.toLowerCase() === name.toLowerCase());
  return key ? COMMANDS[key] : undefined;
}

/** Checks a command and returns its effect; throws CommandError for anything wrong with it. */
export function planCommand(name: string, args: string[], ctx: CommandContext): Effect {
  const def = findCommand(name);
  if (!def) throw new CommandError(`unknown command ${JSON.stringify(name)}; known: ${COMMAND_NAMES.join(', ')}`);
  if (!def.arity.includes(args.length)) throw new CommandError(`${name} takes ${def.arity.join(' or ')} arguments: ${def.usage}`);
  return def.plan(args, ctx);
}
