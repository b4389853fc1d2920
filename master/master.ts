/**
 * One master process's parts, built in one place and stopped in reverse order: the config store
 * (embedded or ZooKeeper), the node table, the command executor, the gRPC server (Master and
 * Admin services; nodes keep their control streams on it) and the HTTP server.
 * `flume-master start` (cli.ts) parses options into `MasterOptions` and calls `startMaster`.
 */
import * as grpc from '@grpc/grpc-js';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from '../core/logger';
import type { ProcessSignals } from '../core/signals';
import { Metrics } from '../core/metrics';
import type { NodeValidator } from './commands';
import { CommandExecutor } from './executor';
import { CONTROL_KEEPALIVE, PeerSessions } from './control-stream';
import { serverCredentials, type TlsFiles } from './credentials';
import { releaseDecodedMessages } from '../core/grpc/decoder-release';
import { bindTuned, limitOptions } from '../core/grpc/tuning';
import type { HttpLimits } from '../core/http-limits';
import { MASTER_PORT_LIMIT_DEFAULTS, type MasterPortLimits } from '../core/limits';
import { type AdminToken, countRefusal, GrpcPeers, requireRole, TlsContext } from '../core/tls';
import { checkNodeName, checkOwnLogical, nodeScopeOf, rolesOf } from './authz';
import { watchProtocolErrors } from './protocol-errors';
import { StatusServer } from './http';
import { MasterMetrics } from './metrics';
import { NodeSnapshotWriter } from './node-snapshot-writer';
import { NodeTable } from './nodes';
import { addMasterServices, type ServiceDeps } from './services';
import { EmbeddedStore } from './store/embedded';
import { loadNodeSnapshot, saveNodeSnapshot } from './store/node-snapshot';
import type { ConfigStore } from './store/types';
import { ZkNodeExchange } from './store/zk-status';
import { ZK_STORE_DEFAULTS, ZookeeperStore } from './store/zookeeper';
import { ZkTlsRelay } from './store/zk-tls-relay';
import { FlumeError } from '../core/errors';
import { LogThrottle } from '../core/log-throttle';
import { DEFAULT_MASTER_HTTP_PORT, DEFAULT_MASTER_PORT } from '../core/ports';

export interface MasterOptions {
  /** gRPC port (0: any free one). */
  port: number;
  /** HTTP port (0: any free one). */
  httpPort: number;
  /** Address both servers listen on. */
  host: string;
  /** Embedded store directory; with ZooKeeper, where `save`/`load` paths resolve. */
  data: string;
  /** ZooKeeper connect string host:port,...[/chroot]; none: embedded store. */
  zk?: string;
  /** Master id; default `<hostname>:<gRPC port>`. */
  id?: string;
  /** Heartbeat interval nodes are told to use. */
  heartbeatMs: number;
  /** Heartbeats missed before a node is LOST. */
  lostAfter: number;
  /** ZooKeeper session timeout: a dead leader is replaced about this long after it died. */
  sessionTimeoutMs: number;
  /** ZooKeeper over mutual TLS (`zk` names the members' secureClientPorts; store/zk-tls-relay.ts); needs `tls`. */
  zkTls?: boolean;
  validate?: NodeValidator;
  /** Where components register to be told of a SIGHUP reload (TLS certificates, ...). */
  signals?: ProcessSignals;
  /** Mutual TLS on the gRPC port; none: plaintext. */
  tls?: TlsFiles | TlsContext;
  /** The admin bearer token, standing in for an admin certificate (TLS only). */
  adminToken?: AdminToken;
  /** Limits of the gRPC port (limits.master.*); default MASTER_PORT_LIMIT_DEFAULTS. */
  limits?: MasterPortLimits;
  /** Limits of the HTTP port (limits.status.*); default HTTP_LIMIT_DEFAULTS. */
  statusLimits?: HttpLimits;
}

export const MASTER_DEFAULTS = {
  port: DEFAULT_MASTER_PORT,
  httpPort: DEFAULT_MASTER_HTTP_PORT,
  /** Loopback unless told otherwise: an open master port hands the fleet to whoever reaches it. */
  host: '127.0.0.1',
  data: path.join('data', 'master'),
  heartbeatMs: 1_000,
  lostAfter: 5,
  sessionTimeoutMs: ZK_STORE_DEFAULTS.sessionTimeoutMs,
} as const;

export interface RunningMaster {
  id: string;
  grpcPort: number;
  httpPort: number;
  store: ConfigStore;
  nodes: NodeTable;
  stop(): Promise<void>;
}

export async function startMaster(options: MasterOptions, logger: Logger): Promise<RunningMaster> {
  releaseDecodedMessages();
  const metrics = new MasterMetrics(new Metrics());
  const nodes = new NodeTable({ heartbeatMs: options.heartbeatMs, lostAfterMs: options.heartbeatMs * options.lostAfter });
  // With TLS, every call is authorized by role before its handler (master/authz.ts), and a node
  // reports only as itself; refusals are counted on the `tls` component.
  const tls = options.tls instanceof TlsContext ? options.tls : undefined;
  // eslint-disable-next-line prefer-const -- set once the metrics exist; the closure below reads it
  let tlsCounters: ReturnType<typeof metrics.metrics.component> | undefined;
  const counting = { add: (name: string, n?: number) => tlsCounters?.add(name, n) };
  const peers = tls ? new GrpcPeers(counting) : undefined;
  // Refusals of the gRPC port's limits, counted on the `grpc` component once the id is known.
  // eslint-disable-next-line prefer-const -- as tlsCounters
  let grpcCounters: ReturnType<typeof metrics.metrics.component> | undefined;
  const grpcCounting = { add: (name: string, n?: number) => grpcCounters?.add(name, n) };
  const limits = { ...MASTER_PORT_LIMIT_DEFAULTS, ...options.limits };
  const server = new grpc.Server({
    'grpc.keepalive_time_ms': CONTROL_KEEPALIVE.serverTimeMs,
    'grpc.keepalive_timeout_ms': CONTROL_KEEPALIVE.serverTimeoutMs,
    // grpc-js's channelz keeps a trace and counters per connection and call that nothing here reads.
    'grpc.enable_channelz': 0,
    ...limitOptions(limits),
    ...(peers ? { interceptors: [peers.interceptor(rolesOf, options.adminToken)] } : {}),
  });
  const sessions = new PeerSessions();

  // The store is built once the port is known (the default id names it) and plugged into the
  // services once started: until then every call answers UNAVAILABLE.
  const deps: ServiceDeps = {
    store: undefined,
    nodes,
    metrics,
    logger: logger.child({ component: 'master.admin' }),
    masterId: options.id ?? '',
    authorizeNode: peers
      ? (call, physical) => {
          try {
            checkNodeName(requireRole(peers.of(call), ['agent', 'collector'], 'report as a node'), physical);
          } catch (err) {
            throw countRefusal(counting, err);
          }
        }
      : undefined,
    control: { queuedBytes: limits.queuedBytes, counters: grpcCounting, closeConnection: (call) => sessions.close(call) },
    authorizeRead: peers
      ? (call, state, physical, logical, what) => {
          const scope = nodeScopeOf(peers.of(call));
          if (scope === undefined) return; // admin, read-only or the admin token: the interceptor checked the role
          try {
            checkOwnLogical(state, scope, physical, logical, what);
          } catch (err) {
            throw countRefusal(counting, err);
          }
        }
      : undefined,
  };
  const control = addMasterServices(server, deps);
  const grpcLogger = logger.child({ component: 'master.grpc' });
  const grpcPort = await bindTuned(server, options.host, options.port, {
    tuning: { ...limits, raiseWindow: false },
    onSession: (s) => {
      if (!s) return;
      sessions.track(s);
      peers?.track(s);
    },
    credentials: serverCredentials(options.tls),
    counters: grpcCounting,
    countConnections: true,
    logger: grpcLogger,
  });
  // A rogue client's connections are each counted; a flood of them is a line per 10 s, not a line each.
  const protocolLines = new LogThrottle();
  watchProtocolErrors(
    server,
    (peer, err) => {
      metrics.connectionError();
      const since = protocolLines.count();
      if (since > 0)
        grpcLogger.warn('Closed a connection that broke the protocol.', { peer, error: err.message, closedSinceLastLine: since });
    },
    grpcLogger,
  );
  const id = options.id ?? `${os.hostname()}:${grpcPort}`;
  deps.masterId = id;

  const storeLogger = logger.child({ component: 'master.store' });
  if (options.zk && options.zkTls && !tls) {
    server.forceShutdown();
    throw new FlumeError('zookeeper.tls = mtls needs the master to run with TLS (tls.ca, tls.cert, tls.key)');
  }
  // The ZooKeeper client speaks plain TCP: with zookeeper.tls it reaches the ensemble through loopback relays.
  const zkRelay = options.zk && options.zkTls && tls ? await ZkTlsRelay.start(options.zk, tls, storeLogger) : undefined;
  const store: ConfigStore = options.zk
    ? new ZookeeperStore(
        {
          connect: zkRelay?.connect ?? options.zk,
          masterId: id,
          info: { grpcPort, host: os.hostname() },
          sessionTimeoutMs: options.sessionTimeoutMs,
          connectTimeoutMs: ZK_STORE_DEFAULTS.connectTimeoutMs,
        },
        storeLogger,
      )
    : new EmbeddedStore(options.data, storeLogger);
  let exchange: ZkNodeExchange | undefined;
  try {
    await store.start();
  } catch (err) {
    server.forceShutdown();
    await zkRelay?.close();
    metrics.close();
    throw err;
  }
  deps.store = store;
  // With ZooKeeper, a master cut off from it keeps its nodes until its session would have expired.
  control.attach(store, options.zk ? options.sessionTimeoutMs : 0);
  const streamsGauge = setInterval(() => metrics.controlStreams.set(control.size), 5_000);
  streamsGauge.unref();
  if (store instanceof ZookeeperStore) {
    exchange = new ZkNodeExchange(
      store,
      id,
      () => nodes.local(),
      (records) => nodes.seed(records),
      options.heartbeatMs,
      logger.child({ component: 'master.status' }),
    );
    nodes.setExchange(exchange);
    exchange.start();
  }

  let snapshotTimer: NodeJS.Timeout | undefined;
  let snapshots: NodeSnapshotWriter | undefined;
  if (store instanceof EmbeddedStore) {
    nodes.seed(loadNodeSnapshot(options.data));
    const writer = new NodeSnapshotWriter(options.data, () => nodes.local(), logger.child({ component: 'master.nodes' }));
    snapshots = writer;
    snapshotTimer = setInterval(() => void writer.save(), options.heartbeatMs * 5);
    snapshotTimer.unref();
  }

  const executor = new CommandExecutor(
    store,
    { validate: options.validate, baseDir: path.resolve(options.data) },
    { pollMs: 1_000 },
    logger.child({ component: 'master.commands' }),
    (r) => metrics.commandFinished(r.state),
  );
  executor.start();

  // The leader's duty: notice nodes turning LOST (the state itself is derived by every master).
  const lostLogger = logger.child({ component: 'master.nodes' });
  const sweep = setInterval(() => {
    if (!store.isLeader || !store.fresh) return;
    const lost = nodes.newlyLost(store.view().state, Date.now());
    if (lost.length === 0) return;
    metrics.lost(lost.length);
    for (const node of lost) lostLogger.warn('Node is LOST.', { node });
  }, options.heartbeatMs);
  sweep.unref();

  tlsCounters = metrics.metrics.component(id, 'tls');
  grpcCounters = metrics.metrics.component(id, 'grpc');
  const http = new StatusServer({
    ...deps,
    store,
    masterId: id,
    logger: logger.child({ component: 'master.http' }),
    guard: { tls, adminToken: options.adminToken, counters: counting },
    limits: options.statusLimits,
    limitCounters: metrics.metrics.component(id, 'http'),
  });
  let httpPort: number;
  try {
    httpPort = await http.listen(options.httpPort, options.host);
  } catch (err) {
    clearInterval(sweep);
    clearInterval(snapshotTimer);
    await snapshots?.close();
    await executor.stop();
    clearInterval(streamsGauge);
    exchange?.stop();
    control.close();
    server.forceShutdown();
    await store.stop();
    await zkRelay?.close();
    metrics.close();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(sweep);
      clearInterval(snapshotTimer);
      await snapshots?.close();
      if (store instanceof EmbeddedStore) {
        try {
          saveNodeSnapshot(options.data, nodes.local());
        } catch {
          // reported by the timer already
        }
      }
      await executor.stop();
      clearInterval(streamsGauge);
      exchange?.stop();
      control.close();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      await http.close();
      await store.stop();
      await zkRelay?.close();
      metrics.close();
    })();
    return stopping;
  };
  return { id, grpcPort, httpPort, store, nodes, stop };
}
