/**
 * The logical nodes of one physical node, driven by a desired set:
 *
 *     manager.apply({ web01: { source: 'tail("/var/log/a")', sink: 'console', version: 3 } })
 *
 * `apply` diffs the desired set against what runs: a node whose text and version are unchanged
 * is left alone; a changed one is closed and reopened with the new spec; one no longer desired is
 * closed; a version older than the one running is refused. A spec that does not parse or validate
 * leaves the node in ERROR with every problem in its status (the old one is closed first, as in
 * Flume OG: the master asked for something else). Calls to `apply` run one at a time, in order.
 * Nodes opened from the last known config (`{ lastKnown: true }`, node/last-config.ts) give way
 * to any version the master sends next, older or not: a master's word wins over a memory.
 *
 * The master client (node/master-client.ts) feeds `apply` from heartbeats; standalone mode feeds
 * it once from the command line.
 */
import * as path from 'node:path';
import { FlumeError } from '../core/errors';
import type { ChainSource } from '../core/component';
import type { Logger } from '../core/logger';
import type { Metrics } from '../core/metrics';
import type { Registry } from '../core/registry';
import { Backoff } from '../core/retry';
import type { LogicalNodeSpec } from '../core/spec/ast';
import { parseSink, parseSource } from '../core/spec/parser';
import { LogicalNode, type LogicalNodeOptions, type LogicalNodeState, type LogicalNodeStatus } from './logical-node';
import type { TlsContext } from '../core/tls';

/** A logical node's state as heartbeats report it (proto/messages.ts NodeStateName). */
export type ReportedState = 'IDLE' | 'CONFIGURING' | 'ACTIVE' | 'ERROR' | 'CLOSING';

export function reportedState(state: LogicalNodeState): ReportedState {
  switch (state) {
    case 'OPENING':
      return 'CONFIGURING';
    case 'CLOSED':
      return 'IDLE';
    default:
      return state;
  }
}

export interface DesiredNode {
  source: string;
  sink: string;
  version: number;
}

/** By logical node name; a Map works too (the master client's, whose entries carry more fields). */
export type DesiredSet = Readonly<Record<string, DesiredNode>> | ReadonlyMap<string, DesiredNode>;

export interface ApplyResult {
  opened: string[];
  closed: string[];
  unchanged: string[];
  /** Nodes refused (older version) and nodes that failed to parse, validate or open. */
  refused: Array<{ name: string; reason: string }>;
  failed: Array<{ name: string; error: string }>;
}

export interface ApplyOptions {
  /** The set is the node's last known config, not a master's word (see the module comment). */
  lastKnown?: boolean;
}

export interface ManagerDeps {
  registry: Registry;
  metrics: Metrics;
  logger: Logger;
  physicalNode: string;
  host: string;
  /** Each logical node gets `<dataRoot>/<name>`. */
  dataRoot: string;
  nodeOptions?: Partial<LogicalNodeOptions>;
  /** Automatic chains (master mode); see `useChains`. */
  chains?: ChainSource;
  /** Mutual TLS for the components' listeners and clients (absent: insecure mode). */
  tls?: TlsContext;
  /** Why components may not use the network (core/component.ts `networkTls`). */
  tlsRefusal?: string;
}

export interface ManagedNodeStatus extends LogicalNodeStatus {
  version: number;
}

interface Entry {
  desired: DesiredNode;
  node: LogicalNode | null;
  /** Set when the spec could not be parsed, validated or opened. */
  error?: string;
  /** Delays after failed opens in a row, and when the next `apply` may try again. */
  backoff: Backoff;
  /** Opened from the last known config and not yet confirmed by a master. */
  lastKnown: boolean;
  retryAt: number;
}

/** A node that failed to open is tried again by a later `apply` after this backoff (growing, never shorter than 1 s). */
const REOPEN_BACKOFF = { initialMs: 1_000, maxMs: 60_000, jitter: 'decorrelated' } as const;

const NODE_NAME = /^[A-Za-z0-9_.-]+$/;

export class LogicalNodeManager {
  private readonly entries = new Map<string, Entry>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly deps: ManagerDeps) {
    this.log = deps.logger.child({ component: 'manager' });
  }

  /** Gives logical nodes opened from now on the master's automatic chains (master mode sets it first). */
  useChains(chains: ChainSource): void {
    this.deps.chains = chains;
  }

  /** Brings the running nodes to the desired set; see the module comment. */
  apply(desired: DesiredSet, options: ApplyOptions = {}): Promise<ApplyResult> {
    const run = this.queue.then(() => this.doApply(desired, options.lastKnown === true));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Opens nodes from already-parsed specs (standalone mode), all at version 0. */
  applySpecs(specs: readonly LogicalNodeSpec[]): Promise<ApplyResult> {
    const desired: Record<string, DesiredNode> = {};
    for (const s of specs) desired[s.name] = { source: s.sourceText, sink: s.sinkText, version: 0 };
    return this.apply(desired);
  }

  /** The running node of a name, if any. */
  node(name: string): LogicalNode | undefined {
    return this.entries.get(name)?.node ?? undefined;
  }

  names(): string[] {
    return [...this.entries.keys()].sort();
  }

  status(): ManagedNodeStatus[] {
    return this.names().map((name) => {
      const e = this.entries.get(name)!;
      if (e.node)
        return { ...e.node.status(), version: e.desired.version, ...(e.error ? { state: 'ERROR' as const, error: e.error } : {}) };
      return {
        name,
        state: 'ERROR' as const,
        source: e.desired.source,
        sink: e.desired.sink,
        channel: null,
        error: e.error ?? 'not running',
        counters: {},
        version: e.desired.version,
      };
    });
  }

  /** Closes every node (in parallel); what SIGTERM does. */
  closeAll(timeoutMs?: number): Promise<void> {
    const run = this.queue.then(async () => {
      const nodes = [...this.entries.values()].map((e) => e.node).filter((n): n is LogicalNode => n !== null);
      await Promise.allSettled(nodes.map((n) => n.close(timeoutMs)));
      this.entries.clear();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async doApply(desiredSet: DesiredSet, lastKnown: boolean): Promise<ApplyResult> {
    const desired: Record<string, DesiredNode> = {};
    const entries = desiredSet instanceof Map ? desiredSet.entries() : Object.entries(desiredSet);
    for (const [name, d] of entries as Iterable<[string, DesiredNode]>)
      desired[name] = { source: d.source, sink: d.sink, version: d.version };
    const result: ApplyResult = { opened: [], closed: [], unchanged: [], refused: [], failed: [] };
    const closing: Promise<void>[] = [];
    for (const [name, entry] of this.entries) {
      if (name in desired) continue;
      this.entries.delete(name);
      if (entry.node) closing.push(entry.node.close());
      result.closed.push(name);
    }
    const toOpen: Array<[string, DesiredNode]> = [];
    for (const [name, want] of Object.entries(desired)) {
      const have = this.entries.get(name);
      if (have && want.version < have.desired.version && !have.lastKnown) {
        result.refused.push({ name, reason: `version ${want.version} is older than the running version ${have.desired.version}` });
        continue;
      }
      const same = have && want.version === have.desired.version && want.source === have.desired.source && want.sink === have.desired.sink;
      // A node that failed to open (a port taken, a directory missing) is tried again, with backoff.
      if (same && !(have.error !== undefined && Date.now() >= have.retryAt)) {
        if (!lastKnown) have.lastKnown = false;
        result.unchanged.push(name);
        continue;
      }
      if (have?.node) {
        closing.push(have.node.close());
        if (have.error === undefined) result.closed.push(name);
      }
      toOpen.push([name, want]);
    }
    await Promise.allSettled(closing);
    await Promise.all(toOpen.map(([name, want]) => this.openOne(name, want, lastKnown, result)));
    if (result.opened.length + result.closed.length + result.failed.length + result.refused.length > 0) {
      this.log.info('desired set applied', {
        opened: result.opened,
        closed: result.closed,
        refused: result.refused.map((r) => r.name),
        failed: result.failed.map((f) => f.name),
      });
    }
    return result;
  }

  private async openOne(name: string, want: DesiredNode, lastKnown: boolean, result: ApplyResult): Promise<void> {
    const previous = this.entries.get(name);
    const retrying = previous?.error !== undefined && previous.desired.version === want.version;
    const entry: Entry = {
      desired: want,
      node: null,
      backoff: retrying ? previous.backoff : new Backoff(REOPEN_BACKOFF),
      retryAt: 0,
      lastKnown,
    };
    this.entries.set(name, entry);
    try {
      if (!NODE_NAME.test(name)) throw new FlumeError(`logical node name ${JSON.stringify(name)} must use letters, digits, '_', '.', '-'`);
      const spec = this.parse(name, want);
      const node = new LogicalNode(
        spec,
        {
          registry: this.deps.registry,
          metrics: this.deps.metrics,
          logger: this.deps.logger,
          physicalNode: this.deps.physicalNode,
          host: this.deps.host,
          dataDir: path.join(this.deps.dataRoot, name),
          ...(this.deps.chains ? { chains: this.deps.chains } : {}),
          ...(this.deps.tls ? { tls: this.deps.tls } : {}),
          ...(this.deps.tlsRefusal !== undefined ? { tlsRefusal: this.deps.tlsRefusal } : {}),
        },
        this.deps.nodeOptions,
      );
      entry.node = node;
      await node.open();
      result.opened.push(name);
    } catch (err) {
      entry.error = err instanceof Error ? err.message : String(err);
      entry.retryAt = Date.now() + entry.backoff.next();
      result.failed.push({ name, error: entry.error });
    }
  }

  private parse(name: string, want: DesiredNode): LogicalNodeSpec {
    const part = <T>(what: string, text: string, parse: (t: string) => T): T => {
      try {
        return parse(text);
      } catch (err) {
        throw new FlumeError(`${what} ${JSON.stringify(text)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    };
    const source = part('source', want.source, parseSource);
    const sink = part('sink', want.sink, parseSink);
    return { name, source, sink, pos: { line: 1, column: 1 }, sourceText: want.source, sinkText: want.sink };
  }
}
