/**
 * The shell's own commands (Flume OG's set). Each returns an exit status: 0 for success,
 * 1 for a failure it has already reported. Errors thrown from `run` are reported by the
 * caller (shell.ts) and count as status 1.
 *
 * `run` is called only with an argument count within [minArgs, maxArgs] and, when
 * `needsConnection`, while connected.
 */
import { status } from '@grpc/grpc-js';
import { FlumeError } from '../core/errors';
import { MASTER_COMMANDS, MasterCommand, checkMasterArgs, findMasterCommand, masterUsage } from './master-commands';
import { AdminCallError, CommandStatus, enumName } from './admin-client';
import {
  formatCommands,
  formatConfigs,
  formatExecing,
  formatMappings,
  formatMasterInfo,
  formatNodeStatus,
  formatOutcome,
  formatSubmitted,
} from './render';
import { NodeView, Session, isActive, isDone } from './session';
import { nearest } from './suggest';

/** Where a command writes. `info` lines are dropped in quiet mode; `out` and `error` never are. */
export interface ShellIO {
  out(line: string): void;
  info(line: string): void;
  error(line: string): void;
}

export interface CommandContext {
  io: ShellIO;
  session: Session;
  /** Fires when the user interrupts the running command (Ctrl-C). */
  signal: AbortSignal;
  /** Runs the commands of a file, stopping at the first failure; returns its status. */
  source(file: string): Promise<number>;
  /** Ends the shell once this command returns. */
  quit(): void;
}

/** What TAB completes in an argument position. */
export type CompletionKind = 'command' | 'master-command' | 'any-command' | 'node' | 'file' | 'none';

export interface ShellCommand {
  name: string;
  args: string;
  summary: string;
  minArgs: number;
  maxArgs: number;
  needsConnection: boolean;
  /** Completion of argument `index` (0-based) given the arguments before it. */
  completes(index: number, before: readonly string[]): CompletionKind;
  /** Checks the arguments before anything is sent (and before the connection is needed). */
  check?(args: readonly string[]): string | undefined;
  run(ctx: CommandContext, args: string[]): Promise<number>;
}

const MANY = Number.POSITIVE_INFINITY;
/** How many commands getcommands lists without a count. */
const DEFAULT_COMMAND_COUNT = 20;
const none = (): CompletionKind => 'none';
const nodes = (): CompletionKind => 'node';
/** exec/submit: a master command, then (after the command) node names. */
const masterCommandThenNodes = (index: number): CompletionKind => (index === 0 ? 'master-command' : 'node');

export const SHELL_COMMANDS: readonly ShellCommand[] = [
  {
    name: 'connect',
    args: 'HOST[:PORT][,HOST[:PORT]...]',
    summary: 'connect to a master (default port 35873); the first one that answers',
    minArgs: 1,
    maxArgs: 1,
    needsConnection: false,
    completes: none,
    async run(ctx, [target]) {
      ctx.io.info(`Connecting to Flume master ${target}...`);
      const address = await ctx.session.connect(target);
      const info = await ctx.session.call((a) => a.masterInfo()).catch(() => undefined);
      ctx.io.info(`Connected to Flume master ${address}${info ? ` (${formatMasterInfo(info)})` : ''}`);
      if (info && !info.fresh) ctx.io.error(`Warning: master ${address} says its view is not current (ZooKeeper session lost?)`);
      return 0;
    },
  },
  {
    name: 'getnodestatus',
    args: '',
    summary: 'the state of every node the master knows',
    minArgs: 0,
    maxArgs: 0,
    needsConnection: true,
    completes: none,
    async run(ctx) {
      for (const line of formatNodeStatus(await ctx.session.call((a) => a.nodeStatus()))) ctx.io.out(line);
      return 0;
    },
  },
  {
    name: 'getconfigs',
    args: '',
    summary: 'the configuration of every logical node',
    minArgs: 0,
    maxArgs: 0,
    needsConnection: true,
    completes: none,
    async run(ctx) {
      for (const line of formatConfigs(await ctx.session.call((a) => a.configs()))) ctx.io.out(line);
      return 0;
    },
  },
  {
    name: 'getmappings',
    args: '[PHYSICAL]',
    summary: 'which logical nodes each physical node runs',
    minArgs: 0,
    maxArgs: 1,
    needsConnection: true,
    completes: nodes,
    async run(ctx, [physical]) {
      for (const line of formatMappings(await ctx.session.call((a) => a.mappings(physical ?? '')), physical)) ctx.io.out(line);
      return 0;
    },
  },
  {
    name: 'getcommands',
    args: '[COUNT]',
    summary: "the master's newest commands (default 20) with their state and message",
    minArgs: 0,
    maxArgs: 1,
    needsConnection: true,
    completes: none,
    check: (args) => checkCounts(args, ['COUNT'], 'getcommands [COUNT]'),
    async run(ctx, [count]) {
      const limit = count === undefined ? DEFAULT_COMMAND_COUNT : parseCount(count, 'COUNT');
      for (const line of formatCommands(await ctx.session.call((a) => a.listCommands(limit)))) ctx.io.out(line);
      return 0;
    },
  },
  {
    name: 'exec',
    args: 'COMMAND [ARG...]',
    summary: 'run a master command and wait until it succeeds or fails (help exec: the commands)',
    minArgs: 1,
    maxArgs: MANY,
    needsConnection: true,
    completes: masterCommandThenNodes,
    check: (args) => checkMasterCommand('exec', args),
    async run(ctx, args) {
      const submitted = await submitMasterCommand(ctx, 'exec', args);
      if (submitted === undefined) return 1;
      const { id, command } = submitted;
      const timeoutMs = ctx.session.options.execTimeoutMs;
      const result = await ctx.session.waitForCommand(id, timeoutMs, ctx.signal);
      if (!result.done) {
        ctx.io.error(
          `Command ${id} (${command.name}) did not finish within ${timeoutMs} ms; it is ${enumName(
            'CommandState',
            result.value.state,
          )}. Use 'wait 0 ${id}' to wait for it.`,
        );
        return 1;
      }
      return reportOutcome(ctx, result.value);
    },
  },
  {
    name: 'submit',
    args: 'COMMAND [ARG...]',
    summary: 'queue a master command and print its id without waiting',
    minArgs: 1,
    maxArgs: MANY,
    needsConnection: true,
    completes: masterCommandThenNodes,
    check: (args) => checkMasterCommand('submit', args),
    async run(ctx, args) {
      return (await submitMasterCommand(ctx, 'submit', args)) === undefined ? 1 : 0;
    },
  },
  {
    name: 'wait',
    args: '[MILLIS [ID]]',
    summary: "wait for a command (default: this shell's last, else the master's newest) to finish; 0 ms waits forever, default 10000",
    minArgs: 0,
    maxArgs: 2,
    needsConnection: true,
    completes: none,
    check: (args) => checkCounts(args, ['MILLIS', 'ID'], 'wait [MILLIS [ID]]'),
    async run(ctx, args) {
      const ms = args.length > 0 ? parseCount(args[0], 'MILLIS') : ctx.session.options.waitDefaultMs;
      // As in Flume OG: the last command of this shell, else the newest one of the master.
      const id =
        args.length > 1
          ? parseCount(args[1], 'ID')
          : (ctx.session.lastCommandId ?? (await ctx.session.call((a) => a.listCommands(1))).at(-1)?.id);
      if (id === undefined) {
        ctx.io.error('The master has no command to wait for');
        return 1;
      }
      const result = await ctx.session.waitForCommand(id, ms, ctx.signal);
      if (!result.done) {
        ctx.io.error(`Command ${id} timed out after ${ms} ms; it is ${enumName('CommandState', result.value.state)}`);
        return 1;
      }
      return reportOutcome(ctx, result.value);
    },
  },
  {
    name: 'waitForNodesActive',
    args: 'MILLIS NODE...',
    summary: 'wait until every node is ACTIVE with its current config; 0 ms waits forever',
    minArgs: 2,
    maxArgs: MANY,
    needsConnection: true,
    completes: (i) => (i === 0 ? 'none' : 'node'),
    check: (args) => checkCounts(args.slice(0, 1), ['MILLIS'], 'waitForNodesActive MILLIS NODE...'),
    async run(ctx, [msText, ...names]) {
      return waitForNodes(
        ctx,
        parseCount(msText, 'MILLIS'),
        names,
        'ACTIVE',
        isActive,
        'Nodes are active (in ACTIVE state, with their current config)',
      );
    },
  },
  {
    name: 'waitForNodesDone',
    args: 'MILLIS NODE...',
    summary: 'wait until every node is done (IDLE, ERROR, LOST or DECOMMISSIONED); 0 ms waits forever',
    minArgs: 2,
    maxArgs: MANY,
    needsConnection: true,
    completes: (i) => (i === 0 ? 'none' : 'node'),
    check: (args) => checkCounts(args.slice(0, 1), ['MILLIS'], 'waitForNodesDone MILLIS NODE...'),
    async run(ctx, [msText, ...names]) {
      return waitForNodes(
        ctx,
        parseCount(msText, 'MILLIS'),
        names,
        'IDLE/ERROR/LOST/DECOMMISSIONED',
        isDone,
        'Nodes are done (in IDLE, ERROR, LOST or DECOMMISSIONED state)',
      );
    },
  },
  {
    name: 'source',
    args: 'FILE',
    summary: 'run the commands of a file (stops at the first failure)',
    minArgs: 1,
    maxArgs: 1,
    needsConnection: false,
    completes: () => 'file',
    async run(ctx, [file]) {
      return ctx.source(file);
    },
  },
  {
    name: 'help',
    args: '[COMMAND]',
    summary: 'list the commands, or describe one',
    minArgs: 0,
    maxArgs: 2,
    needsConnection: false,
    completes: (i) => (i === 0 ? 'any-command' : 'master-command'),
    async run(ctx, args) {
      return help(ctx, args);
    },
  },
  {
    name: 'quit',
    args: '',
    summary: 'leave the shell',
    minArgs: 0,
    maxArgs: 0,
    needsConnection: false,
    completes: none,
    async run(ctx) {
      ctx.quit();
      return 0;
    },
  },
  {
    name: 'exit',
    args: '',
    summary: 'leave the shell',
    minArgs: 0,
    maxArgs: 0,
    needsConnection: false,
    completes: none,
    async run(ctx) {
      ctx.quit();
      return 0;
    },
  },
];

const BY_NAME = new Map(SHELL_COMMANDS.map((c) => [c.name, c]));
const BY_LOWER_NAME = new Map(SHELL_COMMANDS.map((c) => [c.name.toLowerCase(), c]));

/** The command named `name` (exact, else case-insensitive: `getNodeStatus` works too). */
export function findShellCommand(name: string): ShellCommand | undefined {
  return BY_NAME.get(name) ?? BY_LOWER_NAME.get(name.toLowerCase());
}

export function shellUsage(cmd: ShellCommand): string {
  return `Usage: ${cmd.name}${cmd.args ? ' ' + cmd.args : ''}`;
}

/** `Unknown command 'x'. Did you mean 'y'?` */
export function unknownCommandMessage(kind: 'command' | 'master command', name: string): string {
  const names = kind === 'command' ? SHELL_COMMANDS.map((c) => c.name) : MASTER_COMMANDS.map((c) => c.name);
  const guess = nearest(name, names);
  const hint = kind === 'command' ? "type 'help' for the list" : "type 'help exec' for the list";
  return `Unknown ${kind} '${name}'. ${guess ? `Did you mean '${guess}'? ` : ''}(${hint})`;
}

/** Arguments of the right number but the wrong form; the caller prints the usage line too. */
export class ShellUsageError extends FlumeError {
  override readonly grpcCode = status.INVALID_ARGUMENT;
}

/** Problems with arguments that must be whole numbers (named by `names`), or undefined. */
function checkCounts(args: readonly string[], names: string[], usage: string): string | undefined {
  const bad = args.findIndex((a) => !/^\d+$/.test(a));
  return bad < 0 ? undefined : `${names[bad]} must be a whole number >= 0, got '${args[bad]}'. Usage: ${usage}`;
}

function parseCount(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new ShellUsageError(`${what} must be a whole number >= 0, got '${text}'`);
  return Number(text);
}

const REFUSALS: readonly status[] = [status.INVALID_ARGUMENT, status.FAILED_PRECONDITION, status.NOT_FOUND, status.ALREADY_EXISTS];

/** Why `exec`/`submit` arguments cannot be sent, or undefined. */
function checkMasterCommand(verb: 'exec' | 'submit', [name, ...args]: readonly string[]): string | undefined {
  const command = findMasterCommand(name);
  if (!command) return unknownCommandMessage('master command', name);
  const problem = checkMasterArgs(command, args);
  return problem ? `${problem}. ${masterUsage(verb, command)}` : undefined;
}

/** Submits checked `exec`/`submit` arguments; prints the id line. */
async function submitMasterCommand(
  ctx: CommandContext,
  verb: 'exec' | 'submit',
  [name, ...args]: string[],
): Promise<{ id: number; command: MasterCommand } | undefined> {
  const problem = checkMasterCommand(verb, [name, ...args]);
  const command = findMasterCommand(name);
  if (problem || !command) {
    ctx.io.error(problem ?? unknownCommandMessage('master command', name));
    return undefined;
  }
  let id: number;
  try {
    id = await ctx.session.submit(command.name, args);
  } catch (err) {
    // The master refused the command outright (bad spec, bad arguments): same words as a
    // command that failed after being queued.
    if (err instanceof AdminCallError && REFUSALS.includes(err.code)) {
      ctx.io.error(`Command failed: ${err.details}`);
      return undefined;
    }
    throw err;
  }
  ctx.session.lastCommandId = id;
  if (verb === 'submit') ctx.io.out(formatSubmitted(id, command.name, args));
  else ctx.io.info(formatExecing(id, command.name, args));
  return { id, command };
}

function reportOutcome(ctx: CommandContext, result: CommandStatus): number {
  const line = formatOutcome(result);
  if (enumName('CommandState', result.state) === 'SUCCEEDED') {
    ctx.io.out(line);
    return 0;
  }
  ctx.io.error(line);
  return 1;
}

async function waitForNodes(
  ctx: CommandContext,
  ms: number,
  names: string[],
  wanted: string,
  ready: (node: NodeView) => boolean,
  doneMessage: string,
): Promise<number> {
  ctx.io.info(`Waiting ${ms === 0 ? 'without limit' : `${ms} ms`} for nodes [${names.join(', ')}] to be ${wanted}`);
  const result = await ctx.session.waitForNodes(names, ready, ms, ctx.signal);
  if (result.done) {
    ctx.io.out(doneMessage);
    return 0;
  }
  ctx.io.error(`Command timed out after ${ms} ms; not ${wanted}: ${result.value.join(', ')}`);
  return 1;
}

function help(ctx: CommandContext, args: string[]): number {
  if (args.length === 0) {
    ctx.io.out('Commands:');
    const width = Math.max(...SHELL_COMMANDS.map((c) => `${c.name} ${c.args}`.length));
    for (const c of SHELL_COMMANDS) ctx.io.out(`    ${`${c.name} ${c.args}`.padEnd(width)}  ${c.summary}`);
    ctx.io.out('');
    ctx.io.out("Master commands, run with 'exec' (wait for the result) or 'submit' (queue it):");
    listMasterCommands(ctx);
    ctx.io.out('');
    ctx.io.out('Arguments: "escaped strings" (Java escapes), \'literal strings\'; # starts a comment;');
    ctx.io.out('a line ending in \\ continues on the next. TAB completes commands and node names.');
    return 0;
  }
  const [name, sub] = args;
  const shellCommand = findShellCommand(name);
  const isVerb = shellCommand?.name === 'exec' || shellCommand?.name === 'submit';
  if (sub !== undefined) {
    // help exec config
    if (!isVerb) {
      ctx.io.error('Usage: help [COMMAND] or help exec|submit COMMAND');
      return 1;
    }
    const masterCommand = findMasterCommand(sub);
    if (!masterCommand) {
      ctx.io.error(unknownCommandMessage('master command', sub));
      return 1;
    }
    ctx.io.out(masterUsage(shellCommand.name as 'exec' | 'submit', masterCommand));
    ctx.io.out(`    ${masterCommand.summary}`);
    return 0;
  }
  if (shellCommand) {
    ctx.io.out(shellUsage(shellCommand));
    ctx.io.out(`    ${shellCommand.summary}`);
    if (isVerb) {
      ctx.io.out('Master commands:');
      listMasterCommands(ctx);
    }
    return 0;
  }
  // help config: the master command, as run with exec
  const masterCommand = findMasterCommand(name);
  if (!masterCommand) {
    ctx.io.error(unknownCommandMessage('command', name));
    return 1;
  }
  ctx.io.out(masterUsage('exec', masterCommand));
  ctx.io.out(`    ${masterCommand.summary}`);
  return 0;
}

function listMasterCommands(ctx: CommandContext): void {
  const width = Math.max(...MASTER_COMMANDS.map((c) => `${c.name} ${c.args}`.length));
  for (const c of MASTER_COMMANDS) ctx.io.out(`    ${`${c.name} ${c.args}`.padEnd(width)}  ${c.summary}`);
}
