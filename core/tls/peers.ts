/**
 * The identity behind a grpc-js server call, with the reason when there is none.
 *
 * grpc-js's `call.getAuthContext()` gives the certificate of an authorized peer only; an expired
 * or foreign certificate looks the same as none. So each TLS connection is authenticated once,
 * when its HTTP/2 session opens (`track`, from core/grpc/tuning.ts's session hook), and a call
 * finds its connection's result by the peer address grpc-js reports (`call.getPeer()`).
 * Cost: one Map lookup per call (an Append stream is one call), nothing per message.
 *
 * A server with many methods authorizes them in one place with {@link GrpcPeers.interceptor}: a
 * table from method path to the roles it needs, checked before the handler runs; a handler that
 * must also match the caller's name (a node's own status) reads `of(call)`.
 *
 *     const peers = new GrpcPeers(tlsCounters);
 *     const server = new grpc.Server({ interceptors: [peers.interceptor(rolesByPath)] });
 *     const hook = applyServerWindow(server, { tuning: { raiseWindow: false }, onSession: (s) => peers.track(s) }); // core/grpc/tuning
 *     await bind(server, credentials); hook();
 */
import * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
import * as tls from 'node:tls';
import type { ComponentCounters } from '../component';
import type { AdminToken } from './token';
import { authenticateSocket, countRefusal, PeerRefusedError, type PeerIdentity, type PeerRole, requireRole } from './identity';

/**
 * `address:port` as grpc-js's server call prints its peer (`call.getPeer()`): no brackets around
 * an IPv6 address (`::1:5000`); with brackets no IPv6 call found its connection's identity.
 */
function peerKey(address: string | undefined, port: number | undefined): string {
  return `${address ?? ''}:${port}`;
}

export class GrpcPeers {
  private readonly byPeer = new Map<string, PeerIdentity | PeerRefusedError>();

  /** `counters`: the process's `tls` component, for `tls_rejected_<reason>`. */
  constructor(private readonly counters?: ComponentCounters) {}

  /** Authenticates a new session's connection (a session hook). */
  track(session: http2.ServerHttp2Session): void {
    const socket = session.socket;
    if (!(socket instanceof tls.TLSSocket)) return;
    const key = peerKey(socket.remoteAddress, socket.remotePort);
    this.byPeer.set(key, authenticateSocket(socket));
    socket.once('close', () => this.byPeer.delete(key));
  }

  /** The identity of the call's connection, or why it has none. */
  of(call: { getPeer(): string }): PeerIdentity | PeerRefusedError {
    return this.byPeer.get(call.getPeer()) ?? new PeerRefusedError('no_certificate', 'no TLS session known for this call');
  }

  /** The call's identity if its role is one of `roles`; else throws the counted refusal. */
  require(call: { getPeer(): string }, roles: readonly PeerRole[], what: string): PeerIdentity {
    try {
      return requireRole(this.of(call), roles, what);
    } catch (err) {
      throw countRefusal(this.counters, err);
    }
  }

  /**
   * A grpc-js server interceptor that refuses, before its handler runs, a call whose caller lacks
   * the roles `rolesOf(path)` gives (undefined: a method nobody may call). Refusals are counted.
   */
  interceptor(rolesOf: (path: string) => readonly PeerRole[] | undefined, adminToken?: AdminToken): grpc.ServerInterceptor {
    return (method, call) => {
      const listener = new grpc.ServerListenerBuilder()
        .withOnReceiveMetadata((metadata, next) => {
          const roles = rolesOf(method.path) ?? [];
          try {
            let who = this.of(call);
            const bearer = metadata.get('authorization')[0];
            if (who instanceof PeerRefusedError && adminToken && bearer !== undefined) who = adminToken.check(String(bearer));
            requireRole(who, roles, `call ${method.path}`);
          } catch (err) {
            countRefusal(this.counters, err);
            const e = err as PeerRefusedError;
            call.sendStatus({ code: e.grpcCode ?? grpc.status.PERMISSION_DENIED, details: e.message, metadata: new grpc.Metadata() });
            return;
          }
          next(metadata);
        })
        .build();
      return new grpc.ServerInterceptingCall(call, new grpc.ResponderBuilder().withStart((next) => next(listener)).build());
    };
  }
}
