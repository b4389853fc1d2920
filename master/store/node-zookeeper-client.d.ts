// The part of node-zookeeper-client 1.1.3 we use (the package ships no types).
declare module 'node-zookeeper-client' {
  import { EventEmitter } from 'node:events';

  export class State {
    readonly name: string;
    readonly code: number;
    static readonly DISCONNECTED: State;
    static readonly SYNC_CONNECTED: State;
    static readonly AUTH_FAILED: State;
    static readonly CONNECTED_READ_ONLY: State;
    static readonly SASL_AUTHENTICATED: State;
    static readonly EXPIRED: State;
  }

  export class Event {
    static readonly NODE_CREATED: number;
    static readonly NODE_DELETED: number;
    static readonly NODE_DATA_CHANGED: number;
    static readonly NODE_CHILDREN_CHANGED: number;
    getType(): number;
    getName(): string;
    getPath(): string;
  }

  export class Exception extends Error {
    static readonly OK: number;
    static readonly CONNECTION_LOSS: number;
    static readonly OPERATION_TIMEOUT: number;
    static readonly SESSION_EXPIRED: number;
    static readonly NO_NODE: number;
    static readonly NODE_EXISTS: number;
    static readonly BAD_VERSION: number;
    static readonly NOT_EMPTY: number;
    getCode(): number;
    getName(): string;
    getPath(): string | undefined;
  }

  export interface Stat {
    version: number;
    cversion: number;
    ctime: Buffer;
    mtime: Buffer;
    ephemeralOwner: Buffer;
    dataLength: number;
    numChildren: number;
  }

  export const CreateMode: {
    PERSISTENT: number;
    PERSISTENT_SEQUENTIAL: number;
    EPHEMERAL: number;
    EPHEMERAL_SEQUENTIAL: number;
  };

  export type Watcher = (event: Event) => void;
  type Cb<T> = (error: Exception | Error | null, result: T) => void;

  export interface OpResult {
    type: number;
    path?: string;
    stat?: Stat;
  }

  export class Transaction {
    create(path: string, data?: Buffer, mode?: number): Transaction;
    check(path: string, version?: number): Transaction;
    setData(path: string, data: Buffer | null, version?: number): Transaction;
    remove(path: string, version?: number): Transaction;
    commit(callback: (error: Exception | Error | null, results: OpResult[]) => void): void;
  }

  export interface ClientOptions {
    sessionTimeout?: number;
    spinDelay?: number;
    retries?: number;
  }

  export class Client extends EventEmitter {
    connect(): void;
    close(): void;
    getState(): State;
    getSessionId(): Buffer;
    getSessionTimeout(): number;
    create(path: string, data: Buffer | null, mode: number, callback: Cb<string>): void;
    remove(path: string, version: number, callback: (error: Exception | Error | null) => void): void;
    setData(path: string, data: Buffer | null, version: number, callback: Cb<Stat>): void;
    getData(
      path: string,
      watcher: Watcher | undefined,
      callback: (error: Exception | Error | null, data: Buffer | undefined, stat: Stat) => void,
    ): void;
    exists(path: string, watcher: Watcher | undefined, callback: Cb<Stat | null>): void;
    getChildren(
      path: string,
      watcher: Watcher | undefined,
      callback: (error: Exception | Error | null, children: string[], stat: Stat) => void,
    ): void;
    mkdirp(path: string, data: Buffer | null, mode: number, callback: Cb<string>): void;
    transaction(): Transaction;
    on(event: 'state', listener: (state: State) => void): this;
    on(event: 'connected' | 'disconnected' | 'expired' | 'authenticationFailed' | 'connectedReadOnly', listener: () => void): this;
  }

  export function createClient(connectionString: string, options?: ClientOptions): Client;
}
