/**
 * Automatic chains on the node side, in master mode: a {@link ChainSource} that asks the master
 * (GetChain) for each watched agent's collector list about once per heartbeat and tells the
 * watchers when the master's version of the list changes; and the collector side's
 * registration (`advertise`), which rides on the heartbeat as the logical node's `listen`.
 *
 * Polling rather than a server push: the heartbeat already is the node's one link to the
 * master, it fails over between masters, and every master answers GetChain the same
 * (master/chains.ts), so a poll after a failover changes nothing unless the chain did. The master
 * derives each agent's list by rendezvous hashing, so only the agents whose list changed see a
 * new version; the others' sinks are not touched.
 *
 * Last known chains (node/last-config.ts): a chain the master gave before the node restarted is
 * known from the start, so an agent opened while no master answers sends to the collectors it
 * knew at once; `current` answers a known chain without waiting and asks the master behind it,
 * and the master's answer replaces the known one (its watchers are told if it differs).
 * `onChange` hears every new version, to save it.
 *
 * Ordering: the watchers of one (logical, flow) are called in registration order, one version
 * after the other, never with an older version after a newer one (one request at a time each).
 */
import type { ChainSource } from '../core/component';
import type { Logger } from '../core/logger';
import type { WireChainReply } from '../proto/messages';
import type { KnownChain } from './last-config';

/** What the chain source needs of the master client (node/master-client.ts). */
export interface ChainClient {
  getChain(logical: string, flow: string): Promise<WireChainReply>;
  setListen(logical: string, address: string): void;
  /** The heartbeat interval now. */
  readonly interval: number;
}

type Watcher = (collectors: string[]) => void;

interface Entry {
  logical: string;
  flow: string;
  /** 0: never answered. */
  version: number;
  collectors: string[];
  watchers: Set<Watcher>;
  inflight: Promise<void> | undefined;
}

export interface ChainSourceOptions {
  /** Chains the master gave before this start (node/last-config.ts). */
  known?: readonly KnownChain[];
  /** Called with each new version of a chain from the master. */
  onChange?: (chain: KnownChain) => void;
}

export class MasterChainSource implements ChainSource {
  private readonly entries = new Map<string, Entry>();
  /** The latest version of each chain heard of (from the master, or from the last known config). */
  private readonly known = new Map<string, KnownChain>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private readonly log: Logger;

  constructor(
    private readonly client: ChainClient,
    logger: Logger,
    private readonly options: ChainSourceOptions = {},
  ) {
    this.log = logger.child({ component: 'chains' });
    for (const c of options.known ?? []) this.known.set(this.key(c.logical, c.flow), c);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async current(logical: string, flow = ''): Promise<string[]> {
    const entry = this.entry(logical, flow);
    if (entry.version > 0 && !entry.inflight) {
      // Known (from the master or from before a restart): answer now, ask the master behind it.
      void this.refresh(entry).catch((err: Error) => this.log.debug('GetChain failed.', { logical, flow, error: err.message }));
      return [...entry.collectors];
    }
    try {
      await this.refresh(entry);
    } catch (err) {
      this.log.debug('GetChain failed.', { logical, flow, error: (err as Error).message });
    }
    if (entry.watchers.size === 0 && !entry.inflight) this.entries.delete(this.key(logical, flow));
    return [...entry.collectors];
  }

  watch(logical: string, flow: string | undefined, cb: Watcher): () => void {
    const entry = this.entry(logical, flow ?? '');
    entry.watchers.add(cb);
    return () => {
      entry.watchers.delete(cb);
      if (entry.watchers.size === 0) this.entries.delete(this.key(entry.logical, entry.flow));
    };
  }

  advertise(logical: string, address: string): () => void {
    this.client.setListen(logical, address);
    this.log.info('Registered as a collector for automatic chains.', { logical, address });
    return () => this.client.setListen(logical, '');
  }

  private key(logical: string, flow: string): string {
    return `${logical}\0${flow}`;
  }

  private entry(logical: string, flow: string): Entry {
    const key = this.key(logical, flow);
    let e = this.entries.get(key);
    if (!e) {
      const known = this.known.get(key);
      e = {
        logical,
        flow,
        version: known?.version ?? 0,
        collectors: [...(known?.collectors ?? [])],
        watchers: new Set(),
        inflight: undefined,
      };
      this.entries.set(key, e);
    }
    return e;
  }

  /** One GetChain for `entry` (joined if one is in flight); calls the watchers on a new version. */
  private refresh(entry: Entry): Promise<void> {
    entry.inflight ??= this.client
      .getChain(entry.logical, entry.flow)
      .then((reply) => {
        if (reply.version === entry.version && sameList(reply.collectors, entry.collectors)) return;
        entry.version = reply.version;
        entry.collectors = reply.collectors;
        const chain = { logical: entry.logical, flow: entry.flow, version: reply.version, collectors: [...reply.collectors] };
        this.known.set(this.key(entry.logical, entry.flow), chain);
        this.options.onChange?.(chain);
        this.log.info('Automatic chain changed.', {
          logical: entry.logical,
          collectors: reply.collectors.join(','),
          version: reply.version,
        });
        for (const cb of entry.watchers) {
          try {
            cb([...reply.collectors]);
          } catch (err) {
            this.log.error('A chain watcher failed.', { logical: entry.logical, error: (err as Error).message });
          }
        }
      })
      .finally(() => (entry.inflight = undefined));
    return entry.inflight;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.poll().finally(() => this.schedule()), this.client.interval);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const watched = [...this.entries.values()].filter((e) => e.watchers.size > 0);
    await Promise.all(
      watched.map((e) =>
        this.refresh(e).catch((err: Error) => {
          this.log.debug('GetChain failed; asking again next time.', { logical: e.logical, error: err.message });
        }),
      ),
    );
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
