/**
 * The master's side of the control stream (`flume.Master/Control`): one long-lived bidi stream
 * per physical node.
 *
 * Contract
 * - Up: NodeReports. The first one binds the stream to its physical node; a later one naming
 *   another node ends the stream (INVALID_ARGUMENT). A second stream for a node already bound
 *   here replaces the first (the node reconnected before the old one was noticed dead): the old
 *   one is ended with ABORTED.
 * - Down: a NodeDirective after the first report, then only when what the node must run changes
 *   (the store's `change` event, i.e. the moment a change is committed, locally or by another
 *   master) or when one of the chains it follows changes (checked at each report and each
 *   change). A change is pushed only to the nodes whose directive it can change (ChangeIndex:
 *   their mapping, or the config of one of their logical nodes) and to the nodes that follow
 *   chains (those depend on node status too), not to the whole fleet. Nothing is sent for a
 *   report that changes nothing: a fleet in a steady state costs the master one small read per
 *   node per heartbeat and no write.
 * - Liveness: each report moves the node's last-seen time; a dead connection is found by the
 *   node's and the master's HTTP/2 keepalive pings (see CONTROL_KEEPALIVE) and ends the stream.
 * - A master whose view stops being current (ZooKeeper connection lost) refuses new streams at
 *   once, and ignores the reports of its open ones, until its view is current again. If it is not
 *   within the grace given to `attach` (the ZooKeeper session timeout: by then the session is
 *   gone), it ends every stream with UNAVAILABLE, so its nodes move to a master that can vouch
 *   for what it tells them. Not at the first disconnect: a master whose event loop stalls for a
 *   few seconds under a burst of handshakes can lose its ZooKeeper connection, and ending its
 *   thousands of streams then sends the burst on to the other masters (a reconnect storm).
 *   Leadership does not matter to nodes: any master answers any node.
 *
 * Hot path: a report whose bytes after `sent_at_ms` (the first 9 bytes, see proto/flume.proto)
 * equal the previous one's is not decoded; it only moves the last-seen time (NodeTable.repeat).
 * The directive of a node is encoded only when it changed.
 *
 * Slow readers: a directive waits in the stream's buffer while the node's HTTP/2 window is full.
 * When more than `queuedBytes` wait (a node that never reads, or one stuck for long), the stream
 * is dropped and its connection closed, which frees what was queued (counted as
 * `streams_closed_unread` on the master's `grpc` component). A live node reconnects and gets its
 * current directive, so nothing it needs is lost: directives are states, not deltas.
 */
import * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
import type * as protobuf from 'protobufjs';
import type { ComponentCounters } from '../core/component';
import { FlumeError } from '../core/errors';
import { MASTER_PORT_LIMIT_DEFAULTS } from '../core/limits';
import { STREAMS_CLOSED_UNREAD } from '../core/metrics';
import type { Logger } from '../core/logger';
import { messageType } from '../proto';
import type { ChainTable } from './chains';
import type { MasterMetrics } from './metrics';
import type { HeartbeatOut, LogicalStatus, NodeTable } from './nodes';
import { ChangeIndex } from './state-diff';
import type { ConfigStore, StateView } from './store/types';

/**
 * The master's HTTP/2 keepalive on node connections: it pings each node this often and drops
 * the connection of one that does not answer (a node that vanished without a FIN). Nodes ping
 * their master too (node/master-client.ts): that is how a node notices a dead master.
 */
export const CONTROL_KEEPALIVE = {
  serverTimeMs: 60_000,
  serverTimeoutMs: 10_000,
} as const;

/** Length of the `sent_at_ms` field that starts every NodeReport (tag 0x09 + a double). */
const SENT_AT_BYTES = 9;

interface ChainWanted {
  logical: string;
  flow: string;
}

interface Decoded {
  sentAtMs: number;
  status: {
    physical: string;
    host: string;
    role: string;
    startedAt: unknown;
    logical: Array<{ name: string; state: number; configVersion: unknown; message: string; listen: string }>;
  };
  chains: ChainWanted[];
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

/** One open stream. */
class NodeStream {
  physical = '';
  /** The reply last sent (NodeTable caches one object per node and revision). */
  sent: HeartbeatOut | undefined;
  chains: ChainWanted[] = [];
  /** Versions of the chains last sent, joined; '' if none. */
  chainsKey = '';
  /** The last report's bytes after sent_at_ms (own copy), to recognise a repeat. */
  last: Buffer | undefined;
  closed = false;
  /** Bytes of directives written and not yet taken by HTTP/2 (the node's window is full). */
  queued = 0;

  constructor(readonly call: grpc.ServerDuplexStream<Buffer, Buffer>) {}

  end(code: grpc.status, details: string): void {
    if (this.closed) return;
    this.closed = true;
    this.call.emit('error', { code, details });
  }
}

/** A slow reader's limit (see the header), and how to close its connection. */
export interface ControlLimits {
  /** Default MASTER_PORT_LIMIT_DEFAULTS.queuedBytes. */
  queuedBytes?: number;
  counters?: ComponentCounters;
  /** Closes the connection that carries `call` (PeerSessions.close); absent: the stream alone is ended. */
  closeConnection?: (call: { getPeer(): string }) => void;
}

/**
 * The HTTP/2 sessions of a grpc-js server by the peer address grpc-js reports for their calls,
 * so that a call's whole connection can be closed (grpc-js has no public way to reset one call).
 * Fed by core/grpc/tuning.ts's session hook.
 */
export class PeerSessions {
  private readonly byPeer = new Map<string, http2.ServerHttp2Session>();

  track(session: http2.ServerHttp2Session): void {
    const { remoteAddress: a, remotePort: port } = session.socket ?? {};
    if (a === undefined) return;
    const key = a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
    this.byPeer.set(key, session);
    session.once('close', () => {
      if (this.byPeer.get(key) === session) this.byPeer.delete(key);
    });
  }

  /** Destroys the session of `call`'s peer, freeing what it had queued. */
  close(call: { getPeer(): string }): void {
    this.byPeer.get(call.getPeer())?.destroy();
  }
}

export interface ControlStreamsDeps extends ControlLimits {
  /** Undefined until the store has started. */
  store: () => ConfigStore | undefined;
  nodes: NodeTable;
  chains: ChainTable;
  metrics: MasterMetrics;
  masterId: () => string;
  logger: Logger;
  /** With TLS: throws unless the stream's certificate names the node it reports for. */
  authorizeNode?: (call: { getPeer(): string }, physical: string) => void;
}

export class ControlStreams {
  private readonly streams = new Map<string, NodeStream>();
  private readonly unbound = new Set<NodeStream>();
  /** Bound streams that follow at least one chain: rechecked at every change. */
  private readonly chained = new Set<NodeStream>();
  /** The state the last change was pushed from; undefined until the first change. */
  private changes: ChangeIndex | undefined;
  private readonly reportType: protobuf.Type;
  private readonly directiveType: protobuf.Type;
  private watched: ConfigStore | undefined;
  private staleGraceMs = 0;
  private staleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: ControlStreamsDeps) {
    this.reportType = messageType('NodeReport');
    this.directiveType = messageType('NodeDirective');
  }

  /** Streams open and bound to a node. */
  get size(): number {
    return this.streams.size;
  }

  /**
   * Starts following the store's changes (call once it has started). `staleGraceMs`: how long
   * its view may stay out of date before every stream is ended (see the header).
   */
  attach(store: ConfigStore, staleGraceMs = 0): void {
    this.watched = store;
    this.staleGraceMs = staleGraceMs;
    store.on('change', this.onChange);
    store.on('fresh', this.onFresh);
  }

  /** Ends every stream (the master is stopping) and stops following the store. */
  close(): void {
    this.watched?.off('change', this.onChange);
    this.watched?.off('fresh', this.onFresh);
    clearTimeout(this.staleTimer);
    this.endAll(grpc.status.UNAVAILABLE, 'the master is stopping');
  }

  /** The grpc-js handler of `Control` (raw: Buffers both ways). */
  readonly handler = (call: grpc.ServerDuplexStream<Buffer, Buffer>): void => {
    const stream = new NodeStream(call);
    const store = this.deps.store();
    if (!store || !store.fresh) {
      stream.end(grpc.status.UNAVAILABLE, `master ${this.deps.masterId()} has no current view of the cluster`);
      return;
    }
    this.unbound.add(stream);
    call.on('data', (bytes: Buffer) => {
      try {
        this.report(stream, bytes);
      } catch (err) {
        // A name held by another live process (NodeTable.claim) is FAILED_PRECONDITION; the rest is a bad report.
        stream.end(err instanceof FlumeError ? err.grpcCode : grpc.status.INVALID_ARGUMENT, (err as Error).message);
        this.drop(stream);
      }
    });
    const gone = (): void => {
      stream.closed = true;
      this.drop(stream);
    };
    call.on('end', () => {
      if (!stream.closed) call.end();
      gone();
    });
    call.on('cancelled', gone);
    call.on('close', gone);
    call.on('error', gone);
  };

  private drop(stream: NodeStream): void {
    this.unbound.delete(stream);
    this.chained.delete(stream);
    if (stream.physical && this.streams.get(stream.physical) === stream) this.streams.delete(stream.physical);
  }

  private report(stream: NodeStream, bytes: Buffer): void {
    const store = this.deps.store()!;
    if (stream.closed || !store.fresh) return;
    const started = performance.now();
    const view = store.view();
    const now = Date.now();
    if (bytes.length < SENT_AT_BYTES || bytes[0] !== 0x09) throw new Error('a NodeReport must start with sent_at_ms');
    const sentAtMs = bytes.readDoubleLE(1);
    const rest = bytes.subarray(SENT_AT_BYTES);
    let reply: HeartbeatOut | undefined;
    if (stream.physical && stream.last && stream.last.equals(rest)) {
      reply = this.deps.nodes.repeat(stream.physical, rest, view, now);
    }
    if (!reply) {
      const m = this.reportType.decode(bytes) as unknown as Decoded;
      const s = m.status;
      if (!s?.physical) throw new Error('a NodeReport must name its physical node');
      if (!stream.physical) {
        this.deps.authorizeNode?.(stream.call, s.physical);
        this.bind(stream, s.physical);
      } else if (s.physical !== stream.physical) throw new Error(`this stream belongs to ${stream.physical}, not ${s.physical}`);
      const logical = new Array<LogicalStatus>(s.logical.length);
      for (let i = 0; i < s.logical.length; i++) {
        const l = s.logical[i];
        logical[i] = { name: l.name, state: l.state, configVersion: num(l.configVersion), message: l.message };
        if (l.listen) logical[i].listen = l.listen;
      }
      reply = this.deps.nodes.heartbeat(
        { physical: s.physical, host: s.host, role: s.role, startedAt: num(s.startedAt), logical },
        view,
        now,
        rest,
      );
      stream.chains = m.chains.map((c) => ({ logical: c.logical, flow: c.flow }));
      if (stream.chains.length > 0) this.chained.add(stream);
      else this.chained.delete(stream);
      stream.last = Buffer.from(rest);
    }
    this.deps.metrics.heartbeat(performance.now() - started, performance.timeOrigin + started - sentAtMs);
    this.push(stream, reply, view);
  }

  private bind(stream: NodeStream, physical: string): void {
    stream.physical = physical;
    this.unbound.delete(stream);
    const old = this.streams.get(physical);
    if (old && old !== stream) {
      old.end(grpc.status.ABORTED, 'a newer control stream of this node replaced this one');
      this.deps.logger.debug('A node opened a new control stream; ended its old one.', { node: physical });
    }
    this.streams.set(physical, stream);
  }

  /** Sends the node its directive if it differs from the last one sent. */
  private push(stream: NodeStream, reply: HeartbeatOut, view: StateView): void {
    let chains: Array<{ logical: string; flow: string; collectors: string[]; version: number }> = [];
    let chainsKey = '';
    if (stream.chains.length > 0) {
      const now = Date.now();
      chains = stream.chains.map((c) => ({
        logical: c.logical,
        flow: c.flow,
        ...this.deps.chains.chain(c.logical, c.flow || undefined, now),
      }));
      chainsKey = chains.map((c) => `${c.logical}\0${c.flow}\0${c.version}`).join('\n');
    }
    const same = stream.sent !== undefined && (stream.sent === reply || sameReply(stream.sent, reply));
    if (same && chainsKey === stream.chainsKey) return;
    const configs = [];
    for (const v of reply.versions) {
      const c = v.version > 0 ? view.state.configs[v.logical] : undefined;
      if (c) configs.push({ logical: v.logical, version: c.version, flow: c.flow, source: c.source, sink: c.sink });
    }
    const message = { logical: reply.logical, configs, heartbeatMs: reply.heartbeatMs, chains, master: this.deps.masterId() };
    const bytes = Buffer.from(this.directiveType.encode(this.directiveType.fromObject(message)).finish());
    stream.sent = reply;
    stream.chainsKey = chainsKey;
    // grpc-js streams are in object mode (writableLength counts messages): count the bytes here.
    stream.queued += bytes.length;
    stream.call.write(bytes, () => (stream.queued -= bytes.length));
    if (stream.queued > (this.deps.queuedBytes ?? MASTER_PORT_LIMIT_DEFAULTS.queuedBytes)) this.dropUnread(stream, stream.queued);
  }

  /** A node left more than the limit unread: drop its stream and connection (see the header). */
  private dropUnread(stream: NodeStream, queued: number): void {
    this.deps.counters?.add(STREAMS_CLOSED_UNREAD, 1);
    this.deps.logger.warn('A node left its control stream unread past the limit; closed its connection.', {
      node: stream.physical,
      queued_bytes: queued,
    });
    stream.end(grpc.status.RESOURCE_EXHAUSTED, `more than ${queued} bytes of directives unread`);
    this.drop(stream);
    if (this.deps.closeConnection) this.deps.closeConnection(stream.call);
    else stream.call.destroy();
  }

  /**
   * A committed change: every node whose directive it changes hears of it now. Only the streams
   * of the nodes it concerns (ChangeIndex) and those following chains are looked at; while the
   * store is not fresh nothing is (every stream was ended), and the next change is compared with
   * the last state pushed, so what changed meanwhile is included.
   */
  private readonly onChange = (view: StateView): void => {
    const store = this.deps.store();
    if (!store?.fresh) return;
    if (!this.changes) {
      this.changes = new ChangeIndex(view);
      for (const stream of this.streams.values()) this.pushCurrent(stream, view);
      return;
    }
    for (const physical of this.changes.advance(view)) {
      const stream = this.streams.get(physical);
      if (stream && !this.chained.has(stream)) this.pushCurrent(stream, view);
    }
    for (const stream of this.chained) this.pushCurrent(stream, view);
  };

  private pushCurrent(stream: NodeStream, view: StateView): void {
    if (stream.closed) return;
    const reply = this.deps.nodes.replyFor(stream.physical, view);
    if (reply) this.push(stream, reply, view);
  }

  private readonly onFresh = (fresh: boolean): void => {
    clearTimeout(this.staleTimer);
    this.staleTimer = undefined;
    if (fresh) return;
    const end = (): void => {
      const details = `master ${this.deps.masterId()} lost its view of the cluster (ZooKeeper session) for ${this.staleGraceMs} ms`;
      this.endAll(grpc.status.UNAVAILABLE, details);
    };
    if (this.staleGraceMs <= 0) return end();
    this.staleTimer = setTimeout(() => {
      this.staleTimer = undefined;
      if (!this.deps.store()?.fresh) end();
    }, this.staleGraceMs);
    this.staleTimer.unref();
  };

  private endAll(code: grpc.status, details: string): void {
    const count = this.streams.size + this.unbound.size;
    if (count === 0) return;
    this.deps.logger.warn('Ending every control stream so that nodes move to another master.', { streams: count, reason: details });
    for (const s of [...this.streams.values(), ...this.unbound]) s.end(code, details);
    this.streams.clear();
    this.unbound.clear();
    this.chained.clear();
  }
}

function sameReply(a: HeartbeatOut, b: HeartbeatOut): boolean {
  if (a.heartbeatMs !== b.heartbeatMs || a.versions.length !== b.versions.length || a.logical.length !== b.logical.length) return false;
  for (let i = 0; i < a.versions.length; i++) {
    if (a.versions[i].logical !== b.versions[i].logical || a.versions[i].version !== b.versions[i].version) return false;
  }
  for (let i = 0; i < a.logical.length; i++) if (a.logical[i] !== b.logical[i]) return false;
  return true;
}
