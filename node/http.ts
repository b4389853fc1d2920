/**
 * The HTTP side of a flume-node: `/status` (JSON: the logical nodes, their specs, states and
 * per-component counters) and `/metrics` (Prometheus text). Listens on 127.0.0.1 by default;
 * port 0 picks a free port (read it back from `port`). With TLS it is HTTPS and every request
 * needs an admin or read-only certificate (core/tls/http.ts).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ComponentCounters } from '../core/component';
import type { HttpLimits } from '../core/http-limits';
import { listen } from '../core/listen';
import type { Logger } from '../core/logger';
import type { Metrics } from '../core/metrics';
import { answerRefusal, authorizeRequest, createGuardedServer, type HttpGuard, schemeOf } from '../core/tls/http';

export interface StatusServerOptions {
  port: number;
  host: string;
  metrics: Metrics;
  logger: Logger;
  /** The JSON answered on /status. */
  status: () => unknown;
  /** HTTPS and who may read (absent: plain HTTP, insecure mode). */
  guard?: HttpGuard;
  /** Connections, timeouts and header size (core/http-limits.ts; default HTTP_LIMIT_DEFAULTS), refusals counted on `limitCounters`. */
  limits?: HttpLimits;
  limitCounters?: ComponentCounters;
}

export class StatusServer {
  private readonly server: http.Server;

  private constructor(private readonly options: StatusServerOptions) {
    this.server = createGuardedServer(
      options.guard ?? {},
      (req, res) => {
        this.handle(req, res).catch((err) => {
          options.logger.error('status request failed', { url: req.url, error: String(err) });
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('internal error\n');
        });
      },
      options.limits,
      options.limitCounters,
    );
  }

  static async start(options: StatusServerOptions): Promise<StatusServer> {
    const s = new StatusServer(options);
    await listen(s.server, options.port, options.host);
    options.logger.info('HTTP status listening', { url: `${schemeOf(options.guard ?? {})}://${options.host}:${s.port}/status` });
    return s;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET' });
      res.end('only GET\n');
      return;
    }
    try {
      authorizeRequest(this.options.guard ?? {}, req, `read ${url.pathname}`);
    } catch (err) {
      answerRefusal(res, err);
      return;
    }
    switch (url.pathname) {
      case '/status':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify(this.options.status(), null, 2)}\n`);
        return;
      case '/metrics': {
        const text = await this.options.metrics.text();
        res.writeHead(200, { 'content-type': this.options.metrics.contentType });
        res.end(text);
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found: try /status or /metrics\n');
    }
  }
}
