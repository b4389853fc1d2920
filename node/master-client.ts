/**
 * The node side of the control plane: heartbeats a master, learns which logical nodes this
 * physical node must run and their configs, and fails over between masters.
 *
 *     const client = new MasterClient({ masters: ['m1:35873', 'm2:35873'], physical: 'web01', role: 'agent', logger });
 *     client.on('desired', (desired) => manager.apply(desired));   // Map name -> DesiredLogicalNode
 *     client.reportState('web01', 'ACTIVE', 12);                    // sent with the next heartbeat
 *     client.start();  ...  await client.stop();
 *
 * Ordering and guarantees
 * - `desired` is emitted with the complete desired set (a new Map each time) whenever a logical
 *   node is added or removed or its config version changes; never for an older version of a
 *   config than one already emitted. A mapped logical node without a config is not in the set.
 * - Heartbeats go every `heartbeatMs` (the master's reply may change it). A failed heartbeat
 *   moves to the next master of the list at once; after a whole round of failures it waits one
 *   interval and goes round again. So with N masters a dead one is left within one timeout
 *   (`callTimeoutMs`), well within 10 s. Nothing about the running flows changes on failover:
 *   `desired` is emitted only if the new master's view differs.
 * - `reportState` only records: the state travels with the next heartbeat. Logical nodes in the
 *   desired set without a reported state are reported IDLE.
 */
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import * as os from 'node:os';
import type { Logger } from '../core/logger';
import { serviceDefinition } from '../proto';
import { NodeStateCode, type NodeStateName, type WireChainReply, type WireHeartbeatReply, type WireLogicalConfig, type WireLogicalNodeStatus } from '../proto/messages';

export interface DesiredLogicalNode {
  version: number;
  flow: string;
  source: string;
  sink: string;
}

export type DesiredSet = ReadonlyMap<string, DesiredLogicalNode>;

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
  /** Deadline of one call to a master. */
  callTimeoutMs?: number;
}

export const MASTER_CLIENT_DEFAULTS = { heartbeatMs: 1_000, callTimeoutMs: 2_000 } as const;

type Unary<Req, Res> = (req: Req, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => void;

interface MasterStub extends grpc.Client {
  Heartbeat: Unary<object, WireHeartbeatReply>;
  GetConfigs: Unary<object, { configs: WireLogicalConfig[] }>;
  GetChain: Unary<object, WireChainReply>;
}

const MasterStubCtor = grpc.makeGenericClientConstructor(serviceDefinition('Master'), 'Master') as unknown as
  new (address: string, credentials: grpc.ChannelCredentials) => MasterStub;

function call<Req, Res>(stub: MasterStub, method: 'Heartbeat' | 'GetConfigs' | 'GetChain', req: Req, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    (stub[method] as unknown as Unary<Req, Res>).call(stub, req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

export interface MasterClientEvents {
  desired: [DesiredSet];
  /** The master now talked to (after a start or a failover). */
  master: [string];
}

export class MasterClient extends EventEmitter<MasterClientEvents> {
  private readonly stubs: MasterStub[];
  private current = 0;
  private heartbeatMs: number;
  private readonly callTimeoutMs: number;
  private readonly startedAt = Date.now();
  private desired = new Map<string, DesiredLogicalNode>();
  private readonly reported = new Map<string, WireLogicalNodeStatus>();
  /** logical node -> host:port its collector source listens on (sent with every heartbeat). */
  private readonly listening = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private beating: Promise<void> | undefined;
  private connectedTo: string | undefined;
  private readonly log: Logger;

  constructor(readonly options: MasterClientOptions) {
    super();
    if (options.masters.length === 0) throw new Error('MasterClient needs at least one master address');
    this.stubs = options.masters.map((address) => new MasterStubCtor(address, grpc.credentials.createInsecure()));
    this.heartbeatMs = options.heartbeatMs ?? MASTER_CLIENT_DEFAULTS.heartbeatMs;
    this.callTimeoutMs = options.callTimeoutMs ?? MASTER_CLIENT_DEFAULTS.callTimeoutMs;
    this.log = options.logger.child({ component: 'master-client' });
  }

  /** The current desired set (the last one emitted). */
  get desiredSet(): DesiredSet {
    return this.desired;
  }

  /** host:port of the master that answered last, if any. */
  get master(): string | undefined {
    return this.connectedTo;
  }

  /** Records the state of a logical node, sent with the next heartbeat. */
  reportState(logical: string, state: NodeStateName, configVersion: number, message = ''): void {
    const status = this.reported.get(logical);
    if (status) {
      status.state = NodeStateCode[state];
      status.configVersion = configVersion;
      status.message = message;
    } else {
      this.reported.set(logical, { name: logical, state: NodeStateCode[state], configVersion, message, counters: {}, listen: '' });
    }
  }

  /**
   * Registers a collector: `address` (host:port) travels in `logical`'s status with every
   * heartbeat from now on, so the master puts it in automatic chains; '' withdraws it.
   */
  setListen(logical: string, address: string): void {
    if (address) this.listening.set(logical, address);
    else this.listening.delete(logical);
  }

  /** The interval heartbeats go at now (the master may have changed it). */
  get interval(): number {
    return this.heartbeatMs;
  }

  /**
   * Asks the master talked to last for the automatic chain of `logical` ('' flow: the flow of
   * its config). Rejects if that master does not answer; the caller asks again later (by then
   * heartbeats may have failed over to another master).
   */
  getChain(logical: string, flow: string): Promise<WireChainReply> {
    return call<object, WireChainReply>(this.stubs[this.current], 'GetChain', { logical, flow }, this.callTimeoutMs)
      .then((r) => ({ collectors: r.collectors ?? [], version: Number(r.version ?? 0) }));
  }

  /** Stops reporting a logical node (it was closed and is no longer desired). */
  forget(logical: string): void {
    this.reported.delete(logical);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.beating;
    for (const stub of this.stubs) stub.close();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.beating = this.beat().finally(() => (this.beating = undefined));
    }, ms);
  }

  /** One heartbeat, trying each master in turn until one answers. */
  private async beat(): Promise<void> {
    for (let tried = 0; tried < this.stubs.length && !this.stopped; tried++) {
      const stub = this.stubs[this.current];
      const address = this.options.masters[this.current];
      try {
        const reply = await call<object, WireHeartbeatReply>(stub, 'Heartbeat', this.request(), this.callTimeoutMs);
        if (reply.heartbeatMs > 0) this.heartbeatMs = reply.heartbeatMs;
        await this.sync(stub, reply);
        if (this.connectedTo !== address) {
          this.log.info('Talking to master.', { master: address });
          this.connectedTo = address;
          this.emit('master', address);
        }
        this.schedule(this.heartbeatMs);
        return;
      } catch (err) {
        const next = (this.current + 1) % this.stubs.length;
        this.log.warn('Master did not answer; trying the next one.', {
          master: address, next: this.options.masters[next], error: (err as Error).message,
        });
        this.current = next;
      }
    }
    this.schedule(this.heartbeatMs);
  }

  private request(): object {
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
    return { physical: this.options.physical, host: this.options.host ?? os.hostname(), role: this.options.role, logical, startedAt: this.startedAt };
  }

  /** Fetches configs whose version changed and emits the new desired set if it differs. */
  private async sync(stub: MasterStub, reply: WireHeartbeatReply): Promise<void> {
    const stale: string[] = [];
    let changed = false;
    const wanted = new Set<string>();
    for (const { logical, version } of reply.versions) {
      wanted.add(logical);
      const have = this.desired.get(logical);
      if (version === 0) {
        if (have) changed = true; // unconfigured
      } else if (!have || version > have.version) {
        stale.push(logical);
      }
    }
    for (const name of this.desired.keys()) if (!wanted.has(name)) changed = true;
    if (stale.length === 0 && !changed) return;
    const fetched = stale.length > 0
      ? (await call<object, { configs: WireLogicalConfig[] }>(stub, 'GetConfigs', { physical: this.options.physical, logical: stale }, this.callTimeoutMs)).configs
      : [];
    const next = new Map<string, DesiredLogicalNode>();
    for (const { logical, version } of reply.versions) {
      const have = this.desired.get(logical);
      const got = fetched.find((c) => c.logical === logical);
      if (got && (!have || got.version > have.version)) {
        next.set(logical, { version: got.version, flow: got.flow, source: got.source, sink: got.sink });
      } else if (have && version !== 0) {
        next.set(logical, have);
      }
    }
    if (!sameSet(this.desired, next)) {
      this.desired = next;
      this.log.info('Desired logical nodes changed.', { nodes: [...next].map(([n, d]) => `${n}@${d.version}`).join(',') });
      this.emit('desired', next);
    }
  }
}

function sameSet(a: ReadonlyMap<string, DesiredLogicalNode>, b: ReadonlyMap<string, DesiredLogicalNode>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, d] of a) if (b.get(name)?.version !== d.version) return false;
  return true;
}
