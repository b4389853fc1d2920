/**
 * The HTTP status ports (node and master: `/`, `/status`, `/metrics`) under mutual TLS: HTTPS
 * with the process's certificate, and every request authorized by the client's certificate (role
 * admin or read-only) or by the admin bearer token (token.ts) when the process has one.
 * Refusals answer 401 (no usable certificate) or 403 (wrong role) with the reason in the body,
 * and are counted like the gRPC ones (`tls_rejected_<reason>`).
 * Without TLS (insecure mode) the server is plain HTTP and every request is served.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { ComponentCounters } from '../component';
import { HTTP_LIMIT_DEFAULTS, type HttpLimits, httpServerOptions, limitHttpServer } from '../http-limits';
import type { TlsContext } from './context';
import { authenticateSocket, countRefusal, PeerRefusedError, type PeerIdentity, type PeerRole, READ_ROLES, requireRole } from './identity';
import type { AdminToken } from './token';

export interface HttpGuard {
  tls?: TlsContext;
  /** Accepts `Authorization: Bearer <token>` as an admin (over TLS only). */
  adminToken?: AdminToken;
  /** The process's `tls` component, for refusals. */
  counters?: ComponentCounters;
}

export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * An HTTP server, HTTPS when `guard.tls` is set (kept current across certificate reloads), held
 * to `limits` (core/http-limits.ts), its refusals counted on `limitCounters` (the `http` component).
 */
export function createGuardedServer(
  guard: HttpGuard,
  handler: HttpHandler,
  limits: HttpLimits = HTTP_LIMIT_DEFAULTS,
  limitCounters?: ComponentCounters,
): http.Server {
  const options = httpServerOptions(limits);
  let server: http.Server;
  if (!guard.tls) server = http.createServer(options, handler);
  else {
    server = https.createServer({ ...options, ...guard.tls.serverOptions() }, handler);
    const unwatch = guard.tls.watchServer(server as https.Server);
    server.once('close', unwatch);
  }
  limitHttpServer(server, limits, limitCounters);
  return server;
}

/** The scheme of a guarded server's URLs. */
export function schemeOf(guard: HttpGuard): 'http' | 'https' {
  return guard.tls ? 'https' : 'http';
}

/**
 * Who sent `req`, if their role is one of `roles` (default: admin or read-only); undefined in
 * insecure mode. Throws the counted PeerRefusedError otherwise.
 */
export function authorizeRequest(
  guard: HttpGuard,
  req: http.IncomingMessage,
  what: string,
  roles: readonly PeerRole[] = READ_ROLES,
): PeerIdentity | undefined {
  if (!guard.tls) return undefined;
  try {
    let who: PeerIdentity | PeerRefusedError =
      req.socket instanceof tls.TLSSocket ? authenticateSocket(req.socket) : new PeerRefusedError('no_certificate', 'not a TLS connection');
    if (who instanceof PeerRefusedError && guard.adminToken && req.headers.authorization !== undefined)
      who = guard.adminToken.check(req.headers.authorization);
    return requireRole(who, roles, what);
  } catch (err) {
    throw countRefusal(guard.counters, err);
  }
}

/** Answers a refusal (401 / 403 with the reason); rethrows anything else. */
export function answerRefusal(res: http.ServerResponse, err: unknown): void {
  if (!(err instanceof PeerRefusedError)) throw err;
  res.writeHead(err.httpStatus, { 'content-type': 'text/plain', ...(err.httpStatus === 401 ? { 'www-authenticate': 'Bearer' } : {}) });
  res.end(`${err.message}\n`);
}
