/**
 * `flume-node deadletter list|replay --data DIR [ID...]`: what the logical nodes under a data dir
 * quarantined (core/dead-letter.ts), and putting it back. Replay moves the chosen batches to
 * their store's replay folder; the running node (or the next one to start on DIR) puts them back
 * into its channel within a few seconds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type DeadLetter, DeadLetterStore } from '../core/dead-letter';

/** Every dead-letter store under `root`, by logical node (the folder holding it). */
function stores(root: string): Array<{ node: string; store: DeadLetterStore }> {
  const found: Array<{ node: string; store: DeadLetterStore }> = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 3 || !fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const full = path.join(dir, entry.name);
      if (entry.name === 'dead-letter')
        found.push({ node: path.relative(root, dir) || path.basename(dir), store: new DeadLetterStore(full) });
      else if (entry.name !== 'wal') walk(full, depth + 1);
    }
  };
  walk(root, 0);
  return found;
}

function line(node: string, l: DeadLetter): string {
  return `${node}\t${l.id}\t${l.events} events\t${l.bytes} bytes\t${new Date(l.at).toISOString()}\t${l.reason}`;
}

/** Prints what it did; returns the exit code. */
export function deadLetterCommand(action: string, dataDir: string, ids: string[], out: (s: string) => void): number {
  if (action !== 'list' && action !== 'replay') {
    out(`unknown action ${JSON.stringify(action)}: use list or replay`);
    return 2;
  }
  let total = 0;
  for (const { node, store } of stores(dataDir)) {
    const letters = action === 'list' ? store.list().filter((l) => ids.length === 0 || ids.includes(l.id)) : store.markForReplay(ids);
    for (const l of letters) out((action === 'replay' ? 'replaying\t' : '') + line(node, l));
    total += letters.length;
  }
  out(
    action === 'list'
      ? `${total} dead-lettered batch(es) under ${dataDir}`
      : `${total} batch(es) queued for replay; a running node puts them back within seconds`,
  );
  return 0;
}
