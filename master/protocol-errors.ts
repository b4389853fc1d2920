/**
 * Counts and reports connections to the master's gRPC port that break the protocol (bytes that
 * are not HTTP/2, a failed TLS handshake). grpc-js closes them itself but tells nobody; an
 * operator wants to see a rogue or misconfigured client. grpc-js has no public hook for it, so
 * this reads the HTTP/2 servers it keeps in the private `http2Servers` map after `bindAsync`:
 * the one place that depends on grpc-js internals (pinned by test/master/rogue.test.ts). If a
 * grpc-js upgrade removes the map, the master logs once that it cannot count them, and serves on.
 */
import type * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
import { closedByGate } from '../core/grpc/handshake-gate';
import type { Logger } from '../core/logger';

export function watchProtocolErrors(server: grpc.Server, onError: (peer: string, err: Error) => void, logger: Logger): void {
  const servers = (server as unknown as { http2Servers?: Map<http2.Http2Server, unknown> }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) {
    logger.warn('This grpc-js does not expose its HTTP/2 servers: connections that break the protocol are not counted.');
    return;
  }
  // A session's socket is gone by the time it fails: note its peer when it starts.
  const peers = new WeakMap<http2.ServerHttp2Session, string>();
  for (const h2 of servers.keys()) {
    h2.on('session', (session: http2.ServerHttp2Session) => {
      peers.set(session, `${session.socket?.remoteAddress}:${session.socket?.remotePort}`);
    });
    h2.on('sessionError', (err: Error, session?: http2.ServerHttp2Session) => onError((session && peers.get(session)) ?? 'unknown', err));
    // The handshake gate's own closes are counted and logged by the gate's wiring (core/grpc/tuning.ts).
    h2.on('tlsClientError', (err: Error, socket: { remoteAddress?: string; remotePort?: number }) => {
      if (!closedByGate(err)) onError(`${socket.remoteAddress}:${socket.remotePort}`, err);
    });
  }
}
