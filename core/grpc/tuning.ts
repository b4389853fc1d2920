/**
 * grpc-js tuning for bulk streams, and the one workaround we need, isolated here.
 *
 * THE PROBLEM. HTTP/2 flow control lets a sender have at most one window of bytes in flight per
 * stream and per connection. Node's default window is 65,535 bytes. A grpc-js *client* can raise
 * its own receive window (`grpc-node.flow_control_window`, grpc-js ≥ 1.13), but the grpc-js
 * *server* (1.14.7, the newest release) never reads that option: it advertises Node's default
 * SETTINGS_INITIAL_WINDOW_SIZE and never enlarges the connection window. An agent streaming
 * 100 KB batches to a collector therefore stalls every 64 KiB until the collector's event loop
 * gets round to sending WINDOW_UPDATE, which caps a stream at 2–3× below what both processes
 * can do (ENVIRONMENT.md; measured again by test/bench/tiers.bench.ts, `window=default`).
 * grpc/grpc-node PR #3058 ("support grpc-node.flow_control_window on the server") is open and
 * unreleased; the supported alternatives do not help us: larger messages do not change the
 * bytes-in-flight limit, and several connections (one window each) would break the per-origin
 * order our collector relies on (it commits one stream's batches in the order they arrive).
 *
 * THE WORKAROUND (two private grpc-js fields, touched only here):
 *  1. before the server binds, `settings.initialWindowSize` (and a larger maxFrameSize) is
 *     merged into the options grpc-js passes to `http2.createServer` (`commonServerOptions`),
 *     so every stream's window is advertised in the server's first SETTINGS frame;
 *  2. after it binds, every new HTTP/2 session of the server's `http2Servers` gets
 *     `session.setLocalWindowSize(...)`, Node's public API for the connection-level window.
 * Both are checked: if grpc-js renames its fields, {@link applyServerWindow} throws a
 * {@link GrpcTuningError} at startup instead of silently running slow, and
 * core/grpc/tuning.test.ts proves with a plain Node HTTP/2 client that the window a client sees
 * is the one we asked for. When grpc-js honours `grpc-node.flow_control_window` on the server,
 * delete step 1 and 2 and keep only {@link serverOptions}.
 */
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { ComponentCounters } from '../component';
import { FlumeError } from '../errors';
import { CONNECTIONS_CLOSED_FLOOD, CONNECTIONS_CLOSED_FRAMING, CONNECTIONS_CLOSED_IDLE, CONNECTIONS_REFUSED } from '../metrics';
import type { Logger } from '../logger';
import { closedByGate, displacedReport, gateHandshakes } from './handshake-gate';
import { advertisedStreams, SessionGuard } from './session-guard';

/** Defaults, in one place. */
export const GRPC_TUNING_DEFAULTS = {
  /** Per-stream and per-connection HTTP/2 receive window. */
  windowBytes: 8 * 1024 * 1024,
  /** Largest DATA frame we accept (HTTP/2 allows up to 2^24-1); fewer frames per batch. */
  maxFrameBytes: 1024 * 1024 - 1,
  /** Largest message grpc-js accepts: a max batch plus its framing. */
  maxMessageBytes: 16 * 1024 * 1024,
  /** false keeps Node's 64 KiB server window: only for measuring what the raise buys. */
  raiseWindow: true,
  /**
   * Limits a server holds every client connection to (hostile-input issue): streams open at once
   * and bytes of headers in one request (over either, core/grpc/session-guard.ts closes the
   * connection and counts it), and the memory one HTTP/2 session may hold (queued answers to
   * PINGs a client never reads, unread frames): over it Node ends the session with
   * ENHANCE_YOUR_CALM instead of growing. A collector's agent needs one Append stream and a few
   * Stored calls; its data is bounded by the windows above.
   */
  maxConcurrentStreams: 64,
  /** Client connections at once; one over it is closed before a byte is read. */
  maxConnections: 1024,
  /** Connections in their TLS handshake at once; one more is closed before a byte is read (core/grpc/handshake-gate.ts). */
  maxHandshakes: 256,
  maxHeaderListBytes: 16 * 1024,
  maxSessionMemoryMb: 64,
  /**
   * A connection must finish its TLS handshake, and open its first stream, within this long of
   * connecting, or it is closed (Node's TLS default is 120 s, and no limit on the rest): port
   * scans, idle floods, clients that never speak HTTP/2.
   */
  handshakeTimeoutMs: 10_000,
  /**
   * A connection whose calls have all ended is closed after this long without a new one (by the
   * session guard, in place of grpc-js `grpc.max_connection_idle_ms`). Clients reconnect on their
   * next call.
   */
  idleTimeoutMs: 300_000,
};

export interface GrpcTuning {
  windowBytes: number;
  maxFrameBytes: number;
  maxMessageBytes: number;
  raiseWindow: boolean;
  maxConcurrentStreams: number;
  maxConnections: number;
  maxHandshakes: number;
  maxHeaderListBytes: number;
  maxSessionMemoryMb: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
}

class GrpcTuningError extends FlumeError {
  constructor(readonly field: string) {
    super(`grpc-js internals changed (${field} not found): the HTTP/2 window workaround in core/grpc/tuning.ts needs updating`);
  }
}

function tuningOf(partial: Partial<GrpcTuning>): GrpcTuning {
  return { ...GRPC_TUNING_DEFAULTS, ...partial };
}

/** grpc-js server options for bulk streams (message size limits; the window option for when grpc-js reads it). */
export function serverOptions(partial: Partial<GrpcTuning> = {}): grpc.ServerOptions {
  const t = tuningOf(partial);
  return {
    'grpc.max_receive_message_length': t.maxMessageBytes,
    'grpc.max_send_message_length': t.maxMessageBytes,
    ...limitOptions(t),
    ...(t.raiseWindow ? { 'grpc-node.flow_control_window': t.windowBytes } : {}),
  };
}

/**
 * The grpc-js server options that hold each client connection to the limits; a server that needs
 * no bulk tuning (the master) takes only these. Without `grpc-node.max_session_memory` grpc-js
 * sets no memory limit at all. The stream limit and the idle timeout are not grpc-js options here
 * (`grpc.max_concurrent_streams`, `grpc.max_connection_idle_ms`): {@link applyServerWindow}'s
 * session guard enforces them, so that what they refuse is counted.
 */
export function limitOptions(partial: Partial<GrpcTuning> = {}): grpc.ServerOptions {
  const t = tuningOf(partial);
  return { 'grpc-node.max_session_memory': t.maxSessionMemoryMb };
}

/** grpc-js channel (client) options: a large receive window on our side, the same size limits. */
export function channelOptions(partial: Partial<GrpcTuning> = {}): grpc.ChannelOptions {
  const t = tuningOf(partial);
  return {
    'grpc.max_receive_message_length': t.maxMessageBytes,
    'grpc.max_send_message_length': t.maxMessageBytes,
    'grpc-node.flow_control_window': t.windowBytes,
    // One connection per client object: two sinks to one collector must not share a window.
    'grpc.use_local_subchannel_pool': 1,
  };
}

interface ServerInternals {
  commonServerOptions?: http2.ServerOptions;
  http2Servers?: Map<http2.Http2Server, unknown>;
}

/** What {@link applyServerWindow} and {@link bindTuned} take besides the server; all optional. */
export interface ServerTuningOptions {
  /** Over GRPC_TUNING_DEFAULTS. */
  tuning?: Partial<GrpcTuning>;
  /**
   * Called for every HTTP/2 session the server accepts (the connection of one client), and with
   * null for a connection refused for being over `maxConnections`.
   */
  onSession?: (session: http2.ServerHttp2Session | null) => void;
  /** Where what the limits refuse is counted, under the listener names of core/metrics.ts. */
  counters?: ComponentCounters;
  /**
   * With `counters`: true counts every refusal; false (the default) only what the session guard
   * ends and the gate displaces, for a caller that counts connections refused below HTTP/2 itself,
   * under its own names, in `onSession`.
   */
  countConnections?: boolean;
  /** Gets the handshake gate's line about displaced handshakes. */
  logger?: Logger;
}

/**
 * Step 1 of the workaround: call on a new server, before `bindAsync`. Returns a function to call
 * once the server is bound (step 2), which also installs `onSession` (used to count connections
 * that fail below gRPC, e.g. bytes that are not HTTP/2).
 *
 * The connection limits ride on the same two fields whether or not the window is raised: the
 * header-list size, the stream limit nghttp2 enforces (twice ours, see core/grpc/session-guard.ts)
 * and the TLS handshake timeout go into the options of `http2.createServer`; the connection cap
 * and the handshakes at once (core/grpc/handshake-gate.ts) onto each HTTP/2 server, and a
 * {@link SessionGuard} onto each of its sessions (our stream limit, header blocks refused below
 * JavaScript, idle time), counted as `options.countConnections` says.
 */
export function applyServerWindow(server: grpc.Server, options: ServerTuningOptions = {}): () => void {
  const { onSession, counters, logger } = options;
  const t = tuningOf(options.tuning ?? {});
  const internals = server as unknown as ServerInternals;
  const common = internals.commonServerOptions;
  if (!common || typeof common !== 'object') throw new GrpcTuningError('Server.commonServerOptions');
  (common as http2.SecureServerOptions).handshakeTimeout = t.handshakeTimeoutMs;
  common.settings = {
    ...common.settings,
    maxHeaderListSize: t.maxHeaderListBytes,
    maxConcurrentStreams: advertisedStreams(t.maxConcurrentStreams),
    ...(t.raiseWindow ? { initialWindowSize: t.windowBytes, maxFrameSize: t.maxFrameBytes } : {}),
  };
  const guard = new SessionGuard(t, counters);
  const hooked = new WeakSet<http2.Http2Server>();
  const displaced = displacedReport(counters, logger);
  return () => {
    const servers = internals.http2Servers;
    if (!(servers instanceof Map)) throw new GrpcTuningError('Server.http2Servers');
    for (const h2 of servers.keys()) {
      if (hooked.has(h2)) continue;
      hooked.add(h2);
      gateHandshakes(h2, t.maxConnections, t.maxHandshakes, displaced);
      if (counters && options.countConnections) countRefusals(h2, counters);
      if (onSession) h2.on('drop', () => onSession(null));
      h2.on('session', (session: http2.ServerHttp2Session) => {
        guard.watch(session);
        if (t.raiseWindow) raiseConnectionWindow(session, t.windowBytes);
        onSession?.(session);
      });
    }
  };
}

/**
 * Counts what an HTTP/2 server's connection-level limits refuse: a connection over the cap or
 * the handshakes at once (`connections_refused`), a TLS handshake not finished in time
 * (`connections_closed_idle`) or failed (`connections_closed_framing`; not one the handshake gate
 * closed), a session Node ends for a flood or for going over its memory limit
 * (`connections_closed_flood`: PINGs or SETTINGS whose answers are never read, streams reset as
 * fast as they open). The limits of one session (too many streams, a header block over the
 * limit, idle time) are the session guard's to count. A server shutting down destroys its open
 * sessions with an error too: those are not floods.
 */
function countRefusals(h2: http2.Http2Server, counters: ComponentCounters): void {
  h2.on('drop', () => counters.add(CONNECTIONS_REFUSED, 1));
  h2.on('tlsClientError', (err: NodeJS.ErrnoException) => {
    if (!closedByGate(err))
      counters.add(err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? CONNECTIONS_CLOSED_IDLE : CONNECTIONS_CLOSED_FRAMING, 1);
  });
  h2.on('session', (session: http2.ServerHttp2Session) => {
    session.once('error', () => {
      if (h2.listening) counters.add(CONNECTIONS_CLOSED_FLOOD, 1);
    });
  });
}

function raiseConnectionWindow(session: http2.Http2Session, windowBytes: number): void {
  try {
    session.setLocalWindowSize(windowBytes);
  } catch {
    // The session died before we got to it: nothing to tune.
  }
}

/**
 * A grpc-js server with the window raised, bound to `host:port` (port 0: any free port; an IPv6
 * host with or without brackets) with `credentials` (core/tls `serverCredentials()`; default
 * plaintext), tuned as {@link applyServerWindow} says. Resolves with the bound port. The caller
 * adds services before calling this.
 */
export async function bindTuned(
  server: grpc.Server,
  host: string,
  port: number,
  options: ServerTuningOptions & { credentials?: grpc.ServerCredentials } = {},
): Promise<number> {
  const hook = applyServerWindow(server, options);
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const credentials = options.credentials ?? grpc.ServerCredentials.createInsecure();
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${bracketed}:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
  hook();
  return bound;
}
