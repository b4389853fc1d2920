/**
 * A small promise API over node-zookeeper-client: one `ZkClient` is one ZooKeeper session.
 *
 * Watches are one-shot, as in ZooKeeper. node-zookeeper-client registers a given watcher
 * function once per path however many times it is passed, so callers re-arm watches with the
 * same function object and never pile up duplicates.
 */
import { EventEmitter } from 'node:events';
import * as zookeeper from 'node-zookeeper-client';
import { FlumeError } from '../../core/errors';
import { status } from '@grpc/grpc-js';

export type ZkTransaction = zookeeper.Transaction;
export const CreateMode = zookeeper.CreateMode;

/** ZooKeeper is unreachable, or an operation's outcome is unknown (connection loss). */
export class ZkUnavailableError extends FlumeError {
  override readonly retriable = true;
  override readonly grpcCode = status.UNAVAILABLE;
  constructor(
    message: string,
    readonly zkCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function zkCode(err: unknown): number | undefined {
  if (err && typeof (err as zookeeper.Exception).getCode === 'function') return (err as zookeeper.Exception).getCode();
  return undefined;
}

export const isNoNode = (err: unknown): boolean => zkCode(err) === zookeeper.Exception.NO_NODE;
export const isNodeExists = (err: unknown): boolean => zkCode(err) === zookeeper.Exception.NODE_EXISTS;
export const isBadVersion = (err: unknown): boolean => zkCode(err) === zookeeper.Exception.BAD_VERSION;
/** Connection loss, timeout or expiry: the operation may or may not have happened. */
export const isConnectionProblem = (err: unknown): boolean => {
  const code = zkCode(err);
  return (
    code === zookeeper.Exception.CONNECTION_LOSS ||
    code === zookeeper.Exception.OPERATION_TIMEOUT ||
    code === zookeeper.Exception.SESSION_EXPIRED
  );
};

export interface ZkClientOptions {
  /** host:port,...[/chroot] */
  connect: string;
  sessionTimeoutMs: number;
  /** How long `connect()` waits for the first connection. */
  connectTimeoutMs: number;
}

export type ZkConnectionState = 'connecting' | 'connected' | 'disconnected' | 'expired' | 'closed';

/**
 * One ZooKeeper session. Emits `state` with a ZkConnectionState on every change. After
 * `expired` the object is dead: make a new one.
 */
export class ZkClient extends EventEmitter {
  private readonly client: zookeeper.Client;
  state: ZkConnectionState = 'connecting';

  constructor(readonly options: ZkClientOptions) {
    super();
    this.client = zookeeper.createClient(options.connect, { sessionTimeout: options.sessionTimeoutMs, spinDelay: 200, retries: 0 });
    this.client.on('state', (s: zookeeper.State) => {
      const next: ZkConnectionState | undefined =
        s === zookeeper.State.SYNC_CONNECTED
          ? 'connected'
          : s === zookeeper.State.DISCONNECTED
            ? 'disconnected'
            : s === zookeeper.State.EXPIRED
              ? 'expired'
              : undefined;
      if (!next || this.state === 'closed' || next === this.state) return;
      this.state = next;
      this.emit('state', next);
    });
  }

  /** Connects; rejects with ZkUnavailableError if no server answers in time. */
  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('state', onState);
        reject(
          new ZkUnavailableError(`no ZooKeeper server of ${this.options.connect} answered within ${this.options.connectTimeoutMs} ms`),
        );
      }, this.options.connectTimeoutMs);
      const onState = (s: ZkConnectionState): void => {
        if (s !== 'connected') return;
        clearTimeout(timer);
        this.off('state', onState);
        resolve();
      };
      this.on('state', onState);
      this.client.connect();
    });
  }

  close(): void {
    this.state = 'closed';
    this.client.close();
  }

  /** Session id as hex, for logs. */
  sessionId(): string {
    return this.client.getSessionId()?.toString('hex') ?? '';
  }

  create(path: string, data: Buffer | null, mode: number = CreateMode.PERSISTENT): Promise<string> {
    return new Promise((resolve, reject) => {
      this.client.create(path, data ?? Buffer.alloc(0), mode, (err, created) => (err ? reject(err) : resolve(created)));
    });
  }

  /** Creates `path` and its parents if missing. */
  mkdirp(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.mkdirp(path, null, CreateMode.PERSISTENT, (err) => (err ? reject(err) : resolve()));
    });
  }

  getData(path: string, watcher?: zookeeper.Watcher): Promise<{ data: Buffer; stat: zookeeper.Stat }> {
    return new Promise((resolve, reject) => {
      this.client.getData(path, watcher, (err, data, stat) => (err ? reject(err) : resolve({ data: data ?? Buffer.alloc(0), stat })));
    });
  }

  /** setData; `version` -1 writes unconditionally. Rejects with BAD_VERSION on a conflict. */
  setData(path: string, data: Buffer, version: number): Promise<zookeeper.Stat> {
    return new Promise((resolve, reject) => {
      this.client.setData(path, data, version, (err, stat) => (err ? reject(err) : resolve(stat)));
    });
  }

  getChildren(path: string, watcher?: zookeeper.Watcher): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.client.getChildren(path, watcher, (err, children) => (err ? reject(err) : resolve(children)));
    });
  }

  exists(path: string, watcher?: zookeeper.Watcher): Promise<zookeeper.Stat | null> {
    return new Promise((resolve, reject) => {
      this.client.exists(path, watcher, (err, stat) => (err ? reject(err) : resolve(stat)));
    });
  }

  remove(path: string, version = -1): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.remove(path, version, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * Runs several writes atomically. Note node-zookeeper-client turns a version of 0 into -1
   * (unconditional) inside transactions: only use versioned ops on znodes written at least once.
   */
  multi(build: (tx: zookeeper.Transaction) => void): Promise<zookeeper.OpResult[]> {
    const tx = this.client.transaction();
    build(tx);
    return new Promise((resolve, reject) => {
      tx.commit((err, results) => (err ? reject(err) : resolve(results)));
    });
  }
}
