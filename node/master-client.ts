/**
 * The node side of the control plane: one long-lived control stream (`flume.Master/Control`) to
 * one master at a time. Status goes up on it; what this physical node must run, and the chains
 * its agents follow, come down on it the moment the master commits a change.
 *
 *     const client = new MasterClient({ masters: ['m1:35873', 'm2:35873'], physical: 'web01', role: 'agent', logger });
 *     client.on('desired', (desired) => manager.apply(desired));   // Map name -> DesiredLogicalNode
 *     client.reportState('web01', 'ACTIVE', 12);                    // sent within a few ms
 *     client.start();  ...  await client.stop();
 *
 * Ordering and guarantees
 * - `desired` is emitted with the complete desired set (a new Map each time) whenever a logical
 *   node is added or removed or its config version changes; never for an older version of a
 *   config than one already emitted. A mapped logical node without a config is not in the set.
 *   Started with a last known config (`lastKnown`), the first master's set is emitted whatever
 *   it holds: a master's word wins over what the node remembered.
 * - A status report goes up when the stream opens, every `heartbeatMs` (the master may change
 *   it), and a few ms after `reportState`/`setListen` change something. Logical nodes in the
 *   desired set without a reported state are reported IDLE.
 * - Failover: the stream is healthy once the master's first directive arrives. When it breaks
 *   (the master died, ended it because it lost its ZooKeeper session, or a keepalive ping went
 *   unanswered), the client opens a stream to another master after a short random delay, as
 *   node/master-rotation.ts chooses: one of the others at random after a stream that worked (the
 *   nodes of a dead master spread over the survivors), then on in list order, passing over a
 *   master that refused the TCP connection while another is left; after a whole round of failures
 *   a core/retry Backoff. Nothing about the running flows changes on failover: `desired` is
 *   emitted only if the new master's view differs.
 * - First answer: a stream without one within `callTimeoutMs` is given up, and the next waits
 *   twice as long, up to OPEN_WAIT_MAX_FACTOR times (reset by an answer). But a master only busy
 *   (a fleet arriving at once, a TLS handshake each), whose host takes a TCP connection
 *   (node/reachable.ts), gets the longest wait: left for another, the handshake started over.
 * - Logs during an outage (core/failure-streak): one line at the first failure, naming the
 *   master and the next one tried if it is another, then summaries at growing intervals ("Master
 *   did not answer for 30 s, 12 attempts."), and one line when a master answers again: never
 *   one line per attempt.
 */
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import * as os from 'node:os';
import type * as protobuf from 'protobufjs';
import type { Logger } from '../core/logger';
import { FailureStreak } from '../core/failure-streak';
import { MasterRotation } from './master-rotation';
import { reachable } from './reachable';
import { messageType } from '../proto';
import {
  NodeStateCode,
  type NodeStateName,
  type WireChainReply,
  type WireLogicalNodeStatus,
  type WireNodeDirective,
} from '../proto/messages';
import { channelCredentialsFor, MASTER_ROLES, TLS_CHANNEL_OPTIONS, TlsContext } from '../core/tls';

export interface DesiredLogicalNode {
  version: number;
  flow: string;
  source: string;
  sink: string;
}

export type DesiredSet = ReadonlyMap<string, DesiredLogicalNode>;

/** PEM files of this node's TLS identity and of the CA its masters' certificates chain to. */
interface MasterTls {
  ca: string;
  cert: string;
  key: string;
}

export interface MasterClientOptions {
  /** host:port of each master, tried in this order. */
  masters: string[];
  /** This physical node's name. */
  physical: string;
  role: string;
  logger: Logger;
  /** Host name reported to the master; default os.hostname(). */
  host?: string;
  /** Interval until the master says otherwise. */
  heartbeatMs?: number;
  /** How long a new stream may take to get its first answer. */
  callTimeoutMs?: number;
  /** Mutual TLS to the masters; none: plaintext. */
  tls?: MasterTls | TlsContext;
  /** Channel credentials made once and shared (many simulated nodes in one process); overrides `tls`. */
  credentials?: grpc.ChannelCredentials;
  /** When an outage is first summarised in the log; default core/failure-streak's 30 s. */
  summaryMs?: number;
  /**
   * The last known config (node/last-config.ts) the node runs until a master answers: the
   * starting desired set. The first master's directive replaces it whatever its versions, and
   * is always emitted (even when it is the same, or empty).
   */
  lastKnown?: DesiredSet;
}

export const MASTER_CLIENT_DEFAULTS = { heartbeatMs: 1_000, callTimeoutMs: 2_000 } as const;

/** The longest wait for a first answer, in multiples of `callTimeoutMs` (see the header). */
export const OPEN_WAIT_MAX_FACTOR = 16;
const PROBE_MS = 1_000; // for a late master's host to take a TCP connection: busy, not gone
/** A report after a state change waits this long to take other changes with it. */
const PROMPT_REPORT_MS = 5;
/** A chain not asked about for this many heartbeat intervals is no longer followed. */
const CHAIN_FORGET_BEATS = 10;

/** The one place this process makes credentials to talk to masters (the server must present a `master` certificate). */
function masterChannelCredentials(tls: MasterTls | TlsContext | undefined): grpc.ChannelCredentials {
  return channelCredentialsFor(tls === undefined || tls instanceof TlsContext ? tls : TlsContext.load(tls), MASTER_ROLES);
}

/**
 * grpc-js options of a control channel. Keepalive: a master that dies with its host (no FIN, no
 * RST) is noticed within 15 s; one whose process dies is noticed at once (the kernel resets the
 * connection). A ping every 10 s from each of 10,000 nodes is 1,000 pings/s at the master.
 */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  ...TLS_CHANNEL_OPTIONS,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  // Our own connection, even beside other clients in this process (simulated fleets). No
  // reconnect options: a client is closed when its stream breaks (see broken()).
  'grpc.use_local_subchannel_pool': 1,
};

type Directive = WireNodeDirective;

const CONVERSION: protobuf.IConversionOptions = { longs: Number, enums: Number, defaults: true, arrays: true };

export interface MasterClientEvents {
  desired: [DesiredSet];
  /** The master now talked to (after a start or a failover). */
  master: [string];
  /** A stream ended or never answered (one per attempt; the log has only a few lines per outage). */
  broken: [{ master: string; reason: string; wasHealthy: boolean }];
}

interface ChainFollowed {
  logical: string;
  flow: string;
  askedAt: number;
  reply: WireChainReply | undefined;
  waiters: Array<(reply: WireChainReply) => void>;
}

export class MasterClient extends EventEmitter<MasterClientEvents> {
  /** One client per master, made when a stream to it opens and closed when that stream breaks. */
  private readonly clients: Array<grpc.Client | undefined>;
  private readonly credentials: grpc.ChannelCredentials;
  private heartbeatMs: number;
  private readonly callTimeoutMs: number;
  private readonly startedAt = Date.now();
  private desired = new Map<string, DesiredLogicalNode>();
  /** True while `desired` is the last known config, not yet a master's word. */
  private provisional: boolean;
  private readonly reported = new Map<string, WireLogicalNodeStatus>();
  /** logical node -> host:port its collector source listens on (sent with every report). */
  private readonly listening = new Map<string, string>();
  private readonly chains = new Map<string, ChainFollowed>();
  private readonly reportType: protobuf.Type;
  private readonly directiveType: protobuf.Type;
  private call: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  /** True once the current stream has had its first directive. */
  private healthy = false;
  private beatTimer: NodeJS.Timeout | undefined;
  private promptTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private openTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  private connectedTo: string | undefined;
  private readonly log: Logger;
  private readonly streak: FailureStreak;
  /** Streams given up for want of a first answer since the last answer (see the header). */
  private unanswered = 0;
  private readonly rotation: MasterRotation;

  constructor(readonly options: MasterClientOptions) {
    super();
    if (options.masters.length === 0) throw new Error('MasterClient needs at least one master address');
    this.credentials = options.credentials ?? masterChannelCredentials(options.tls);
    this.clients = options.masters.map(() => undefined);
    this.rotation = new MasterRotation(options.masters);
    this.heartbeatMs = options.heartbeatMs ?? MASTER_CLIENT_DEFAULTS.heartbeatMs;
    this.callTimeoutMs = options.callTimeoutMs ?? MASTER_CLIENT_DEFAULTS.callTimeoutMs;
    this.log = options.logger.child({ component: 'master-client' });
    this.provisional = options.lastKnown !== undefined;
    if (options.lastKnown) this.desired = new Map(options.lastKnown);
    this.reportType = messageType('NodeReport');
    this.directiveType = messageType('NodeDirective');
    this.streak = new FailureStreak(this.log, {
      failing: 'Master did not answer',
      recovered: 'Talking to master again',
      firstSummaryMs: options.summaryMs,
    });
  }

  /** The current desired set (the last one emitted). */
  get desiredSet(): DesiredSet {
    return this.desired;
  }

  /** host:port of the master whose stream is open and answered, if any. */
  get master(): string | undefined {
    return this.healthy ? this.connectedTo : undefined;
  }

  /** The interval reports go at now (the master may have changed it). */
  get interval(): number {
    return this.heartbeatMs;
  }

  /** Records the state of a logical node; it goes up within a few ms if it changed. */
  reportState(logical: string, state: NodeStateName, configVersion: number, message = ''): void {
    const code = NodeStateCode[state];
    const status = this.reported.get(logical);
    if (status) {
      if (status.state === code && status.configVersion === configVersion && status.message === message) return;
      status.state = code;
      status.configVersion = configVersion;
      status.message = message;
    } else {
      this.reported.set(logical, { name: logical, state: code, configVersion, message, counters: {}, listen: '' });
    }
    this.reportSoon();
  }

  /**
   * Registers a collector: `address` (host:port) travels in `logical`'s status with every
   * report from now on, so the master puts it in automatic chains; '' withdraws it.
   */
  setListen(logical: string, address: string): void {
    if ((this.listening.get(logical) ?? '') === address) return;
    if (address) this.listening.set(logical, address);
    else this.listening.delete(logical);
    this.reportSoon();
  }

  /** Stops reporting a logical node (it was closed and is no longer desired). */
  forget(logical: string): void {
    if (this.reported.delete(logical)) this.reportSoon();
  }

  /**
   * The automatic chain of `logical` ('' flow: the flow of its config), as the master last
   * pushed it. The first ask makes this node follow the chain (the master pushes its changes
   * from then on); it waits for the first answer up to `callTimeoutMs` and rejects without one.
   */
  getChain(logical: string, flow: string): Promise<WireChainReply> {
    const key = `${logical}\0${flow}`;
    let followed = this.chains.get(key);
    if (!followed) {
      followed = { logical, flow, askedAt: 0, reply: undefined, waiters: [] };
      this.chains.set(key, followed);
      this.reportSoon();
    }
    followed.askedAt = Date.now();
    if (followed.reply) return Promise.resolve(followed.reply);
    const entry = followed;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        entry.waiters = entry.waiters.filter((w) => w !== done);
        reject(new Error(`no master answered about the chain of ${logical} within ${this.callTimeoutMs} ms`));
      }, this.callTimeoutMs);
      const done = (reply: WireChainReply): void => {
        clearTimeout(timer);
        resolve(reply);
      };
      entry.waiters.push(done);
    });
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
    this.armBeat();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.beatTimer);
    clearTimeout(this.promptTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.openTimer);
    const call = this.call;
    this.call = undefined;
    if (call) {
      call.end();
      call.cancel();
    }
    for (const client of this.clients) client?.close();
  }

  // -- the stream --------------------------------------------------------------------------

  private open(): void {
    if (this.stopped) return;
    const index = this.rotation.current;
    const address = this.options.masters[index];
    this.clients[index] ??= new grpc.Client(address, this.credentials, CHANNEL_OPTIONS);
    const call = this.clients[index].makeBidiStreamRequest(
      '/flume.Master/Control',
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    this.call = call;
    this.healthy = false;
    this.armOpenTimer(call, index, performance.now());
    call.on('data', (bytes: Buffer) => {
      if (this.call !== call) return;
      if (!this.healthy) {
        clearTimeout(this.openTimer);
        this.healthy = true;
        this.answered(address);
      }
      this.directive(bytes);
    });
    call.on('error', (err: grpc.ServiceError) => this.broken(call, address, err.details || err.message));
    call.on('end', () => this.broken(call, address, 'the master ended the stream'));
    call.on('status', (status: grpc.StatusObject) => {
      if (status.code !== grpc.status.OK) this.broken(call, address, status.details);
    });
    this.sendReport();
  }

  /** Gives up `call` without a first answer after the current wait (see the header). */
  private armOpenTimer(call: grpc.ClientDuplexStream<Buffer, Buffer>, index: number, openedAt: number, waitMs?: number): void {
    const longest = this.callTimeoutMs * OPEN_WAIT_MAX_FACTOR;
    this.openTimer = setTimeout(
      async () => {
        if (this.call !== call || this.healthy) return;
        const address = this.options.masters[index];
        const busy = await reachable(address, PROBE_MS);
        const waited = Math.round(performance.now() - openedAt);
        if (this.call !== call || this.healthy) return;
        if (busy && waited < longest) return this.armOpenTimer(call, index, openedAt, longest - waited);
        this.unanswered++;
        this.broken(call, address, `no answer within ${waited} ms`);
      },
      waitMs ?? Math.min(this.callTimeoutMs * 2 ** this.unanswered, longest),
    );
  }

  private broken(call: grpc.ClientDuplexStream<Buffer, Buffer>, address: string, error: string): void {
    if (this.call !== call || this.stopped) return;
    this.call = undefined;
    clearTimeout(this.openTimer);
    call.cancel();
    // Left open, grpc-js would go on reconnecting in the background, a TLS handshake each time.
    const index = this.rotation.current;
    this.clients[index]?.close();
    this.clients[index] = undefined;
    const wasHealthy = this.healthy;
    this.healthy = false;
    this.emit('broken', { master: address, reason: error, wasHealthy });
    const delay = this.rotation.failed(error, wasHealthy);
    const fields: Record<string, unknown> = { master: address };
    if (this.rotation.current !== index) fields.next = this.options.masters[this.rotation.current];
    this.streak.failed(new Error(error), fields);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private answered(address: string): void {
    this.rotation.answered();
    this.unanswered = 0;
    const wrote = this.streak.succeeded({ master: address });
    if (this.connectedTo !== address) {
      if (!wrote) this.log.info('Talking to master.', { master: address });
      this.connectedTo = address;
      this.emit('master', address);
    }
  }

  // -- up ----------------------------------------------------------------------------------

  private armBeat(): void {
    if (this.stopped) return;
    this.beatTimer = setTimeout(() => {
      this.sendReport();
      this.armBeat();
    }, this.heartbeatMs);
  }

  private reportSoon(): void {
    if (this.stopped || this.promptTimer) return;
    this.promptTimer = setTimeout(() => {
      this.promptTimer = undefined;
      this.sendReport();
    }, PROMPT_REPORT_MS);
  }

  private sendReport(): void {
    const call = this.call;
    if (!call || this.stopped) return;
    call.write(this.encodeReport());
  }

  private encodeReport(): Buffer {
    const logical: WireLogicalNodeStatus[] = [];
    for (const name of this.desired.keys()) {
      logical.push(this.reported.get(name) ?? { name, state: NodeStateCode.IDLE, configVersion: 0, message: '', counters: {}, listen: '' });
    }
    for (const [name, status] of this.reported) if (!this.desired.has(name)) logical.push(status);
    if (this.listening.size > 0) {
      for (let i = 0; i < logical.length; i++) {
        const listen = this.listening.get(logical[i].name);
        if (listen) logical[i] = { ...logical[i], listen };
      }
    }
    const chains: Array<{ logical: string; flow: string }> = [];
    const forgetBefore = Date.now() - CHAIN_FORGET_BEATS * this.heartbeatMs;
    for (const [key, c] of this.chains) {
      if (c.askedAt < forgetBefore && c.waiters.length === 0) this.chains.delete(key);
      else chains.push({ logical: c.logical, flow: c.flow });
    }
    const status = {
      physical: this.options.physical,
      host: this.options.host ?? os.hostname(),
      role: this.options.role,
      logical,
      startedAt: this.startedAt,
    };
    const report = { sentAtMs: performance.timeOrigin + performance.now(), status, chains };
    return Buffer.from(this.reportType.encode(this.reportType.fromObject(report)).finish());
  }

  // -- down --------------------------------------------------------------------------------

  private directive(bytes: Buffer): void {
    let d: Directive;
    try {
      d = this.directiveType.toObject(this.directiveType.decode(bytes), CONVERSION) as Directive;
    } catch (err) {
      this.log.warn('Ignored a directive that does not decode.', { error: (err as Error).message });
      return;
    }
    if (d.heartbeatMs > 0 && d.heartbeatMs !== this.heartbeatMs) {
      this.heartbeatMs = d.heartbeatMs;
      clearTimeout(this.beatTimer);
      this.armBeat();
    }
    for (const c of d.chains) {
      const followed = this.chains.get(`${c.logical}\0${c.flow}`);
      if (!followed) continue;
      followed.reply = { collectors: c.collectors, version: c.version };
      const waiters = followed.waiters;
      followed.waiters = [];
      for (const w of waiters) w(followed.reply);
    }
    const next = new Map<string, DesiredLogicalNode>();
    const configs = new Map(d.configs.map((c) => [c.logical, c]));
    for (const name of d.logical) {
      const got = configs.get(name);
      if (!got || got.version === 0) continue; // not configured (any more)
      // The last known config never outranks a master: its version wins, older or not.
      const have = this.provisional ? undefined : this.desired.get(name);
      next.set(
        name,
        have && have.version >= got.version ? have : { version: got.version, flow: got.flow, source: got.source, sink: got.sink },
      );
    }
    const confirming = this.provisional;
    this.provisional = false;
    if (confirming || !sameSet(this.desired, next)) {
      this.desired = next;
      this.log.info('Desired logical nodes changed.', { nodes: [...next].map(([n, dn]) => `${n}@${dn.version}`).join(',') });
      this.emit('desired', next);
      this.reportSoon();
    }
  }
}

function sameSet(a: ReadonlyMap<string, DesiredLogicalNode>, b: ReadonlyMap<string, DesiredLogicalNode>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, d] of a) {
    const e = b.get(name);
    if (e?.version !== d.version || e.source !== d.source || e.sink !== d.sink || e.flow !== d.flow) return false;
  }
  return true;
}
