/**
 * The shell's state between commands: the masters of the last `connect` (the one in use, and
 * the others to fail over to: with ZooKeeper any master answers with the same view), the id
 * of the last command this shell submitted, and a short-lived cache of node names for
 * completion. Also the polling loops behind `exec`, `wait` and `waitForNodes*`.
 *
 * One command runs at a time (the node-name refresh may run beside it; it never fails over).
 * The polling loops stop when their AbortSignal fires (Ctrl-C).
 */
import { randomBytes } from 'node:crypto';
import { Backoff, sleep } from '../core/retry';
import { FlumeError } from '../core/errors';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { ChannelCredentials } from '@grpc/grpc-js';
import {
  AdminCallError,
  AdminClient,
  CommandStatus,
  ConnectError,
  LogicalConfig,
  MasterAddress,
  NodeStatus,
  enumName,
  formatAddress,
  parseAddress,
} from './admin-client';

export const SESSION_DEFAULTS = {
  /** How long `connect` waits for the master to answer. */
  connectTimeoutMs: 5_000,
  /** How long `exec` waits for its command to finish. */
  execTimeoutMs: 60_000,
  /** `wait` without a time, as in Flume OG. */
  waitDefaultMs: 10_000,
  /** First and last delay between two polls of the master. */
  pollMinMs: 50,
  pollMaxMs: 500,
  /** How long node names fetched for completion stay fresh. */
  nodeNamesTtlMs: 3_000,
};

export type SessionOptions = typeof SESSION_DEFAULTS;

export class NotConnectedError extends FlumeError {
  constructor() {
    super('not connected to a master: use connect HOST[:PORT] (or start the shell with -c HOST:PORT)');
  }
}

class UnknownCommandIdError extends FlumeError {
  override readonly grpcCode = grpcStatus.NOT_FOUND;
  constructor(readonly id: number) {
    super(`Command id ${id} does not exist (never submitted, or dropped from the master's history)`);
  }
}

function failsOver(err: unknown, repeatable: boolean): boolean {
  if (!(err instanceof AdminCallError)) return false;
  return err.code === grpcStatus.UNAVAILABLE || (repeatable && err.code === grpcStatus.DEADLINE_EXCEEDED);
}

/** The result of waiting for something: done, or timed out with what was still pending. */
export type WaitResult<T> = { done: true; value: T } | { done: false; value: T };

export class Session {
  private client: AdminClient | undefined;
  private names: { at: number; names: string[] } | undefined;
  private refreshing: Promise<void> | undefined;
  /** Every master of the last `connect` list, in the order given (failover order). */
  private targets: MasterAddress[] = [];
  /** Told when a call moved the session to another master of the list. */
  onFailover: ((from: string, to: string, reason: string) => void) | undefined;
  /** The id of the last command submitted from this shell (what `wait` waits for). */
  lastCommandId: number | undefined;

  /** `credentials`: how AdminClients reach masters (core/tls `personCredentials`; default plaintext). */
  constructor(
    readonly options: SessionOptions = SESSION_DEFAULTS,
    private readonly credentials?: ChannelCredentials,
  ) {}

  get connected(): boolean {
    return this.client !== undefined;
  }

  /** `host:port` of the master, or undefined when disconnected. */
  get address(): string | undefined {
    return this.client?.address;
  }

  /**
   * Runs `fn` against the current master. When that master does not answer (UNAVAILABLE: down,
   * or its view is not current; or DEADLINE_EXCEEDED, for a `repeatable` call), moves on to the
   * next master of the `connect` list that answers and runs `fn` there, trying each master
   * once. A call that may have had an effect (a Submit without a client id) is not repeatable.
   */
  async call<T>(fn: (admin: AdminClient) => Promise<T>, repeatable = true): Promise<T> {
    if (!this.client) throw new NotConnectedError();
    const first = this.client;
    let lastError: unknown;
    try {
      return await fn(first);
    } catch (err) {
      if (!failsOver(err, repeatable) || this.targets.length < 2) throw err;
      lastError = err;
    }
    const start = this.targets.findIndex((t) => formatAddress(t) === first.address);
    for (let i = 1; i < this.targets.length; i++) {
      const candidate = new AdminClient(this.targets[(start + i) % this.targets.length], undefined, this.credentials);
      try {
        await candidate.connect(this.options.connectTimeoutMs);
      } catch {
        candidate.close();
        continue;
      }
      this.use(candidate);
      this.onFailover?.(first.address, candidate.address, (lastError as Error).message);
      try {
        return await fn(candidate);
      } catch (err) {
        if (!failsOver(err, repeatable)) throw err;
        lastError = err;
      }
    }
    throw lastError;
  }

  /**
   * Submits a master command exactly once. It carries a random client id, the same on every
   * resend: when the master dies mid-Submit (the command may or may not be queued) the shell
   * fails over and submits again, and a master that has seen the id answers with the first
   * command's id instead of queueing it twice (master/store/types.ts). That makes Submit
   * repeatable, so a Submit that timed out fails over too.
   */
  submit(command: string, args: readonly string[]): Promise<number> {
    const clientId = randomBytes(12).toString('base64url');
    return this.call((admin) => admin.submit(command, args, clientId), true);
  }

  /**
   * Connects to the first master of a comma-separated list that answers. The previous
   * connection is closed only once a new one is up, so a failed `connect` changes nothing.
   */
  async connect(list: string): Promise<string> {
    const targets: MasterAddress[] = list
      .split(',')
      .filter((s) => s.trim() !== '')
      .map((s) => parseAddress(s));
    if (targets.length === 0) throw new ConnectError(list, 'no address given');
    const failures: Error[] = [];
    for (const target of targets) {
      const candidate = new AdminClient(target, undefined, this.credentials);
      try {
        await candidate.connect(this.options.connectTimeoutMs);
        this.use(candidate);
        this.targets = targets;
        return candidate.address;
      } catch (err) {
        candidate.close();
        failures.push(err as Error);
      }
    }
    if (failures.length === 1) throw failures[0];
    throw new ConnectError(targets.map(formatAddress).join(','), `no master answered:\n  ${failures.map((e) => e.message).join('\n  ')}`);
  }

  disconnect(): void {
    this.client?.close();
    this.client = undefined;
    this.targets = [];
    this.names = undefined;
  }

  private use(client: AdminClient): void {
    this.client?.close();
    this.client = client;
    this.names = undefined;
  }

  /**
   * Polls command `id` until it SUCCEEDED or FAILED, or `timeoutMs` passed (0: no limit).
   * Returns the last status seen.
   */
  async waitForCommand(id: number, timeoutMs: number, signal: AbortSignal): Promise<WaitResult<CommandStatus>> {
    return this.poll(timeoutMs, signal, async () => {
      const status = await this.call((admin) => admin.commandStatus(id)).catch((err: unknown) => {
        if (err instanceof AdminCallError && err.code === grpcStatus.NOT_FOUND) throw new UnknownCommandIdError(id);
        throw err;
      });
      const state = enumName('CommandState', status.state);
      return { done: state === 'SUCCEEDED' || state === 'FAILED', value: status };
    });
  }

  /**
   * Polls node status until every node of `names` satisfies `ready`, or `timeoutMs` passed
   * (0: no limit). Returns the names still not ready with their state (empty when done).
   */
  async waitForNodes(
    names: readonly string[],
    ready: (n: NodeView) => boolean,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<WaitResult<string[]>> {
    return this.poll(timeoutMs, signal, async () => {
      const nodes = await this.call((admin) => admin.nodeStatus());
      const configs = await this.call((admin) => admin.configs());
      const views = nodeViews(nodes, configs);
      const pending = names
        .filter((n) => {
          const v = views.get(n);
          return !v || !ready(v);
        })
        .map((n) => describeView(n, views.get(n)));
      return { done: pending.length === 0, value: pending };
    });
  }

  /**
   * Node names known from the master, for completion: what the last refresh found. A stale
   * cache starts a refresh in the background (its result serves the next call).
   */
  cachedNodeNames(): readonly string[] {
    if (!this.names || Date.now() - this.names.at >= this.options.nodeNamesTtlMs) void this.refreshNodeNames();
    return this.names?.names ?? [];
  }

  /**
   * Fetches the names of physical and logical nodes (status, configs, mappings) into the
   * cache. One refresh at a time; never throws (a master that does not answer leaves the
   * cache as it was).
   */
  refreshNodeNames(): Promise<void> {
    if (!this.client) return Promise.resolve();
    this.refreshing ??= this.fetchNodeNames(this.client).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async fetchNodeNames(admin: AdminClient): Promise<void> {
    const names = new Set<string>();
    const [nodes, configs, mappings] = await Promise.allSettled([admin.nodeStatus(), admin.configs(), admin.mappings()]);
    if (nodes.status === 'fulfilled') {
      for (const n of nodes.value) {
        names.add(n.physical);
        for (const l of n.logical) names.add(l.name);
      }
    }
    if (configs.status === 'fulfilled') for (const c of configs.value) names.add(c.logical);
    if (mappings.status === 'fulfilled') {
      for (const m of mappings.value) {
        names.add(m.physical);
        for (const l of m.logical) names.add(l);
      }
    }
    names.delete('');
    if (admin === this.client) this.names = { at: Date.now(), names: [...names].sort() };
  }

  private async poll<T>(timeoutMs: number, signal: AbortSignal, check: () => Promise<WaitResult<T>>): Promise<WaitResult<T>> {
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Number.POSITIVE_INFINITY;
    // pollMinMs first, then growing with jitter up to pollMaxMs: many shells do not poll in step.
    const backoff = new Backoff({ initialMs: this.options.pollMinMs, maxMs: this.options.pollMaxMs, jitter: 'decorrelated' });
    for (;;) {
      const result = await check();
      if (result.done || Date.now() >= deadline) return result;
      await sleep(Math.min(backoff.next(), Math.max(0, deadline - Date.now())), signal);
    }
  }
}

/** What `waitForNodes*` looks at for one name: a logical node, or a physical node. */
export interface NodeView {
  name: string;
  state: string;
  /** Config version a logical node runs; undefined for a physical node. */
  configVersion: number | undefined;
  /** Version of the master's config for this name; undefined when the master has none. */
  wantedVersion: number | undefined;
}

/**
 * Views by name. A logical node's view wins over a physical node of the same name (the node
 * an unmapped physical node runs); a logical node on a LOST physical node is LOST, whatever
 * it last reported. `configs` give each name the version the master wants it to run.
 */
export function nodeViews(nodes: readonly NodeStatus[], configs: readonly LogicalConfig[] = []): Map<string, NodeView> {
  const views = new Map<string, NodeView>();
  for (const n of nodes) {
    const physicalState = enumName('NodeState', n.state);
    if (!views.has(n.physical)) {
      views.set(n.physical, { name: n.physical, state: physicalState, configVersion: undefined, wantedVersion: undefined });
    }
    for (const l of n.logical) {
      const state = physicalState === 'LOST' ? 'LOST' : enumName('NodeState', l.state);
      views.set(l.name, { name: l.name, state, configVersion: l.configVersion, wantedVersion: undefined });
    }
  }
  for (const c of configs) {
    const view = views.get(c.logical);
    if (view) view.wantedVersion = c.version;
  }
  return views;
}

/**
 * Runs the config the master has for it now (a version at least the master's), or, with no
 * config on the master, any config at all (Flume OG's "version != 0"). So a wait right after
 * `exec config` or `refresh` waits for the new version, not the one running before.
 */
function runsWantedConfig(v: NodeView): boolean {
  if (v.wantedVersion === undefined) return v.configVersion !== 0;
  return (v.configVersion ?? 0) >= v.wantedVersion;
}

/** ACTIVE with the config the master wants it to run. */
export function isActive(v: NodeView): boolean {
  return v.state === 'ACTIVE' && runsWantedConfig(v);
}

/** Finished running: IDLE or ERROR with the wanted config, or LOST, or DECOMMISSIONED. */
export function isDone(v: NodeView): boolean {
  if (v.state === 'LOST' || v.state === 'DECOMMISSIONED') return true;
  return (v.state === 'IDLE' || v.state === 'ERROR') && runsWantedConfig(v);
}

/** `web01 (ACTIVE, runs v3 of v4)` for the list of nodes a wait still waits for. */
export function describeView(name: string, v: NodeView | undefined): string {
  if (!v) return `${name} (unknown to the master)`;
  const versions = v.wantedVersion === undefined ? '' : `, runs v${v.configVersion ?? 0} of v${v.wantedVersion}`;
  return `${name} (${v.state}${versions})`;
}
