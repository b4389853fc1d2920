/**
 * A promise-based client of the master's `Admin` gRPC service (proto/flume.proto), for the
 * shell. One instance talks to one master address; grpc-js reconnects it by itself after a
 * failure, so a call made after the master came back succeeds without a new `connect`.
 *
 * Calls may run concurrently. Every call has a deadline; a failure is an `AdminCallError`
 * that names the address and the method.
 */
import * as grpc from '@grpc/grpc-js';
import { FlumeError } from '../core/errors';
import { protoRoot, serviceDefinition } from '../proto/index';
import type {
  WireCommandStatus,
  WireLogicalConfig,
  WireLogicalNodeStatus,
  WireMapping,
  WireMasterInfo,
  WireNodeStatus,
} from '../proto/messages';
import { DEFAULT_MASTER_PORT } from '../core/ports';
import { TLS_CHANNEL_OPTIONS } from '../core/tls';

/** The master's default gRPC port, as in Flume OG (`flume.config.admin.port`). */

export interface MasterAddress {
  host: string;
  port: number;
}

export class AddressError extends FlumeError {
  override readonly grpcCode = grpc.status.INVALID_ARGUMENT;
  constructor(
    readonly address: string,
    reason: string,
  ) {
    super(`bad master address '${address}': ${reason}`);
  }
}

export class ConnectError extends FlumeError {
  override readonly retriable = true;
  override readonly grpcCode = grpc.status.UNAVAILABLE;
  constructor(
    readonly address: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot connect to the master at ${address}: ${reason}`, options);
  }
}

export class AdminCallError extends FlumeError {
  override readonly grpcCode: grpc.status;
  override readonly retriable: boolean;
  constructor(
    readonly address: string,
    readonly method: string,
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(
      code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED
        ? `master ${address} did not answer ${method}: ${details}`
        : `${method} failed: ${details}`,
    );
    this.grpcCode = code;
    this.retriable = code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED;
  }
}

/**
 * `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address (no port). Flume OG's
 * `host:adminport:reportport` is read as `host:adminport` (there is no report port here).
 */
export function parseAddress(text: string, defaultPort = DEFAULT_MASTER_PORT): MasterAddress {
  let s = text.trim();
  if (s === '') throw new AddressError(text, 'empty');
  const og = /^([^:[\]]+:\d+):\d+$/.exec(s);
  if (og) s = og[1];
  let host: string;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw new AddressError(text, "missing ']'");
    host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) throw new AddressError(text, "expected ':port' after ']'");
    portText = rest === '' ? undefined : rest.slice(1);
  } else if (s.split(':').length > 2) {
    host = s; // a bare IPv6 address
  } else {
    const colon = s.indexOf(':');
    host = colon < 0 ? s : s.slice(0, colon);
    portText = colon < 0 ? undefined : s.slice(colon + 1);
  }
  if (host === '') throw new AddressError(text, 'no host');
  if (portText === undefined) return { host, port: defaultPort };
  if (!/^\d+$/.test(portText)) throw new AddressError(text, `port '${portText}' is not a number`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new AddressError(text, `port ${port} is out of range 1-65535`);
  return { host, port };
}

export function formatAddress(a: MasterAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

// ---- messages (plain objects, as proto/index.ts decodes them: longs as numbers, enums as numbers)

export type CommandStatus = WireCommandStatus;
/** The fields of a logical node's status the shell shows. */
type LogicalNodeStatus = Pick<WireLogicalNodeStatus, 'name' | 'state' | 'configVersion' | 'message'>;
export type NodeStatus = Omit<WireNodeStatus, 'logical'> & { logical: LogicalNodeStatus[] };
export type LogicalConfig = WireLogicalConfig;
export type MasterInfo = WireMasterInfo;
export type Mapping = WireMapping;

/** Enum value names by number, read from the proto so that added values need no change here. */
export function enumName(enumName: 'NodeState' | 'CommandState', value: number): string {
  return protoRoot().lookupEnum(`flume.${enumName}`).valuesById[value] ?? `UNKNOWN(${value})`;
}

const CALL_TIMEOUT_MS = 10_000;

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;
type UnaryMethod = (request: object, options: grpc.CallOptions, callback: Callback<unknown>) => grpc.ClientUnaryCall;

const AdminClientConstructor = grpc.makeClientConstructor(serviceDefinition('Admin'), 'Admin');

export class AdminClient {
  readonly address: string;
  private readonly client: grpc.Client;

  /** `credentials`: core/tls `personCredentials` (mutual TLS or the admin token); default plaintext (insecure mode). */
  constructor(
    readonly target: MasterAddress,
    private readonly callTimeoutMs = CALL_TIMEOUT_MS,
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    this.address = formatAddress(target);
    this.client = new AdminClientConstructor(this.address, credentials, TLS_CHANNEL_OPTIONS);
  }

  /**
   * Resolves once the channel is READY. Fails fast (without waiting for the deadline) when the
   * first connection attempt fails, e.g. connection refused.
   */
  async connect(timeoutMs: number): Promise<void> {
    const channel = this.client.getChannel();
    const deadline = Date.now() + timeoutMs;
    let state = channel.getConnectivityState(true);
    while (state !== grpc.connectivityState.READY) {
      if (state === grpc.connectivityState.TRANSIENT_FAILURE) {
        throw new ConnectError(this.address, 'connection failed (is a master running there?)');
      }
      if (state === grpc.connectivityState.SHUTDOWN) throw new ConnectError(this.address, 'channel closed');
      if (Date.now() >= deadline) throw new ConnectError(this.address, `no answer within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => channel.watchConnectivityState(state, deadline, () => resolve()));
      state = channel.getConnectivityState(true);
    }
  }

  /** `clientId`: the same for every resend of one command (see Session.submit). */
  submit(command: string, args: readonly string[], clientId = ''): Promise<number> {
    return this.call<{ id: number }>('Submit', { command, args, clientId }).then((r) => r.id);
  }

  commandStatus(id: number): Promise<CommandStatus> {
    return this.call<CommandStatus>('GetCommandStatus', { id });
  }

  nodeStatus(): Promise<NodeStatus[]> {
    return this.call<{ nodes: NodeStatus[] }>('GetNodeStatus', {}).then((r) => r.nodes);
  }

  configs(): Promise<LogicalConfig[]> {
    return this.call<{ configs: LogicalConfig[] }>('GetConfigs', {}).then((r) => r.configs);
  }

  mappings(physical = ''): Promise<Mapping[]> {
    return this.call<{ mappings: Mapping[] }>('GetMappings', { physical }).then((r) => r.mappings);
  }

  /** The newest `limit` commands (0: the master's default), oldest first. */
  listCommands(limit = 0, pendingOnly = false): Promise<CommandStatus[]> {
    return this.call<{ commands: CommandStatus[] }>('ListCommands', { limit, pendingOnly }).then((r) => r.commands);
  }

  masterInfo(): Promise<MasterInfo> {
    return this.call<MasterInfo>('GetMasterInfo', {});
  }

  close(): void {
    this.client.close();
  }

  private call<T>(method: string, request: object, timeoutMs = this.callTimeoutMs): Promise<T> {
    const fn = (this.client as unknown as Record<string, UnaryMethod>)[method];
    return new Promise<T>((resolve, reject) => {
      fn.call(this.client, request, { deadline: Date.now() + timeoutMs }, (err, value) => {
        if (err) reject(new AdminCallError(this.address, method, err.code, err.details || err.message));
        else resolve(value as T);
      });
    });
  }
}
