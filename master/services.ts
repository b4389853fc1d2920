/**
 * The master's gRPC services: `Master` (nodes: Heartbeat, GetConfigs, GetChain) and `Admin`
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
import { serviceDefinition } from '../proto';
import type { MasterMetrics } from './metrics';
import { logicalNodesOf, type NodeRecord, type NodeTable } from './nodes';
import {
  CommandStateCode,
  type WireCommandStatus, type WireConfigRequest, type WireHeartbeatReply, type WireHeartbeatRequest,
  type WireLogicalConfig, type WireNodeStatus,
} from './protocol';
import type { CommandRecord, ConfigStore, MasterState } from './store/types';

export interface ServiceDeps {
  store: ConfigStore;
  nodes: NodeTable;
  metrics: MasterMetrics;
  logger: Logger;
  masterId: string;
}

class UnknownCommandError extends FlumeError {
  override readonly grpcCode = grpc.status.NOT_FOUND;
}

function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof FlumeError) return { code: err.grpcCode, details: err.message };
  return { code: grpc.status.INTERNAL, details: (err as Error)?.message ?? String(err) };
}

/** Adapts an async handler to grpc-js's callback form, mapping errors to status codes. */
function unary<Req, Res>(fn: (req: Req) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let result: Res | Promise<Res>;
    try {
      result = fn(call.request);
    } catch (err) {
      callback(toStatus(err) as grpc.ServiceError);
      return;
    }
    if (result instanceof Promise) {
      result.then((r) => callback(null, r), (err) => callback(toStatus(err) as grpc.ServiceError));
    } else {
      callback(null, result);
    }
  };
}

export function commandToWire(r: CommandRecord): WireCommandStatus {
  return {
    id: r.id, command: r.command, args: r.args, state: CommandStateCode[r.state], message: r.message,
    submittedAt: r.submittedAt, finishedAt: r.finishedAt,
  };
}

export function nodeToWire(r: NodeRecord): WireNodeStatus {
  return {
    physical: r.physical, host: r.host, role: r.role, state: r.state, lastSeen: r.lastSeen,
    logical: r.logical.map((l) => ({ name: l.name, state: l.state, configVersion: l.configVersion, message: l.message, counters: {} })),
  };
}

export function configsToWire(state: Readonly<MasterState>, names?: string[]): WireLogicalConfig[] {
  const list = names ?? Object.keys(state.configs).sort();
  const out: WireLogicalConfig[] = [];
  for (const name of list) {
    const c = state.configs[name];
    if (c) out.push({ logical: name, version: c.version, flow: c.flow, source: c.source, sink: c.sink });
  }
  return out;
}

export function mappingsOf(state: Readonly<MasterState>, known: string[], physical?: string): Array<{ physical: string; logical: string[] }> {
  if (physical) return [{ physical, logical: logicalNodesOf(state, physical) }];
  const names = new Set([...Object.keys(state.mappings), ...known]);
  return [...names].sort().map((p) => ({ physical: p, logical: logicalNodesOf(state, p) }));
}

/** Registers both services on `server`. */
export function addMasterServices(server: grpc.Server, deps: ServiceDeps): void {
  const { store, nodes, metrics } = deps;

  server.addService(serviceDefinition('Master'), {
    Heartbeat: unary((req: WireHeartbeatRequest): WireHeartbeatReply => {
      const started = performance.now();
      const view = store.view();
      const reply = nodes.heartbeat(req, view, Date.now());
      metrics.heartbeat(performance.now() - started);
      return reply;
    }),
    GetConfigs: unary((req: WireConfigRequest) => {
      const state = store.view().state;
      const names = req.logical.length > 0 ? req.logical : logicalNodesOf(state, req.physical);
      return { configs: configsToWire(state, names) };
    }),
    GetChain: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
      callback({ code: grpc.status.UNIMPLEMENTED, details: 'automatic chains are not built yet' } as grpc.ServiceError);
    },
  });

  server.addService(serviceDefinition('Admin'), {
    Submit: unary(async (req: { command: string; args: string[] }) => {
      if (!req.command) throw new FlumeError('empty command');
      store.view(); // refuse while stale: the command would be queued where no one may see it
      const record = await store.submit(req.command, req.args);
      deps.logger.info('Command submitted.', { id: record.id, command: record.command, args: record.args });
      return { id: record.id };
    }),
    GetCommandStatus: unary(async (req: { id: number }) => {
      store.view();
      const record = await store.command(req.id);
      if (!record) throw new UnknownCommandError(`no command ${req.id}`);
      return commandToWire(record);
    }),
    GetNodeStatus: unary(() => {
      const state = store.view().state;
      return { nodes: nodes.list(state, Date.now()).map(nodeToWire) };
    }),
    GetConfigs: unary(() => ({ configs: configsToWire(store.view().state) })),
    GetMappings: unary((req: { physical: string }) => {
      const state = store.view().state;
      const known = nodes.list(state, Date.now()).map((n) => n.physical);
      return { mappings: mappingsOf(state, known, req.physical || undefined) };
    }),
    ListCommands: unary(async (req: { limit: number; pendingOnly: boolean }) => {
      store.view();
      const records = req.pendingOnly ? await store.pendingCommands() : await store.recentCommands(req.limit || 100);
      return { commands: (req.limit ? records.slice(-req.limit) : records).map(commandToWire) };
    }),
    GetMasterInfo: unary(() => ({ id: deps.masterId, leader: store.isLeader, store: store.kind, fresh: store.fresh })),
  });
}
