/**
 * The node table: what the master knows about each physical node from its status reports (on
 * its control stream, or a unary heartbeat from an older node), and what each node must run.
 *
 * The report path is O(1) per report and allocation-light: one Map lookup, a few field writes
 * on a long-lived entry, and a reply object cached per node that is rebuilt only when a change
 * concerns that node (ChangeIndex: a config version of one of its logical nodes, its mapping),
 * and kept as the same object while its content is the same (a node's stream sends a directive
 * only when it changed). A commit marks the few entries it concerns, once, when the table first
 * meets its view; rebuilding every node's reply at its next report after every commit made ten
 * commits a second cost a rebuild (and its garbage) per report. A node in a
 * steady state sends the same bytes every time; `repeat()` recognises them and only moves the
 * last-seen time, so nothing is decoded and nothing new is kept (no promotion to the old
 * generation, so no major GC pauses driven by reports).
 *
 * With several masters a node streams to one of them at a time; each master publishes the
 * entries it hears to the others (`NodeExchange`), and `list()` merges them, newest report
 * first, so every master gives the same answer. A node is LOST when no master has heard from it
 * for `lostAfterMs`: the state is derived from the last-seen time, so no write is needed for it
 * and all masters agree.
 *
 * One live process per physical node name (`claim`). Two processes given one name (an agent
 * and a collector on one host, both defaulting to the host name) would otherwise merge into one
 * entry and take each other's config. A process is told apart by its `startedAt`: a heartbeat
 * whose startedAt differs from that of the entry's process while that process is still beating
 * (heard within `claimWindowMs` here, or within `lostAfterMs` by another master) is refused with
 * NameHeldError, and the refused claim is listed (state ERROR, a message naming the holder) for
 * as long as it keeps trying. Once the holder has been silent that long, the newcomer is taken
 * as its restart. The first holder keeps the name: a node back from a partition after its name
 * was taken is the one refused.
 */
import { status } from '@grpc/grpc-js';
import { FlumeError } from '../core/errors';
import { NodeStateCode } from '../proto/messages';
import { ChangeIndex } from './state-diff';
import { PURGE_ALL, type MasterState, type StateView } from './store/types';

export interface LogicalStatus {
  name: string;
  state: number;
  configVersion: number;
  message: string;
  /** host:port this logical node's collector source listens on; absent if it has none. */
  listen?: string;
}

/** What one master knows of one physical node. */
export interface NodeRecord {
  physical: string;
  host: string;
  role: string;
  /** Aggregate of the logical states at the last heartbeat (HELLO on the first one). */
  state: number;
  /** ms since epoch */
  lastSeen: number;
  startedAt: number;
  logical: LogicalStatus[];
}

export interface HeartbeatIn {
  physical: string;
  host: string;
  role: string;
  logical: LogicalStatus[];
  startedAt: number;
}

export interface HeartbeatOut {
  logical: string[];
  versions: Array<{ logical: string; version: number }>;
  heartbeatMs: number;
}

interface Entry extends NodeRecord {
  /** The reply last built; valid for the table's current view unless `stale`. */
  reply: HeartbeatOut | undefined;
  /** A change since `reply` was built concerns this node. */
  stale: boolean;
  /** The encoded request this entry was last updated from (own copy), if known. */
  request: Buffer | undefined;
}

/** Node status published by the other masters. */
export interface NodeExchange {
  /** The latest record of each physical node heard by another master. */
  remote(): Iterable<NodeRecord>;
  /** The latest record of one physical node heard by another master. */
  get(physical: string): NodeRecord | undefined;
}

export interface NodeTableOptions {
  heartbeatMs: number;
  /** Silence after which a node is LOST. */
  lostAfterMs: number;
}

/** A heartbeat claims a physical node name another live process holds (see NodeTable.claim). */
export class NameHeldError extends FlumeError {
  override readonly grpcCode = status.FAILED_PRECONDITION;
  constructor(
    readonly physical: string,
    readonly holderHost: string,
    readonly holderStartedAt: number,
    readonly host: string,
    readonly startedAt: number,
  ) {
    super(
      `physical node name ${physical} is held by another live process (host ${holderHost}, started ${new Date(holderStartedAt).toISOString()}); ` +
        `this one (host ${host}, started ${new Date(startedAt).toISOString()}) is refused: give each process its own name (--name)`,
    );
  }
}

/** A refused claim, listed while it keeps trying. */
interface Refused {
  host: string;
  role: string;
  startedAt: number;
  lastSeen: number;
  message: string;
}

/** The logical nodes a physical node runs: its mapping, else one of its own name. */
export function logicalNodesOf(state: Readonly<MasterState>, physical: string): string[] {
  const mapped = state.mappings[physical];
  if (mapped && mapped.length > 0) return mapped;
  return state.decommissioned.includes(physical) ? [] : [physical];
}

export class NodeTable {
  private readonly entries = new Map<string, Entry>();
  private exchange: NodeExchange | undefined;
  private readonly lostReported = new Set<string>();
  private readonly refused = new Map<string, Refused>();
  /** The view the cached replies are valid for, and the index that says which a newer one changes. */
  private revision = -1;
  private changes: ChangeIndex | undefined;

  constructor(readonly options: NodeTableOptions) {}

  /** How recently the process holding a name must have beaten here for a different one to be refused. */
  get claimWindowMs(): number {
    return Math.min(this.options.lostAfterMs, 3 * this.options.heartbeatMs);
  }

  /**
   * Whether the process that started at `startedAt` may use the name `physical`; throws
   * NameHeldError (FAILED_PRECONDITION) if another live process holds it, and records the refusal
   * for `list()`. O(1). Whatever carries node status (heartbeats, a control stream) calls it
   * before taking the status in, for every message that is not a byte-for-byte repeat.
   */
  claim(physical: string, host: string, role: string, startedAt: number, now: number): void {
    const local = this.entries.get(physical);
    let holder: NodeRecord | undefined;
    if (local && local.startedAt !== startedAt && now - local.lastSeen <= this.claimWindowMs) holder = local;
    else if (!local || local.startedAt !== startedAt) {
      const remote = this.exchange?.get(physical);
      if (
        remote &&
        remote.startedAt !== startedAt &&
        remote.lastSeen > (local?.lastSeen ?? -1) &&
        now - remote.lastSeen <= this.options.lostAfterMs
      )
        holder = remote;
    }
    if (!holder) {
      if (this.refused.size > 0 && this.refused.get(physical)?.startedAt === startedAt) this.refused.delete(physical);
      return;
    }
    const err = new NameHeldError(physical, holder.host, holder.startedAt, host, startedAt);
    this.refused.set(physical, { host, role, startedAt, lastSeen: now, message: err.message });
    throw err;
  }

  setExchange(exchange: NodeExchange): void {
    this.exchange = exchange;
  }

  /**
   * Records a heartbeat and returns the reply (shared, do not modify). `request`, the bytes `hb`
   * was decoded from, lets the next identical heartbeat take `repeat()`; it is copied.
   */
  heartbeat(hb: HeartbeatIn, view: StateView, now: number, request?: Buffer): HeartbeatOut {
    this.claim(hb.physical, hb.host, hb.role, hb.startedAt, now);
    let entry = this.entries.get(hb.physical);
    if (!entry) {
      entry = {
        physical: hb.physical,
        host: hb.host,
        role: hb.role,
        state: NodeStateCode.HELLO,
        lastSeen: now,
        startedAt: hb.startedAt,
        logical: hb.logical,
        reply: undefined,
        stale: false,
        request: undefined,
      };
      this.entries.set(hb.physical, entry);
    } else {
      entry.host = hb.host;
      entry.role = hb.role;
      entry.startedAt = hb.startedAt;
      entry.logical = hb.logical;
      entry.lastSeen = now;
      entry.state = aggregate(hb.logical);
    }
    // Only a settled entry (past HELLO) may be repeated: the next beat must still compute its state.
    entry.request = request && entry.state !== NodeStateCode.HELLO ? Buffer.from(request) : undefined;
    return this.touched(entry, view);
  }

  /**
   * The reply to a heartbeat from `physical` whose bytes equal those of its last recorded one,
   * after moving its last-seen time; undefined if they differ (decode it and call `heartbeat`).
   */
  repeat(physical: string, request: Buffer, view: StateView, now: number): HeartbeatOut | undefined {
    const entry = this.entries.get(physical);
    if (!entry || entry.request === undefined || !entry.request.equals(request)) return undefined;
    entry.lastSeen = now;
    return this.touched(entry, view);
  }

  /** The reply of a node already recorded, at `view` (a node's stream asks after a change); undefined if unknown. */
  replyFor(physical: string, view: StateView): HeartbeatOut | undefined {
    const entry = this.entries.get(physical);
    return entry && this.reply(entry, view);
  }

  private touched(entry: Entry, view: StateView): HeartbeatOut {
    if (this.lostReported.size > 0) this.lostReported.delete(entry.physical);
    return this.reply(entry, view);
  }

  private reply(entry: Entry, view: StateView): HeartbeatOut {
    if (view.revision !== this.revision) this.advance(view);
    if (!entry.reply || entry.stale) {
      const logical = logicalNodesOf(view.state, entry.physical);
      const versions = logical.map((name) => ({ logical: name, version: view.state.configs[name]?.version ?? 0 }));
      // The same object while its content is the same: a node's stream compares by identity first.
      if (!entry.reply || !sameVersions(entry.reply.versions, versions) || entry.reply.logical.length !== logical.length) {
        entry.reply = { logical, versions, heartbeatMs: this.options.heartbeatMs };
      }
      entry.stale = false;
    }
    return entry.reply;
  }

  /** Moves the cached replies to `view`: those of the nodes its change concerns become stale. */
  private advance(view: StateView): void {
    this.revision = view.revision;
    if (!this.changes) {
      this.changes = new ChangeIndex(view);
      for (const e of this.entries.values()) e.stale = true;
      return;
    }
    for (const physical of this.changes.advance(view)) {
      const e = this.entries.get(physical);
      if (e) e.stale = true;
    }
  }

  /** Adds records of nodes not heard since (what this master published before a restart). */
  seed(records: NodeRecord[]): void {
    for (const r of records) {
      if (!this.entries.has(r.physical)) this.entries.set(r.physical, { ...r, reply: undefined, stale: false, request: undefined });
    }
  }

  /** Entries heard by this master (for publishing to the others). */
  local(): IterableIterator<NodeRecord> {
    return this.entries.values();
  }

  /** Forgets local entries last seen at or before `before` (purge). */
  forget(physical: string, before: number): void {
    const e = this.entries.get(physical);
    if (e && e.lastSeen <= before) this.entries.delete(physical);
  }

  /**
   * Every node known to any master, newest heartbeat wins, purged ones left out, with the state
   * LOST for those silent too long. Sorted by name.
   */
  list(state: Readonly<MasterState>, now: number): NodeRecord[] {
    const merged = new Map<string, NodeRecord>();
    const consider = (r: NodeRecord): void => {
      const purgedAt = Math.max(state.purged[r.physical] ?? -1, state.purged[PURGE_ALL] ?? -1);
      if (r.lastSeen <= purgedAt) return;
      const have = merged.get(r.physical);
      if (!have || have.lastSeen < r.lastSeen) merged.set(r.physical, r);
    };
    for (const e of this.entries.values()) consider(e);
    if (this.exchange) for (const r of this.exchange.remote()) consider(r);
    const out: NodeRecord[] = [];
    for (const r of merged.values()) {
      const lost = now - r.lastSeen > this.options.lostAfterMs;
      out.push({
        physical: r.physical,
        host: r.host,
        role: r.role,
        lastSeen: r.lastSeen,
        startedAt: r.startedAt,
        state: lost ? NodeStateCode.LOST : r.state,
        logical: r.logical.map((l) => ({ ...l, state: lost ? NodeStateCode.LOST : l.state })),
      });
    }
    // Refused claims still trying, after the holder's entry (the sort is stable).
    for (const [physical, r] of this.refused) {
      if (now - r.lastSeen > this.claimWindowMs) {
        this.refused.delete(physical);
        continue;
      }
      out.push({
        physical,
        host: r.host,
        role: r.role,
        lastSeen: r.lastSeen,
        startedAt: r.startedAt,
        state: NodeStateCode.ERROR,
        logical: [{ name: physical, state: NodeStateCode.ERROR, configVersion: 0, message: r.message }],
      });
    }
    return out.sort((a, b) => (a.physical < b.physical ? -1 : a.physical > b.physical ? 1 : 0));
  }

  /**
   * Names of the nodes that became LOST since the last call (the leader logs and counts them).
   * Allocates only for nodes that look lost: it runs every heartbeat interval over every node.
   */
  newlyLost(state: Readonly<MasterState>, now: number): string[] {
    const lost: string[] = [];
    const purgedAll = state.purged[PURGE_ALL] ?? -1;
    const consider = (r: NodeRecord): void => {
      if (now - r.lastSeen <= this.options.lostAfterMs) {
        if (this.lostReported.size > 0) this.lostReported.delete(r.physical); // back (maybe via another master)
        return;
      }
      if (this.lostReported.has(r.physical)) return;
      if (r.lastSeen <= Math.max(purgedAll, state.purged[r.physical] ?? -1)) return;
      const local = this.entries.get(r.physical);
      const remote = this.exchange?.get(r.physical);
      if (local && now - local.lastSeen <= this.options.lostAfterMs) return;
      if (remote && now - remote.lastSeen <= this.options.lostAfterMs) return;
      this.lostReported.add(r.physical);
      lost.push(r.physical);
    };
    for (const e of this.entries.values()) consider(e);
    if (this.exchange) for (const r of this.exchange.remote()) consider(r);
    return lost;
  }
}

function sameVersions(a: HeartbeatOut['versions'], b: HeartbeatOut['versions']): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].logical !== b[i].logical || a[i].version !== b[i].version) return false;
  return true;
}

/** The state of a physical node from the states of its logical nodes. */
export function aggregate(logical: LogicalStatus[]): number {
  if (logical.length === 0) return NodeStateCode.IDLE;
  let active = 0;
  let decommissioned = 0;
  for (const l of logical) {
    switch (l.state) {
      case NodeStateCode.ERROR:
        return NodeStateCode.ERROR;
      case NodeStateCode.CONFIGURING:
        return NodeStateCode.CONFIGURING;
      case NodeStateCode.CLOSING:
        return NodeStateCode.CLOSING;
      case NodeStateCode.ACTIVE:
        active++;
        break;
      case NodeStateCode.DECOMMISSIONED:
        decommissioned++;
        break;
      default:
        break;
    }
  }
  // A logical node without a config yet (IDLE) does not make a running node idle.
  if (active > 0) return NodeStateCode.ACTIVE;
  if (decommissioned === logical.length) return NodeStateCode.DECOMMISSIONED;
  return NodeStateCode.IDLE;
}
