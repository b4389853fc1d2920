/**
 * The embedded master's memory of node status across restarts: the node table written to
 * `<dir>/nodes.json` every few heartbeat intervals (temp file + rename; no fsync, a lost
 * snapshot only costs the LOST state of nodes that died while the master was down) and read
 * back on start, so a node that died meanwhile shows LOST instead of vanishing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NodeRecord } from '../nodes';

export const NODES_FILE = 'nodes.json';

export function loadNodeSnapshot(dir: string): NodeRecord[] {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(dir, NODES_FILE), 'utf8')) as unknown;
    return Array.isArray(parsed) ? (parsed as NodeRecord[]) : [];
  } catch {
    return []; // missing or damaged: nodes show up again with their next heartbeat
  }
}

export function saveNodeSnapshot(dir: string, records: Iterable<NodeRecord>): void {
  const list: NodeRecord[] = [];
  for (const r of records) {
    list.push({
      physical: r.physical,
      host: r.host,
      role: r.role,
      state: r.state,
      lastSeen: r.lastSeen,
      startedAt: r.startedAt,
      logical: r.logical,
    });
  }
  const file = path.join(dir, NODES_FILE);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(list));
  fs.renameSync(`${file}.tmp`, file);
}
