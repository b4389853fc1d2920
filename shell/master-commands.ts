/**
 * The commands the master executes (`exec CMD ARGS...` / `submit CMD ARGS...`). The shell
 * only checks the number of arguments, to give a usage line before anything reaches the
 * master; what a command means is the master's business.
 */

export interface MasterCommand {
  name: string;
  /** Argument synopsis, e.g. `NODE [FLOW] SOURCE SINK`. */
  args: string;
  summary: string;
  minArgs: number;
  maxArgs: number;
}

const MANY = Number.POSITIVE_INFINITY;

export const MASTER_COMMANDS: readonly MasterCommand[] = [
  {
    name: 'config',
    args: "NODE [FLOW] 'SOURCE' 'SINK'",
    summary: 'set the dataflow of a logical node (optionally in a flow)',
    minArgs: 3,
    maxArgs: 4,
  },
  {
    name: 'multiconfig',
    args: "'SPEC'",
    summary: 'set the dataflows of many logical nodes from spec text (NODE : SOURCE | SINK ; ...)',
    minArgs: 1,
    maxArgs: 1,
  },
  { name: 'unconfig', args: 'NODE', summary: 'remove the configuration of a logical node', minArgs: 1, maxArgs: 1 },
  { name: 'map', args: 'PHYSICAL LOGICAL', summary: 'make a physical node run a logical node', minArgs: 2, maxArgs: 2 },
  { name: 'spawn', args: 'PHYSICAL LOGICAL', summary: 'synonym of map (Flume OG)', minArgs: 2, maxArgs: 2 },
  { name: 'unmap', args: 'PHYSICAL LOGICAL', summary: 'stop running a logical node on a physical node', minArgs: 2, maxArgs: 2 },
  { name: 'unmapAll', args: '', summary: 'remove every logical-to-physical mapping', minArgs: 0, maxArgs: 0 },
  { name: 'decommission', args: 'LOGICAL', summary: 'unmap a logical node and forget its configuration', minArgs: 1, maxArgs: 1 },
  { name: 'refresh', args: 'LOGICAL', summary: 'make a logical node reopen its source and sink', minArgs: 1, maxArgs: 1 },
  { name: 'refreshAll', args: '', summary: 'refresh every logical node', minArgs: 0, maxArgs: 0 },
  { name: 'purge', args: 'PHYSICAL', summary: 'forget the status of a physical node (e.g. a LOST one)', minArgs: 1, maxArgs: 1 },
  { name: 'purgeAll', args: '', summary: 'forget the status of every node', minArgs: 0, maxArgs: 0 },
  { name: 'save', args: 'FILE', summary: 'save every configuration to a file on the master', minArgs: 1, maxArgs: 1 },
  { name: 'load', args: 'FILE', summary: 'load configurations from a file on the master', minArgs: 1, maxArgs: 1 },
];

const BY_NAME = new Map(MASTER_COMMANDS.map((c) => [c.name, c]));
const BY_LOWER_NAME = new Map(MASTER_COMMANDS.map((c) => [c.name.toLowerCase(), c]));

/** The command named `name` (exact, else case-insensitive), or undefined. */
export function findMasterCommand(name: string): MasterCommand | undefined {
  return BY_NAME.get(name) ?? BY_LOWER_NAME.get(name.toLowerCase());
}

/** `Usage: exec config NODE [FLOW] 'SOURCE' 'SINK'` */
export function masterUsage(verb: 'exec' | 'submit', cmd: MasterCommand): string {
  return `Usage: ${verb} ${cmd.name}${cmd.args ? ' ' + cmd.args : ''}`;
}

/** Why `args` do not fit `cmd`, or undefined when they do. */
export function checkMasterArgs(cmd: MasterCommand, args: readonly string[]): string | undefined {
  return arityProblem(cmd.name, args.length, cmd.minArgs, cmd.maxArgs);
}

export function arityProblem(name: string, count: number, min: number, max: number): string | undefined {
  if (count >= min && count <= max) return undefined;
  const wanted = min === max ? `${min}` : max === MANY ? `at least ${min}` : `${min} to ${max}`;
  return `${name} takes ${wanted} argument${wanted === '1' ? '' : 's'}, got ${count}`;
}
