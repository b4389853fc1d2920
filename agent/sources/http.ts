/**
 * `http(port[, host, maxBodyBytes, maxEventBytes])`: events POSTed over HTTP.
 *
 * Request: `POST` to any path. The body is one of
 *   - a JSON array of events:         `[{"body": "a"}, {"body": "b"}]`
 *   - a single JSON event object:     `{"body": "a"}`
 *   - NDJSON, one event per line:     `{"body": "a"}\n{"body": "b"}\n`
 * (told apart by the body itself; the Content-Type is not needed), optionally with
 * `Content-Encoding: gzip` (the limit applies to the body both before and after inflating).
 *
 * An event:
 *   body        string, required: UTF-8 text, or base64 when `encoding` is "base64"
 *   encoding    "utf8" (default) | "base64"
 *   attributes  object of string values, optional
 *   timestamp   number (ms since the epoch) or ISO 8601 string; default: time of receipt
 *   priority    "FATAL" | "ERROR" | "WARN" | "INFO" | "DEBUG" | "TRACE", or 0..5; default INFO
 *   host        string; default: the client's address
 * Unknown fields are an error (a typo must not silently drop data).
 *
 * Responses (JSON bodies):
 *   200 {"accepted": N}   only once every event of the request is committed to the channel
 *   400 {"error": ...}    invalid JSON or an invalid event, naming which and why; nothing of the
 *                         request is kept, so the client may fix it and send it again whole
 *   405                   not a POST
 *   413                   the body is over `maxBodyBytes`
 *   415                   a Content-Encoding other than identity or gzip
 *   503 {"error", "accepted": N}  the channel refused the events (closing, full, or its disk
 *                         full), with `Retry-After`: the first N events of the request were committed
 *                         (batches go in whole, in order); send the rest again later
 *   408 / 431 / 400       headers not received within `limits.message_timeout_ms` (a slowloris),
 *                         too large, or not HTTP: the connection is closed and counted
 * Connections over `limits.max_connections` are closed at once, idle ones after
 * `limits.idle_timeout_ms` (core/limits.ts); each is counted.
 */
import http from 'node:http';
import type net from 'node:net';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import { BatchBuilder, Priority } from '../../core/event';
import { listen } from '../../core/listen';
import {
  BATCHES,
  BYTES_ACCEPTED,
  BYTES_RECEIVED,
  CONNECTIONS_CLOSED_FRAMING,
  CONNECTIONS_CLOSED_IDLE,
  CONNECTIONS_CLOSED_SLOW,
  CONNECTIONS_REFUSED,
  ERRORS,
  EVENTS_ACCEPTED,
  EVENTS_RECEIVED,
} from '../../core/metrics';
import type { SourceDef } from '../../core/registry';
import { HOST_ARG, MAX_EVENT_ARG, PORT_ARG, positiveInteger, Rejects, SOURCE_DEFAULTS } from './common';
import { LISTENER_LIMIT_DEFAULTS } from '../../core/limits';

export interface HttpSourceOptions {
  port: number;
  host: string;
  maxBodyBytes: number;
  maxEventBytes: number;
  batchEvents: number;
}

const HTTP_SOURCE_DEFAULTS: Omit<HttpSourceOptions, 'port'> = {
  host: SOURCE_DEFAULTS.bindHost,
  maxBodyBytes: 32 * 1024 * 1024,
  maxEventBytes: SOURCE_DEFAULTS.maxEventBytes,
  batchEvents: SOURCE_DEFAULTS.batchEvents,
};

const EVENT_FIELDS = new Set(['body', 'encoding', 'attributes', 'timestamp', 'priority', 'host']);
const PRIORITIES: Record<string, Priority> = {
  FATAL: Priority.FATAL,
  ERROR: Priority.ERROR,
  WARN: Priority.WARN,
  INFO: Priority.INFO,
  DEBUG: Priority.DEBUG,
  TRACE: Priority.TRACE,
};
const MAX_PROBLEMS = 10;
/** What a 503 tells a client to wait before sending again, in seconds. */
const RETRY_AFTER_S = 1;

class BadRequest extends Error {}

const gunzip = promisify(zlib.gunzip) as (buf: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>;

interface ParsedEvent {
  body: Buffer;
  attributes: Map<string, Buffer> | null;
  timestamp: number;
  priority: Priority;
  host: string;
}

export class HttpSource implements Source {
  private readonly options: HttpSourceOptions;
  private server: http.Server | null = null;
  private out: SourceOutput | null = null;
  private readonly rejects: Rejects;
  private readonly inFlight = new Set<Promise<void>>();
  private boundPort = 0;

  constructor(
    private readonly ctx: ComponentContext,
    options: Partial<HttpSourceOptions> & { port: number },
  ) {
    this.options = { ...HTTP_SOURCE_DEFAULTS, ...options };
    this.rejects = new Rejects(ctx);
  }

  get port(): number {
    return this.boundPort;
  }

  async open(out: SourceOutput): Promise<void> {
    this.out = out;
    const limits = this.ctx.limits ?? LISTENER_LIMIT_DEFAULTS;
    const server = http.createServer(
      {
        headersTimeout: limits.messageTimeoutMs,
        requestTimeout: limits.messageTimeoutMs * 2,
        connectionsCheckingInterval: Math.min(1_000, limits.messageTimeoutMs),
      },
      (req, res) => {
        const p = this.handle(req, res).catch((err) => {
          this.ctx.counters.add(ERRORS, 1);
          this.ctx.logger.error('HTTP request failed.', { error: String(err) });
          if (!res.headersSent) reply(res, 500, { error: 'internal error' });
        });
        this.inFlight.add(p);
        void p.finally(() => this.inFlight.delete(p));
      },
    );
    // Keep-alive connections left open count against the idle timeout like any other.
    server.keepAliveTimeout = Math.min(5_000, limits.idleTimeoutMs);
    server.timeout = limits.idleTimeoutMs;
    server.on('timeout', (socket: net.Socket) => {
      this.ctx.counters.add(CONNECTIONS_CLOSED_IDLE, 1);
      socket.destroy();
    });
    const open = new Set<net.Socket>();
    server.on('connection', (socket: net.Socket) => {
      if (open.size >= limits.maxConnections) {
        this.ctx.counters.add(CONNECTIONS_REFUSED, 1);
        this.rejects.note(`connection over the limit of ${limits.maxConnections}`, {
          peer: `${socket.remoteAddress}:${socket.remotePort}`,
        });
        socket.destroy();
        return;
      }
      open.add(socket);
      socket.on('close', () => open.delete(socket));
    });
    // Headers too slow (a slowloris), too large, or not HTTP: answer if the socket can still
    // take it, close it, and count why.
    server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      const code = err.code ?? '';
      const slow = code === 'ERR_HTTP_REQUEST_TIMEOUT';
      this.ctx.counters.add(slow ? CONNECTIONS_CLOSED_SLOW : CONNECTIONS_CLOSED_FRAMING, 1);
      this.rejects.note(
        slow ? `request not received within ${limits.messageTimeoutMs} ms` : `malformed HTTP request (${code || err.message})`,
        { peer: `${socket.remoteAddress}:${socket.remotePort}` },
      );
      const status = slow
        ? '408 Request Timeout'
        : code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : '400 Bad Request';
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.destroy();
    });
    this.server = server;
    this.boundPort = await listen(server, this.options.port, this.options.host);
    server.on('error', (err) => this.ctx.logger.error('HTTP listener failed.', { error: String(err) }));
    this.ctx.logger.info('Listening for events over HTTP.', { host: this.options.host, port: this.boundPort });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      req.resume();
      reply(res, 405, { error: 'POST a JSON array, a JSON object or NDJSON of events' }, { Allow: 'POST' });
      return;
    }
    const max = this.options.maxBodyBytes;
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > max) {
      this.tooLarge(req, res, declared);
      return;
    }
    const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity' && encoding !== 'gzip') {
      req.resume();
      this.rejects.reject(`HTTP body in unsupported encoding ${encoding}`, 0);
      reply(res, 415, { error: `Content-Encoding ${encoding} is not supported (identity or gzip)` });
      return;
    }
    const raw = await readBody(req, max);
    if (raw === null) {
      this.tooLarge(req, res, max + 1);
      return;
    }
    const size = raw.length;
    this.ctx.counters.add(BYTES_RECEIVED, size);
    const peer = req.socket.remoteAddress ?? this.ctx.host;
    let events: ParsedEvent[];
    try {
      let body = raw;
      if (encoding === 'gzip') {
        try {
          body = await gunzip(raw, { maxOutputLength: max });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
            this.tooLarge(req, res, max + 1);
            return;
          }
          throw new BadRequest(`body is not valid gzip: ${(err as Error).message}`);
        }
      }
      events = this.parseBody(body.toString('utf8'), peer);
    } catch (err) {
      if (!(err instanceof BadRequest)) throw err;
      this.rejects.reject(`bad HTTP request: ${err.message}`, size, { peer });
      reply(res, 400, { error: err.message });
      return;
    }
    this.ctx.counters.add(EVENTS_RECEIVED, events.length);
    const committed = { events: 0 };
    try {
      await this.put(events, committed);
    } catch (err) {
      this.ctx.counters.add(ERRORS, 1);
      reply(
        res,
        503,
        { error: `events not committed: ${String(err)}`, accepted: committed.events },
        { 'Retry-After': String(RETRY_AFTER_S) },
      );
      return;
    }
    reply(res, 200, { accepted: events.length });
  }

  private tooLarge(req: http.IncomingMessage, res: http.ServerResponse, bytes: number): void {
    this.rejects.reject(`HTTP body over the ${this.options.maxBodyBytes}-byte limit`, bytes);
    reply(res, 413, { error: `body over the ${this.options.maxBodyBytes}-byte limit` }, { Connection: 'close' });
    // The rest of the body is not read; the connection closes after the answer.
    res.on('finish', () => req.socket.destroy());
  }

  /** Parses and checks every event; throws BadRequest naming up to MAX_PROBLEMS problems. */
  private parseBody(text: string, peer: string): ParsedEvent[] {
    const trimmed = text.trimStart();
    if (trimmed.length === 0) throw new BadRequest('empty body: expected a JSON array, a JSON object or NDJSON of events');
    let values: unknown[];
    let where: (i: number) => string;
    if (trimmed[0] === '[') {
      const v = parseJson(trimmed, 'body');
      if (!Array.isArray(v)) throw new BadRequest('body is not a JSON array');
      values = v;
      where = (i) => `event ${i}`;
    } else {
      let single: unknown = undefined;
      try {
        single = JSON.parse(trimmed);
      } catch {
        // Not one JSON value: NDJSON.
      }
      if (single !== undefined) {
        values = [single];
        where = () => 'event';
      } else {
        const lines = text.split('\n');
        values = [];
        const lineOf: number[] = [];
        lines.forEach((line, i) => {
          if (line.trim().length === 0) return;
          values.push(parseJson(line, `NDJSON line ${i + 1}`));
          lineOf.push(i + 1);
        });
        where = (i) => `NDJSON line ${lineOf[i]}`;
      }
    }
    const now = Date.now();
    const problems: string[] = [];
    const events: ParsedEvent[] = [];
    values.forEach((v, i) => {
      if (problems.length >= MAX_PROBLEMS) return;
      const e = this.toEvent(v, now, peer, (p) => problems.push(`${where(i)}: ${p}`));
      if (e) events.push(e);
    });
    if (problems.length > 0) throw new BadRequest(problems.join('; '));
    return events;
  }

  private toEvent(v: unknown, now: number, peer: string, problem: (p: string) => void): ParsedEvent | null {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      problem('not a JSON object');
      return null;
    }
    const o = v as Record<string, unknown>;
    let ok = true;
    const bad = (p: string): void => {
      ok = false;
      problem(p);
    };
    for (const k of Object.keys(o)) if (!EVENT_FIELDS.has(k)) bad(`unknown field "${k}" (fields: ${[...EVENT_FIELDS].join(', ')})`);
    if (o.encoding !== undefined && o.encoding !== 'utf8' && o.encoding !== 'base64') bad('encoding must be "utf8" or "base64"');
    let body = Buffer.alloc(0);
    if (typeof o.body !== 'string') bad('body must be a string');
    else body = Buffer.from(o.body, o.encoding === 'base64' ? 'base64' : 'utf8');
    if (body.length > this.options.maxEventBytes) bad(`body of ${body.length} bytes is over the ${this.options.maxEventBytes}-byte limit`);
    let attributes: Map<string, Buffer> | null = null;
    if (o.attributes !== undefined) {
      if (typeof o.attributes !== 'object' || o.attributes === null || Array.isArray(o.attributes))
        bad('attributes must be an object of strings');
      else {
        attributes = new Map();
        for (const [k, val] of Object.entries(o.attributes as Record<string, unknown>)) {
          if (typeof val !== 'string') bad(`attribute "${k}" must be a string`);
          else attributes.set(k, Buffer.from(val));
        }
      }
    }
    let timestamp = now;
    if (typeof o.timestamp === 'number') {
      if (!Number.isInteger(o.timestamp) || o.timestamp < 0) bad('timestamp must be a non-negative integer of milliseconds');
      else timestamp = o.timestamp;
    } else if (typeof o.timestamp === 'string') {
      const t = Date.parse(o.timestamp);
      if (Number.isNaN(t) || t < 0) bad(`timestamp "${o.timestamp}" is not an ISO 8601 date`);
      else timestamp = t;
    } else if (o.timestamp !== undefined) bad('timestamp must be a number or an ISO 8601 string');
    let priority = Priority.INFO;
    if (typeof o.priority === 'string') {
      const p = PRIORITIES[o.priority.toUpperCase()];
      if (p === undefined) bad(`priority "${o.priority}" is not one of ${Object.keys(PRIORITIES).join(', ')}`);
      else priority = p;
    } else if (typeof o.priority === 'number') {
      if (!Number.isInteger(o.priority) || o.priority < 0 || o.priority > 5) bad('priority must be 0..5');
      else priority = o.priority;
    } else if (o.priority !== undefined) bad('priority must be a name or a number');
    let host = peer;
    if (typeof o.host === 'string') host = o.host;
    else if (o.host !== undefined) bad('host must be a string');
    return ok ? { body, attributes, timestamp, priority, host } : null;
  }

  /** Puts the events in batches of `batchEvents`, in order; resolves once all are committed. */
  private async put(events: ParsedEvent[], committed: { events: number }): Promise<void> {
    const out = this.out!;
    const builder = new BatchBuilder(out.origin, 16 * 1024);
    for (let i = 0; i < events.length; i += this.options.batchEvents) {
      const slice = events.slice(i, i + this.options.batchEvents);
      for (const e of slice) builder.append(e.body, e.timestamp, e.priority, e.host, e.attributes);
      const bytes = builder.finish(out.nextSeq());
      await out.put(bytes);
      committed.events += slice.length;
      this.ctx.counters.add(EVENTS_ACCEPTED, slice.length);
      this.ctx.counters.add(BYTES_ACCEPTED, bytes.length);
      this.ctx.counters.add(BATCHES, 1);
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await Promise.all([...this.inFlight]);
    server.closeAllConnections();
    await closed;
  }
}

/** The whole body, or null as soon as it is over `max` bytes (reading stops there). */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        req.off('data', onData);
        req.off('end', onEnd);
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => resolve(Buffer.concat(chunks, size));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', reject);
  });
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequest(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function reply(res: http.ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export const def: SourceDef = {
  kind: 'source',
  name: 'http',
  aliases: ['httpSource'],
  doc: 'Events POSTed as a JSON array, a JSON object or NDJSON; answered 200 only once committed.',
  args: [
    PORT_ARG,
    HOST_ARG,
    {
      name: 'maxBodyBytes',
      type: 'number',
      default: HTTP_SOURCE_DEFAULTS.maxBodyBytes,
      check: positiveInteger,
      doc: 'largest request body; larger ones get 413',
    },
    MAX_EVENT_ARG,
  ],
  create: (args, ctx) =>
    new HttpSource(ctx, {
      port: args.number('port'),
      host: args.string('host'),
      maxBodyBytes: args.number('maxBodyBytes'),
      maxEventBytes: args.number('maxEventBytes'),
    }),
};
