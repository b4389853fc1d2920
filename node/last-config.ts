/**
 * The last known config of a physical node: what its master last told it to run (every logical
 * node's spec and version) and the automatic chains its agents last followed, kept in
 * `<data>/last-config.json` so that a node started while no master answers runs its flows at once
 * (sources listen, its WAL drains to the collectors it knew) instead of nothing.
 *
 * DESIGN
 * - Written as the master's word arrives (a new desired set, a chain's new version), never from
 *   what the node itself decided. The master's answer after a start wins over this file
 *   (node/master-mode.ts): the file only bridges the time until one answers.
 * - Durable and whole: the new content goes to `last-config.json.tmp`, is fsync'd, renamed over
 *   the old file, and the directory is synced (core/sync-dir.ts). A crash leaves the old file or
 *   the new one, never half of either. A file that does not parse is reported and ignored (the
 *   node then waits for a master, as it did before this file existed).
 * - One write at a time; changes that arrive meanwhile are written together by the next one
 *   (the last state wins), so a burst of chain changes is one or two writes, not one each.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '../core/logger';
import { syncDir } from '../core/sync-dir';
import type { DesiredLogicalNode, DesiredSet } from './master-client';

const LAST_CONFIG_FILE = 'last-config.json';
/** Bumped if the shape changes; a file of another format is ignored. */
const FORMAT = 1;

/** One automatic chain as the master last gave it: (logical, flow) -> version and collectors. */
export interface KnownChain {
  logical: string;
  flow: string;
  version: number;
  collectors: string[];
}

export interface LastConfig {
  /** When the master's word was last written (ms since the epoch). */
  savedAt: number;
  nodes: Record<string, DesiredLogicalNode>;
  chains: KnownChain[];
}

export class LastConfigFile {
  readonly file: string;
  private state: LastConfig;
  private writing: Promise<void> | null = null;
  private dirty = false;
  private readonly log: Logger;

  /** Reads the file if there is one (a damaged one is reported and treated as absent). */
  constructor(
    readonly dir: string,
    logger: Logger,
  ) {
    this.file = path.join(dir, LAST_CONFIG_FILE);
    this.log = logger.child({ component: 'last-config' });
    this.state = this.read() ?? { savedAt: 0, nodes: {}, chains: [] };
  }

  /** What the file held at start, or the latest state saved since. */
  get config(): LastConfig {
    return this.state;
  }

  /** Whether the file gave (or was given) any logical node to run. */
  get hasNodes(): boolean {
    return Object.keys(this.state.nodes).length > 0;
  }

  /** The master's desired set now; chains of logical nodes no longer desired are dropped. */
  saveNodes(desired: DesiredSet): Promise<void> {
    const nodes: Record<string, DesiredLogicalNode> = {};
    for (const [name, d] of desired) nodes[name] = { version: d.version, flow: d.flow, source: d.source, sink: d.sink };
    this.state = { savedAt: Date.now(), nodes, chains: this.state.chains.filter((c) => c.logical in nodes) };
    return this.persist();
  }

  /** A chain's new version from the master. */
  saveChain(chain: KnownChain): Promise<void> {
    const chains = this.state.chains.filter((c) => c.logical !== chain.logical || c.flow !== chain.flow);
    chains.push({ ...chain, collectors: [...chain.collectors] });
    this.state = { ...this.state, savedAt: Date.now(), chains };
    return this.persist();
  }

  /** Resolves once what was saved so far is on disk. */
  async flushed(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private read(): LastConfig | null {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn('Cannot read the last known config.', { file: this.file, error: (err as Error).message });
      return null;
    }
    try {
      const parsed = JSON.parse(text) as { format?: number } & Partial<LastConfig>;
      if (parsed.format !== FORMAT || typeof parsed.nodes !== 'object' || !Array.isArray(parsed.chains)) {
        throw new Error(`not a format ${FORMAT} last-config file`);
      }
      return { savedAt: Number(parsed.savedAt ?? 0), nodes: parsed.nodes ?? {}, chains: parsed.chains };
    } catch (err) {
      this.log.warn('Ignored a damaged last known config; waiting for a master instead.', {
        file: this.file,
        error: (err as Error).message,
      });
      return null;
    }
  }

  private persist(): Promise<void> {
    this.dirty = true;
    this.writing ??= this.writeLoop().finally(() => (this.writing = null));
    return this.flushed();
  }

  private async writeLoop(): Promise<void> {
    while (this.dirty) {
      this.dirty = false;
      const text = JSON.stringify({ format: FORMAT, ...this.state }, null, 1) + '\n';
      const tmp = `${this.file}.tmp`;
      try {
        await fsp.mkdir(this.dir, { recursive: true });
        const handle = await fsp.open(tmp, 'w');
        try {
          await handle.writeFile(text);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await fsp.rename(tmp, this.file);
        await syncDir(this.dir);
      } catch (err) {
        // The old file stays whole; the next change tries again.
        this.log.warn('Could not save the last known config.', { file: this.file, error: (err as Error).message });
      }
    }
  }
}
