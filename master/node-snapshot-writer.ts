/**
 * The embedded master's periodic node-table snapshot, written without stalling heartbeats.
 *
 * Same file and format as store/node-snapshot.ts (`<dir>/nodes.json`, a JSON array of
 * NodeRecords, read back by `loadNodeSnapshot`), but where `saveNodeSnapshot` serializes every
 * node and writes the file in one synchronous go (10,000 nodes: 15-70 ms with the event loop
 * blocked, every few seconds, which showed up as heartbeat p99), this writer serializes
 * `SLICE` records per turn of the event loop and appends each slice to the file as it goes: the
 * whole file as one string (joined, then encoded by writeFile) was itself a 40-110 ms block.
 *
 * Rules: one save at a time (a save asked for while one runs is skipped: the next period
 * catches up); records added or removed while a save runs may or may not be in it; `close()`
 * waits for the save in progress, so the caller's last synchronous save comes after it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../core/logger';
import type { NodeRecord } from './nodes';
import { NODES_FILE } from './store/node-snapshot';

/** Records serialized per turn of the event loop (about half a millisecond of work). */
export const SLICE = 500;

function recordJson(r: NodeRecord): string {
  return JSON.stringify({
    physical: r.physical,
    host: r.host,
    role: r.role,
    state: r.state,
    lastSeen: r.lastSeen,
    startedAt: r.startedAt,
    logical: r.logical,
  });
}

export class NodeSnapshotWriter {
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly records: () => Iterable<NodeRecord>,
    private readonly logger: Logger,
  ) {}

  /** Starts a save unless one is running; resolves when it is done (errors are logged). */
  save(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.running ??= this.write()
      .catch((err: Error) => {
        this.logger.warn('Could not save the node table.', { error: err.message });
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** No more saves; resolves once the one in progress (if any) is done. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
  }

  private async write(): Promise<void> {
    const file = path.join(this.dir, NODES_FILE);
    const tmp = `${file}.${process.pid}.tmp`;
    const out = await fs.promises.open(tmp, 'w');
    try {
      let slice: string[] = [];
      let first = true;
      const flush = async (): Promise<void> => {
        await out.write(`${first ? '[' : ','}${slice.join(',')}`);
        first = false;
        slice = [];
      };
      for (const r of this.records()) {
        slice.push(recordJson(r));
        // The write of a slice resolves on a later turn of the event loop: heartbeats run in between.
        if (slice.length === SLICE) await flush();
      }
      if (slice.length > 0 || first) await flush();
      await out.write(']');
    } catch (err) {
      await out.close();
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
    await out.close();
    await fs.promises.rename(tmp, file);
  }
}
