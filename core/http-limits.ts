/**
 * The limits of an HTTP(S) status port (`/`, `/status`, `/metrics` of masters and nodes), so that
 * idle, slow or oversized clients cannot take the descriptors or memory that a scrape, an
 * operator's browser or the process's own traffic need.
 *
 * - `maxConnections`: open connections; one over it is closed at once by Node (`connections_refused`).
 *   A status port serves a few scrapers and people: the default is small.
 * - `requestTimeoutMs`: a request's headers must arrive within this long of its first byte, and
 *   the whole request within twice that (a slowloris: `connections_closed_slow`, answered 408).
 *   On HTTPS, the TLS handshake must also end within it (`connections_closed_idle`).
 * - `idleTimeoutMs`: a connection that sends nothing for this long is closed
 *   (`connections_closed_idle`), counting a keep-alive connection between requests and one
 *   that never sends its first byte.
 * - `maxHeaderBytes`: request headers over it close the connection with 431
 *   (`connections_closed_headers`); bytes that are not HTTP with 400 (`connections_closed_framing`).
 *
 * Counters go to the process's `http` component (core/metrics.ts names), in /metrics.
 */
import type * as http from 'node:http';
import type * as net from 'node:net';
import type { ComponentCounters } from './component';
import {
  CONNECTIONS_CLOSED_FRAMING,
  CONNECTIONS_CLOSED_HEADERS,
  CONNECTIONS_CLOSED_IDLE,
  CONNECTIONS_CLOSED_SLOW,
  CONNECTIONS_REFUSED,
} from './metrics';

export interface HttpLimits {
  maxConnections: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  maxHeaderBytes: number;
}

export const HTTP_LIMIT_DEFAULTS: HttpLimits = {
  maxConnections: 128,
  requestTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  maxHeaderBytes: 16 * 1024,
};

/** Options for `http.createServer` / `https.createServer`: what Node must know before it starts. */
export function httpServerOptions(limits: HttpLimits): http.ServerOptions & { handshakeTimeout: number } {
  return {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.requestTimeoutMs,
    requestTimeout: limits.requestTimeoutMs * 2,
    connectionsCheckingInterval: Math.min(1_000, limits.requestTimeoutMs),
    keepAliveTimeout: limits.idleTimeoutMs,
    handshakeTimeout: limits.requestTimeoutMs,
  };
}

/** Puts the rest of `limits` on a server made with {@link httpServerOptions}, counting each refusal. */
export function limitHttpServer(server: http.Server, limits: HttpLimits, counters?: ComponentCounters): void {
  server.maxConnections = limits.maxConnections;
  server.on('drop', () => counters?.add(CONNECTIONS_REFUSED, 1));
  server.timeout = limits.idleTimeoutMs;
  server.on('timeout', (socket: net.Socket) => {
    counters?.add(CONNECTIONS_CLOSED_IDLE, 1);
    socket.destroy();
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    counters?.add(err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? CONNECTIONS_CLOSED_IDLE : CONNECTIONS_CLOSED_FRAMING, 1);
    socket.destroy();
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    const code = err.code ?? '';
    const [name, status] =
      code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [CONNECTIONS_CLOSED_SLOW, '408 Request Timeout']
        : code === 'HPE_HEADER_OVERFLOW'
          ? [CONNECTIONS_CLOSED_HEADERS, '431 Request Header Fields Too Large']
          : [CONNECTIONS_CLOSED_FRAMING, '400 Bad Request'];
    // A reset or a peer gone mid-request is no refusal of ours.
    if (code !== 'ECONNRESET' && code !== 'EPIPE') counters?.add(name, 1);
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  });
}
