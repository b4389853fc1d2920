/**
 * The master's gRPC services: `Master` (nodes: Control, the stream each node keeps open, see
 * control-stream.ts; Heartbeat, GetConfigs and GetChain, the unary calls of nodes before it) and `Admin`
 * (flume-shell: Submit, GetCommandStatus, GetNodeStatus, GetConfigs, GetMappings,
 * ListCommands, GetMasterInfo).
 *
 * Every answer comes from a store view that is known current; while it is not (ZooKeeper
 * session lost) calls fail with UNAVAILABLE, so a node or shell asks another master instead of
 * acting on stale data.
 */
import * as grpc from '@grpc/grpc-js';
import { FlumeError } from '../core/errors';
import type { Logger } from '../core/logger';
import type * as protobuf from 'protobufjs';
import { messageType, serviceDefinition } from '../proto';
import { ChainTable } from './chains';
import { type ControlLimits, ControlStreams } from './control-stream';
import type { MasterMetrics } from './metrics';
import { logicalNodesOf, type HeartbeatIn, type HeartbeatOut, type LogicalStatus, type NodeRecord, type NodeTable } from './nodes';
import {
  CommandStateCode,
  type WireCommandStatus,
  type WireConfigRequest,
  type WireLogicalConfig,
  type WireMapping,
  type WireNodeStatus,
} from '../proto/messages';
import {
  CLIENT_ID_PATTERN,
  CommandError,
  StoreUnavailableError,
  type CommandRecord,
  type ConfigStore,
  type MasterState,
} from './store/types';

export interface ServiceDeps {
  /** Undefined until the store has started: calls answer UNAVAILABLE meanwhile. */
  store: ConfigStore | undefined;
  nodes: NodeTable;
  metrics: MasterMetrics;
  logger: Logger;
  masterId: string;
  /** With TLS: throws unless the call's certificate names `physical` (master/authz.ts); absent: no check. */
  authorizeNode?: (call: { getPeer(): string }, physical: string) => void;
  /** What the master lets queue for a node that does not read its control stream. */
  control?: ControlLimits;
  /**
   * With TLS: throws (counted) unless the caller may read logical nodes `logical` of `physical`: a
   * node certificate only its own (master/authz.ts `checkOwnLogical`); absent: no check.
   */
  authorizeRead?: (
    call: { getPeer(): string },
    state: Readonly<MasterState>,
    physical: string,
    logical: readonly string[],
    what: string,
  ) => void;
}

class UnknownCommandError extends FlumeError {
  override readonly grpcCode = grpc.status.NOT_FOUND;
}

function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof FlumeError) return { code: err.grpcCode, details: err.message };
  return { code: grpc.status.INTERNAL, details: (err as Error)?.message ?? String(err) };
}

/** Adapts an async handler to grpc-js's callback form, mapping errors to status codes. */
function unary<Req, Res>(fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let result: Res | Promise<Res>;
    try {
      result = fn(call.request, call);
    } catch (err) {
      callback(toStatus(err) as grpc.ServiceError);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (r) => callback(null, r),
        (err) => callback(toStatus(err) as grpc.ServiceError),
      );
    } else {
      callback(null, result);
    }
  };
}

function commandToWire(r: CommandRecord): WireCommandStatus {
  return {
    id: r.id,
    command: r.command,
    args: r.args,
    state: CommandStateCode[r.state],
    message: r.message,
    submittedAt: r.submittedAt,
    finishedAt: r.finishedAt,
  };
}

function nodeToWire(r: NodeRecord): WireNodeStatus {
  return {
    physical: r.physical,
    host: r.host,
    role: r.role,
    state: r.state,
    lastSeen: r.lastSeen,
    logical: r.logical.map((l) => ({
      name: l.name,
      state: l.state,
      configVersion: l.configVersion,
      message: l.message,
      counters: {},
      listen: l.listen ?? '',
    })),
  };
}

function configsToWire(state: Readonly<MasterState>, names?: string[]): WireLogicalConfig[] {
  const list = names ?? Object.keys(state.configs).sort();
  const out: WireLogicalConfig[] = [];
  for (const name of list) {
    const c = state.configs[name];
    if (c) out.push({ logical: name, version: c.version, flow: c.flow, source: c.source, sink: c.sink });
  }
  return out;
}

export function mappingsOf(state: Readonly<MasterState>, known: string[], physical?: string): WireMapping[] {
  if (physical) return [{ physical, logical: logicalNodesOf(state, physical) }];
  const names = new Set([...Object.keys(state.mappings), ...known]);
  return [...names].sort().map((p) => ({ physical: p, logical: logicalNodesOf(state, p) }));
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

interface DecodedStatus {
  name: string;
  state: number;
  configVersion: unknown;
  message: string;
  listen: string;
}

/** A HeartbeatRequest from bytes, with only the conversions the node table needs. */
function decodeHeartbeat(type: protobuf.Type, bytes: Buffer): HeartbeatIn {
  const m = type.decode(bytes) as unknown as { physical: string; host: string; role: string; startedAt: unknown; logical: DecodedStatus[] };
  const logical = new Array<LogicalStatus>(m.logical.length);
  for (let i = 0; i < m.logical.length; i++) {
    const l = m.logical[i];
    logical[i] = { name: l.name, state: l.state, configVersion: num(l.configVersion), message: l.message };
    if (l.listen) logical[i].listen = l.listen;
  }
  return { physical: m.physical, host: m.host, role: m.role, startedAt: num(m.startedAt), logical };
}

/**
 * The physical node name (field 1) of an encoded HeartbeatRequest, read without decoding the
 * rest; '' if absent. Fields may come in any order, so every other field is skipped.
 */
export function physicalOf(bytes: Buffer): string {
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= bytes.length) throw new FlumeError('truncated HeartbeatRequest');
      const b = bytes[pos++];
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    // 64-bit varints (uint64 started_at, config versions): skip the rest of their bytes.
    while (pos < bytes.length && bytes[pos++] >= 0x80);
    return value;
  };
  let physical = '';
  while (pos < bytes.length) {
    const tag = varint();
    switch (tag & 7) {
      case 0:
        varint();
        break;
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const length = varint();
        if (tag >>> 3 === 1) physical = bytes.toString('utf8', pos, pos + length); // the last one wins, as in protobuf
        pos += length;
        break;
      }
      default:
        throw new FlumeError(`HeartbeatRequest has a field of unknown wire type ${tag & 7}`);
    }
  }
  if (pos > bytes.length) throw new FlumeError('truncated HeartbeatRequest');
  return physical;
}

/**
 * The Heartbeat method on bytes: a repeated request (same bytes as the node's last one) only
 * moves its last-seen time; another is decoded and recorded. The reply is encoded once per node
 * and state revision (the NodeTable caches the reply object; its bytes are cached here).
 */
export function heartbeatHandler(ready: () => ConfigStore, nodes: NodeTable, metrics: MasterMetrics): (bytes: Buffer) => Buffer {
  const requestType = messageType('HeartbeatRequest');
  const replyType = messageType('HeartbeatReply');
  const encoded = new WeakMap<HeartbeatOut, Buffer>();
  return (bytes: Buffer): Buffer => {
    const started = performance.now();
    const view = ready().view();
    const now = Date.now();
    const reply =
      nodes.repeat(physicalOf(bytes), bytes, view, now) ?? nodes.heartbeat(decodeHeartbeat(requestType, bytes), view, now, bytes);
    let out = encoded.get(reply);
    if (!out) {
      out = Buffer.from(replyType.encode(replyType.fromObject(reply)).finish());
      encoded.set(reply, out);
    }
    metrics.heartbeat(performance.now() - started);
    return out;
  };
}

/** Registers both services on `server`; returns the control streams (the master attaches them to its store). */
export function addMasterServices(server: grpc.Server, deps: ServiceDeps): ControlStreams {
  const { nodes, metrics } = deps;
  const chains = new ChainTable(() => {
    const view = ready().view();
    return { revision: view.revision, state: view.state, nodes: () => nodes.list(view.state, Date.now()) };
  });
  const ready = (): ConfigStore => {
    if (!deps.store) throw new StoreUnavailableError('the master is starting');
    return deps.store;
  };
  const control = new ControlStreams({
    store: () => deps.store,
    nodes,
    chains,
    metrics,
    masterId: () => deps.masterId,
    logger: deps.logger.child({ component: 'master.control' }),
    authorizeNode: deps.authorizeNode,
    ...deps.control,
  });

  const heartbeat = heartbeatHandler(ready, nodes, metrics);
  server.addService(serviceDefinition('Master', ['Heartbeat', 'Control']), {
    Control: control.handler,
    Heartbeat: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      try {
        deps.authorizeNode?.(call, physicalOf(call.request));
      } catch (err) {
        callback(toStatus(err));
        return;
      }
      unary(heartbeat)(call, callback);
    },
    GetConfigs: unary((req: WireConfigRequest, call) => {
      const state = ready().view().state;
      const names = req.logical.length > 0 ? req.logical : logicalNodesOf(state, req.physical);
      deps.authorizeRead?.(call, state, req.physical, names, 'read the configs');
      return { configs: configsToWire(state, names) };
    }),
    GetChain: unary((req: { logical: string; flow: string }, call) => {
      if (!req.logical) throw new FlumeError("GetChain needs the agent's logical node name");
      deps.authorizeRead?.(call, ready().view().state, '', [req.logical], 'read the chain');
      return chains.chain(req.logical, req.flow || undefined, Date.now());
    }),
  });

  server.addService(serviceDefinition('Admin'), {
    Submit: unary(async (req: { command: string; args: string[]; clientId: string }) => {
      if (!req.command) throw new FlumeError('empty command');
      if (req.clientId !== '' && !CLIENT_ID_PATTERN.test(req.clientId)) throw new CommandError(`client id must match ${CLIENT_ID_PATTERN}`);
      ready().view(); // refuse while stale: the command would be queued where no one may see it
      const { record, repeated } = await ready().submit(req.command, req.args, req.clientId || undefined);
      if (repeated) deps.logger.info('Command submitted again; answered with the first one.', { id: record.id, client_id: req.clientId });
      else deps.logger.info('Command submitted.', { id: record.id, command: record.command, args: record.args });
      return { id: record.id };
    }),
    GetCommandStatus: unary(async (req: { id: number }) => {
      ready().view();
      const record = await ready().command(req.id);
      if (!record) throw new UnknownCommandError(`no command ${req.id}`);
      return commandToWire(record);
    }),
    GetNodeStatus: unary(() => {
      const state = ready().view().state;
      return { nodes: nodes.list(state, Date.now()).map(nodeToWire) };
    }),
    GetConfigs: unary(() => ({ configs: configsToWire(ready().view().state) })),
    GetMappings: unary((req: { physical: string }) => {
      const state = ready().view().state;
      const known = nodes.list(state, Date.now()).map((n) => n.physical);
      return { mappings: mappingsOf(state, known, req.physical || undefined) };
    }),
    ListCommands: unary(async (req: { limit: number; pendingOnly: boolean }) => {
      ready().view();
      const records = req.pendingOnly ? await ready().pendingCommands() : await ready().recentCommands(req.limit || 100);
      return { commands: (req.limit ? records.slice(-req.limit) : records).map(commandToWire) };
    }),
    GetMasterInfo: unary(() => ({
      id: deps.masterId,
      leader: deps.store?.isLeader ?? false,
      store: deps.store?.kind ?? '',
      fresh: deps.store?.fresh ?? false,
    })),
  });
  return control;
}
