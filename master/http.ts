/**
 * The master's HTTP server: `/status` (JSON: master, nodes, configs, mappings, commands),
 * `/metrics` (Prometheus text) and `/` (a status page for people that reloads itself).
 *
 * While the store is not known current (ZooKeeper session lost) `/status` answers 503 and the
 * page says so instead of showing data that may be stale.
 *
 * With TLS (`guard`) the server is HTTPS and every path needs an admin or read-only certificate,
 * or the admin bearer token (core/tls/http.ts); others get 401/403 with the reason.
 */
import * as http from 'node:http';
import type { ComponentCounters } from '../core/component';
import type { HttpLimits } from '../core/http-limits';
import { listen } from '../core/listen';
import { answerRefusal, authorizeRequest, createGuardedServer, type HttpGuard } from '../core/tls/http';
import type { Logger } from '../core/logger';
import type { MasterMetrics } from './metrics';
import type { NodeTable } from './nodes';
import { nodeStateName } from '../proto/control';
import { mappingsOf } from './services';
import type { CommandRecord, ConfigStore } from './store/types';

export interface StatusDeps {
  store: ConfigStore;
  nodes: NodeTable;
  metrics: MasterMetrics;
  masterId: string;
  logger: Logger;
  /** HTTPS, and who may read: admin or read-only certificates, or the admin token (absent: plain HTTP). */
  guard?: HttpGuard;
  /** Connections, timeouts and header size (core/http-limits.ts; default HTTP_LIMIT_DEFAULTS), refusals counted on `limitCounters`. */
  limits?: HttpLimits;
  limitCounters?: ComponentCounters;
}

interface StatusDocument {
  master: { id: string; store: string; leader: boolean; fresh: boolean };
  nodes: Array<{
    physical: string;
    host: string;
    role: string;
    state: string;
    lastSeen: number;
    logical: Array<{ name: string; state: string; configVersion: number; message: string }>;
  }>;
  configs: Array<{ logical: string; flow: string; source: string; sink: string; version: number }>;
  mappings: Array<{ physical: string; logical: string[] }>;
  commands: CommandRecord[];
}

/** Builds the /status document; throws StoreUnavailableError while the store is stale. */
async function statusDocument(deps: StatusDeps, commandLimit = 50): Promise<StatusDocument> {
  const state = deps.store.view().state;
  const now = Date.now();
  const nodes = deps.nodes.list(state, now);
  const commands = await deps.store.recentCommands(commandLimit);
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(nodeStateName(n.state), (counts.get(nodeStateName(n.state)) ?? 0) + 1);
  deps.metrics.nodes.reset();
  for (const [s, c] of counts) deps.metrics.nodes.set({ state: s }, c);
  deps.metrics.configs.set(Object.keys(state.configs).length);
  return {
    master: { id: deps.masterId, store: deps.store.kind, leader: deps.store.isLeader, fresh: deps.store.fresh },
    nodes: nodes.map((n) => ({
      physical: n.physical,
      host: n.host,
      role: n.role,
      state: nodeStateName(n.state),
      lastSeen: n.lastSeen,
      logical: n.logical.map((l) => ({ name: l.name, state: nodeStateName(l.state), configVersion: l.configVersion, message: l.message })),
    })),
    configs: Object.keys(state.configs)
      .sort()
      .map((name) => ({ logical: name, ...state.configs[name] })),
    mappings: mappingsOf(
      state,
      nodes.map((n) => n.physical),
    ),
    commands,
  };
}

const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

function table(headers: string[], rows: string[][]): string {
  if (rows.length === 0) return '<p class="none">none</p>';
  return `<table><tr>${headers.map((h) => `<th>${h}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</table>`;
}

function statusPage(doc: StatusDocument | undefined, problem: string | undefined, masterId: string): string {
  const now = Date.now();
  const body = !doc
    ? `<p class="stale">This master has no current view of the cluster: ${esc(problem)}. Ask another master.</p>`
    : `<p>Master ${esc(doc.master.id)} · store ${esc(doc.master.store)} · ${doc.master.leader ? 'leader' : 'follower'}</p>
<h2>Nodes (${doc.nodes.length})</h2>
${table(
  ['physical', 'host', 'role', 'state', 'last seen', 'logical nodes'],
  doc.nodes.map((n) => [
    esc(n.physical),
    esc(n.host),
    esc(n.role),
    `<span class="s-${esc(n.state)}">${esc(n.state)}</span>`,
    esc(ago(n.lastSeen, now)),
    n.logical.map((l) => `${esc(l.name)}: ${esc(l.state)} v${l.configVersion}${l.message ? ` (${esc(l.message)})` : ''}`).join('<br>'),
  ]),
)}
<h2>Configs (${doc.configs.length})</h2>
${table(
  ['logical', 'flow', 'source', 'sink', 'version'],
  doc.configs.map((c) => [esc(c.logical), esc(c.flow), `<code>${esc(c.source)}</code>`, `<code>${esc(c.sink)}</code>`, String(c.version)]),
)}
<h2>Mappings</h2>
${table(
  ['physical', 'logical'],
  doc.mappings.map((m) => [esc(m.physical), esc(m.logical.join(', '))]),
)}
<h2>Recent commands</h2>
${table(
  ['id', 'command', 'state', 'message', 'submitted'],
  doc.commands
    .slice()
    .reverse()
    .map((c) => [
      String(c.id),
      `<code>${esc([c.command, ...c.args.map((a) => `'${a}'`)].join(' '))}</code>`,
      esc(c.state),
      esc(c.message),
      esc(ago(c.submittedAt, now)),
    ]),
)}`;
  return `<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>Flume master ${esc(masterId)}</title>
<style>
body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}th{background:#eee}
.s-ACTIVE{color:#080}.s-LOST,.s-ERROR{color:#c00;font-weight:bold}.stale{color:#c00;font-weight:bold}.none{color:#888}
</style></head><body><h1>Flume master ${esc(masterId)}</h1>
${body}
<p class="none">Updated ${new Date(now).toISOString()}; this page reloads every 2 s. JSON: <a href="/status">/status</a> · <a href="/metrics">/metrics</a></p>
</body></html>`;
}

export class StatusServer {
  private readonly server: http.Server;

  constructor(private readonly deps: StatusDeps) {
    this.server = createGuardedServer(
      deps.guard ?? {},
      (req, res) => {
        this.handle(req, res).catch((err) => {
          deps.logger.warn('HTTP request failed.', { url: req.url, error: (err as Error).message });
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`${(err as Error).message}\n`);
        });
      },
      deps.limits,
      deps.limitCounters,
    );
  }

  listen(port: number, host: string): Promise<number> {
    return listen(this.server, port, host);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    try {
      authorizeRequest(this.deps.guard ?? {}, req, `read ${url.pathname}`);
    } catch (err) {
      answerRefusal(res, err);
      return;
    }
    this.deps.metrics.leader.set(this.deps.store.isLeader ? 1 : 0);
    this.deps.metrics.fresh.set(this.deps.store.fresh ? 1 : 0);
    if (url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': this.deps.metrics.metrics.contentType });
      res.end(await this.deps.metrics.metrics.text());
      return;
    }
    if (url.pathname === '/status' || url.pathname === '/') {
      let doc: StatusDocument | undefined;
      let problem: string | undefined;
      try {
        doc = await statusDocument(this.deps);
      } catch (err) {
        problem = (err as Error).message;
      }
      if (url.pathname === '/status') {
        res.writeHead(doc ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(doc ?? { error: problem, master: { id: this.deps.masterId, fresh: false } }));
      } else {
        res.writeHead(doc ? 200 : 503, { 'content-type': 'text/html; charset=utf-8' });
        res.end(statusPage(doc, problem, this.deps.masterId));
      }
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: try /, /status or /metrics\n');
  }
}
