/**
 * The text the shell prints for each answer of the master. The first lines follow Flume OG's
 * shell word for word (`Master knows about N nodes`, `\tNODE --> STATE`,
 * `[id: N] Submitted command : ...`), since scripts grep for them.
 */
import { CommandStatus, LogicalConfig, Mapping, MasterInfo, NodeStatus, enumName } from './admin-client';
import { quoteLine } from './tokenizer';

/**
 * `Master knows about N nodes`, then `\tPHYSICAL --> STATE` for each physical node (sorted by
 * name). The logical nodes a physical node runs follow it as `\t\tLOGICAL --> STATE`, except
 * the usual lone logical node named after its physical node when it is in the same state.
 */
export function formatNodeStatus(nodes: readonly NodeStatus[]): string[] {
  const sorted = [...nodes].sort((a, b) => a.physical.localeCompare(b.physical));
  const lines = [`Master knows about ${sorted.length} nodes`]; // OG's words, even for 1: scripts match them
  for (const n of sorted) {
    lines.push(`\t${n.physical} --> ${enumName('NodeState', n.state)}`);
    const onlyItself = n.logical.length === 1 && n.logical[0].name === n.physical && n.logical[0].state === n.state;
    if (onlyItself) continue;
    for (const l of [...n.logical].sort((a, b) => a.name.localeCompare(b.name))) {
      const detail = l.message ? ` (${l.message})` : '';
      lines.push(`\t\t${l.name} --> ${enumName('NodeState', l.state)}${detail}`);
    }
  }
  return lines;
}

/** OG's table: NODE, FLOW, SOURCE, SINK columns separated by tabs and padded; VERSION added. */
export function formatConfigs(configs: readonly LogicalConfig[]): string[] {
  if (configs.length === 0) return ['Master has no logical node configurations.'];
  const sorted = [...configs].sort((a, b) => a.logical.localeCompare(b.logical));
  const rows = [
    ['NODE', 'FLOW', 'SOURCE', 'SINK', 'VERSION'],
    ...sorted.map((c) => [c.logical, c.flow, c.source, c.sink, String(c.version)]),
  ];
  return table(rows);
}

export function formatMappings(mappings: readonly Mapping[], physical?: string): string[] {
  const forWhom = physical ? ` for physical node ${physical}` : '';
  const present = mappings.filter((m) => m.logical.length > 0);
  if (present.length === 0) {
    return [`No physical / logical node mappings${forWhom}. Use 'exec map PHYSICAL LOGICAL' to map one.`];
  }
  const sorted = [...present].sort((a, b) => a.physical.localeCompare(b.physical));
  const width = Math.max(30, ...sorted.map((m) => m.physical.length));
  const lines = [`Master has the following mappings${forWhom}`, '', `${'Physical Node'.padEnd(width)} --> Logical Node(s)`];
  for (const m of sorted) lines.push(`${m.physical.padEnd(width)} --> [${m.logical.join(', ')}]`);
  return lines;
}

export function formatSubmitted(id: number, command: string, args: readonly string[]): string {
  return `[id: ${id}] Submitted command : ${quoteLine([command, ...args])}`;
}

export function formatExecing(id: number, command: string, args: readonly string[]): string {
  return `[id: ${id}] Execing command : ${quoteLine([command, ...args])}`;
}

/** One line for a finished command: `Command succeeded` / `Command failed: message`. */
export function formatOutcome(status: CommandStatus): string {
  const state = enumName('CommandState', status.state);
  if (state === 'SUCCEEDED') return status.message ? `Command succeeded: ${status.message}` : 'Command succeeded';
  if (state === 'FAILED') return `Command failed: ${status.message || '(the master gave no reason)'}`;
  return `Command is ${state}`;
}

/** ID, STATE, COMMAND (re-quoted), MESSAGE; oldest first, as the master lists them. */
export function formatCommands(commands: readonly CommandStatus[]): string[] {
  if (commands.length === 0) return ['Master has no commands.'];
  return table([
    ['ID', 'STATE', 'COMMAND', 'MESSAGE'],
    ...commands.map((c) => [
      String(c.id),
      enumName('CommandState', c.state),
      quoteLine([c.command, ...c.args]).replace(/\n/g, '\\n'),
      c.message,
    ]),
  ]);
}

/** `id=m1, store=zookeeper, leader` */
export function formatMasterInfo(info: MasterInfo): string {
  return `id=${info.id}, store=${info.store}, ${info.leader ? 'leader' : 'not leader'}${info.fresh ? '' : ', NOT CURRENT'}`;
}

/** Rows of cells as lines, every column but the last padded to its widest cell, tab-separated. */
function table(rows: readonly string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('\t'));
}
