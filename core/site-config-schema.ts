/**
 * The keys of the site config (core/site-config.ts reads it): for each key its type, default
 * and doc, in `SCHEMA` and nowhere else, and the references printed from it
 * (`describeSiteConfig()`, `exampleSiteConfig()`: deploy/flume.conf.example is the latter's
 * output, checked by a test).
 *
 * Contract:
 * - A key type's `parse` takes the text as written (trimmed) and returns the value or one
 *   sentence saying what was expected; it never throws and never falls back to a default.
 *   `format` is its inverse for the printed defaults.
 * - A key either has a default (`def`) or says how it is computed at run time (`opt`, e.g. the
 *   host name); `SiteConfig`'s type follows: keys without a default may be undefined.
 * - The environment name of a key is derived, never listed: `envName`.
 */
import { HTTP_LIMIT_DEFAULTS } from './http-limits';
import { LISTENER_LIMIT_DEFAULTS, MASTER_PORT_LIMIT_DEFAULTS } from './limits';
import { DEFAULT_MASTER_HTTP_PORT, DEFAULT_MASTER_PORT } from './ports';
import { LOG_FORMATS } from './logger';

/** How a key's text becomes a value. `parse` returns the value or a problem sentence. */
export interface KeyType<T> {
  /** Shown in the reference ("port", "host:port list", ...). */
  name: string;
  parse(text: string): { value: T } | { problem: string };
  format(value: T): string;
}

export interface KeyDef<T> {
  type: KeyType<T>;
  /** undefined: computed at run time, as `defaultNote` says. */
  default: T | undefined;
  doc: string;
  /** Stated in place of the default when there is none. */
  defaultNote?: string;
}

function intType(name: string, min: number, max: number): KeyType<number> {
  return {
    name,
    parse(text) {
      if (!/^-?\d+$/.test(text)) return { problem: `expected an integer, not ${JSON.stringify(text)}` };
      const n = Number(text);
      if (n < min || n > max) return { problem: `${n} is out of range (${min} to ${max})` };
      return { value: n };
    },
    format: String,
  };
}

const port = intType('port (0: any free one)', 0, 65535);
const millis = (min: number, max: number): KeyType<number> => intType(`milliseconds (${min} to ${max})`, min, max);

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

const bytes: KeyType<number> = {
  name: 'bytes (suffix k, m or g: binary multiples)',
  parse(text) {
    const m = /^(\d+)\s*([kmg]?)(i?b)?$/i.exec(text);
    if (!m) return { problem: `expected a size like 65536, 64m or 1g, not ${JSON.stringify(text)}` };
    const n = Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()];
    if (n < 1024 || n > 2 ** 50) return { problem: `${text} is out of range (1k to 1024t)` };
    return { value: n };
  },
  format(n) {
    for (const unit of ['g', 'm', 'k'] as const) if (n % SIZE_UNITS[unit] === 0) return `${n / SIZE_UNITS[unit]}${unit}`;
    return String(n);
  },
};

function oneOf<const V extends string>(values: readonly V[]): KeyType<V> {
  return {
    name: `one of ${values.join(', ')}`,
    parse(text) {
      return (values as readonly string[]).includes(text)
        ? { value: text as V }
        : { problem: `expected one of ${values.join(', ')}, not ${JSON.stringify(text)}` };
    },
    format: String,
  };
}

function stringType(name: string, pattern: RegExp, expected: string): KeyType<string> {
  return {
    name,
    parse: (text) => (pattern.test(text) ? { value: text } : { problem: `expected ${expected}, not ${JSON.stringify(text)}` }),
    format: String,
  };
}

const path = stringType('path', /^\S(.*\S)?$/, 'a path');
const name = stringType('name', /^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : - only');
const address = stringType('address', /^[A-Za-z0-9_.:-]+$/, 'a host name or IP address');

/** `host:port` (IPv6 as `[::1]:port`), port 1–65535. Returns the problem or null. */
function checkHostPort(text: string): string | null {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d+)$/.exec(text);
  if (!m) return `${JSON.stringify(text)} is not host:port`;
  const p = Number(m[2]);
  if (p < 1 || p > 65535) return `port ${m[2]} of ${JSON.stringify(text)} is out of range (1 to 65535)`;
  return null;
}

function hostPortList(): KeyType<string[]> {
  return {
    name: 'host:port list (comma-separated)',
    parse(text) {
      const items = text.split(',').map((s) => s.trim());
      const problems = items.map((i) => (i === '' ? 'an empty entry' : checkHostPort(i))).filter((p): p is string => p !== null);
      const dup = items.find((i, n) => i !== '' && items.indexOf(i) !== n);
      if (dup !== undefined) problems.push(`${dup} is listed twice`);
      return problems.length > 0 ? { problem: `malformed host:port list: ${problems.join('; ')}` } : { value: items };
    },
    format: (v) => v.join(','),
  };
}

/** `host:port,...` with an optional `/chroot` suffix (ZooKeeper's own syntax); '' = none. */
const zkConnect: KeyType<string> = {
  name: 'host:port list, optionally /chroot',
  parse(text) {
    if (text === '') return { value: '' };
    const slash = text.indexOf('/');
    const hosts = hostPortList().parse(slash < 0 ? text : text.slice(0, slash));
    if ('problem' in hosts) return hosts;
    if (slash >= 0 && !/^(\/[A-Za-z0-9_.-]+)+$/.test(text.slice(slash))) {
      return { problem: `the chroot ${JSON.stringify(text.slice(slash))} of a connect string must look like /flume/prod` };
    }
    return { value: [...hosts.value].join(',') + (slash < 0 ? '' : text.slice(slash)) };
  },
  format: String,
};

/** `node.allow_exec`: false, true, or a JSON list of the exact command lines allowed. */
const execAllowance: KeyType<boolean | string[]> = {
  name: 'false, true, or a JSON list of command lines',
  parse(text) {
    if (text === 'false' || text === 'true') return { value: text === 'true' };
    let list: unknown;
    try {
      list = JSON.parse(text);
    } catch {
      list = undefined;
    }
    if (!Array.isArray(list) || list.some((c) => typeof c !== 'string' || c.trim() === '')) {
      return { problem: `expected false, true or a JSON list of command lines such as ["uptime", "df -k"], not ${JSON.stringify(text)}` };
    }
    return { value: list as string[] };
  },
  format: (v) => (typeof v === 'boolean' ? String(v) : JSON.stringify(v)),
};

/** Comma-separated absolute paths. */
const absolutePaths: KeyType<string[]> = {
  name: 'absolute path list (comma-separated)',
  parse(text) {
    const items = text.split(',').map((s) => s.trim());
    const bad = items.filter((i) => !i.startsWith('/'));
    if (bad.length > 0) return { problem: `expected absolute paths, not ${bad.map((b) => JSON.stringify(b)).join(', ')}` };
    return { value: items };
  },
  format: (v) => v.join(','),
};

const chroot = stringType('ZooKeeper path', /^(\/[A-Za-z0-9_.-]+)+$/, 'a path like /flume/prod (no trailing /)');

/** A key with a default. */
function def<T>(type: KeyType<T>, dflt: T, doc: string): KeyDef<T> & { default: T } {
  return { type, default: dflt, doc };
}

/** A key whose default is computed at run time (`defaultNote` says how). */
function opt<T>(type: KeyType<T>, doc: string, defaultNote: string): KeyDef<T> & { default: undefined } {
  return { type, default: undefined, doc, defaultNote };
}

/**
 * Every key. The defaults of master.* mirror MASTER_DEFAULTS (master/master.ts) and those of
 * node.* / channel.* the node runtime's; a test checks they agree.
 */
export const SCHEMA = {
  'master.host': def(
    address,
    '127.0.0.1',
    "Address the master's gRPC and HTTP servers listen on: loopback by default; set 0.0.0.0 (or this host's address) when nodes and shells on other machines must reach it.",
  ),
  'master.port': def(port, DEFAULT_MASTER_PORT, 'gRPC port of the master: nodes heartbeat to it, flume-shell connects to it.'),
  'master.http_port': def(port, DEFAULT_MASTER_HTTP_PORT, 'HTTP port of the master: status page, /status and /metrics.'),
  'master.data_dir': def(
    path,
    'data/master',
    'Directory of the embedded config store (single master, no ZooKeeper); with ZooKeeper, where shell save/load paths resolve.',
  ),
  'master.id': opt(name, 'Id of this master among several.', '<hostname>:<master.port>'),
  'master.heartbeat_ms': def(millis(10, 600_000), 1_000, 'Heartbeat interval the master tells nodes to use.'),
  'master.lost_after': def(
    intType('heartbeats (1 to 1000)', 1, 1_000),
    5,
    'Heartbeats missed before the master marks a node LOST (LOST timeout = master.heartbeat_ms × this).',
  ),
  'zookeeper.connect': def(
    zkConnect,
    '',
    'ZooKeeper ensemble host:port,host:port,... (a /chroot suffix allowed, or use zookeeper.chroot); empty: one master with the embedded store.',
  ),
  'zookeeper.chroot': opt(
    chroot,
    'ZooKeeper path under which the masters keep their state (several clusters can share one ensemble).',
    'none (the root)',
  ),
  'zookeeper.session_timeout_ms': def(
    millis(1_000, 120_000),
    6_000,
    'ZooKeeper session timeout: a dead leader is replaced about this long after it died.',
  ),
  'zookeeper.tls': def(
    oneOf(['off', 'mtls'] as const),
    'off',
    "mtls: the masters reach ZooKeeper over mutual TLS with their own certificates (zookeeper.connect then names the members' secureClientPort; see deploy/README.md); off: plain TCP.",
  ),
  'node.name': opt(name, 'Physical node name, unique in the cluster.', 'the host name'),
  'node.role': def(
    oneOf(['agent', 'collector'] as const),
    'agent',
    'Role announced to the master (auto chains spread agents over collectors).',
  ),
  'node.masters': def(
    hostPortList(),
    [`localhost:${DEFAULT_MASTER_PORT}`],
    'Masters this node heartbeats to, tried in order; failover moves to the next.',
  ),
  'node.data_dir': opt(path, 'Directory for channels (WAL), sequence numbers and tail positions.', '~/.flume/<node.name>'),
  'node.http_host': def(address, '127.0.0.1', "Address the node's HTTP server (/status, /metrics) listens on."),
  'node.http_port': opt(
    port,
    'HTTP port of the node: /status and /metrics (Flume OG used 35862; 0: any free port).',
    'none: no HTTP server',
  ),
  'node.heartbeat_ms': def(millis(10, 600_000), 1_000, 'Heartbeat interval until the master says otherwise.'),
  'node.channel': def(
    oneOf(['memory', 'wal'] as const),
    'memory',
    "Channel between each logical node's source and sink: memory (fast, lost on crash) or wal (durable, replayed on start).",
  ),
  'node.allow_exec': def(
    execAllowance,
    false,
    'Whether this node runs programs for exec, execStream and execPeriodic sources: false (none), true (any command a master sends), or a JSON list of the exact command lines allowed, e.g. ["uptime", "df -k"] (compared whole: they run under /bin/sh -c). A config needing another command is refused by the node and shown as its ERROR.',
  ),
  'node.read_paths': def(
    absolutePaths,
    ['/'],
    'Directories under which the file sources (text, tail, multitail, tailDir, spooldir) may read, after resolving .. and symlinks; / allows any file the node can read. Narrow it (e.g. /var/log,/srv/app/logs) so a master cannot make the node read and ship other files.',
  ),
  'node.write_paths': opt(
    absolutePaths,
    'Directories under which the file-writing sinks (text, collectorSink, escapedFile, customdfs) may write, after resolving .. and symlinks; a config writing elsewhere is refused by the node and shown as its ERROR. A collector lists its storage roots here (e.g. /srv/flume/logs); / allows any file the node can write.',
    'node.data_dir alone',
  ),
  'node.close_timeout_ms': def(
    millis(0, 3_600_000),
    30_000,
    'How long closing a logical node waits for its source, drain and appends in flight; with a WAL at most 2 s (the batches in flight stay in it).',
  ),
  'node.progress_ms': def(
    millis(1, 3_600_000),
    5_000,
    'The least time between two progress lines of a logical node (WAL replay at its start, backlog drain).',
  ),
  'channel.memory.capacity_bytes': def(bytes, 64 * 1024 ** 2, 'Capacity of a memory channel; a full channel makes the source wait.'),
  'channel.wal.capacity_bytes': def(bytes, 1024 ** 3, 'Capacity of a WAL channel on disk; a full channel makes the source wait.'),
  'channel.wal.segment_bytes': def(bytes, 16 * 1024 ** 2, 'Size at which a WAL segment file rolls (at most a quarter of the capacity).'),
  'limits.max_connections': def(
    intType('connections (1 to 1000000)', 1, 1_000_000),
    LISTENER_LIMIT_DEFAULTS.maxConnections,
    'Open connections per listener of a push source; one over it is closed at once and counted.',
  ),
  'limits.idle_timeout_ms': def(
    millis(1_000, 86_400_000),
    LISTENER_LIMIT_DEFAULTS.idleTimeoutMs,
    'A connection of a push source that sends nothing for this long is closed.',
  ),
  'limits.message_timeout_ms': def(
    millis(100, 3_600_000),
    LISTENER_LIMIT_DEFAULTS.messageTimeoutMs,
    'A message (or HTTP request headers) begun but not finished within this long closes its connection.',
  ),
  'limits.buffered_bytes': def(
    bytes,
    LISTENER_LIMIT_DEFAULTS.bufferedBytes,
    'Bytes of unfinished messages one listener holds across its connections; a connection that would go over it is closed.',
  ),
  'limits.master.max_connections': def(
    intType('connections (1 to 1000000)', 1, 1_000_000),
    MASTER_PORT_LIMIT_DEFAULTS.maxConnections,
    "Open connections to the master's gRPC port (one per node, plus shells); one over it is closed at once and counted. Keep it under the process's descriptor limit (ulimit -n).",
  ),
  'limits.master.max_handshakes': def(
    intType('connections (1 to 100000)', 1, 100_000),
    MASTER_PORT_LIMIT_DEFAULTS.maxHandshakes,
    "Connections to the master's gRPC port in their TLS handshake at once; while that many are, a new one is closed at once and counted, so that a fleet arriving together (a master died) is served a few at a time instead of timing out all together. When they run out, the slots are shared by client address (an IPv4 address, or an IPv6 /64): one from an address holding two fewer than the address holding the most takes that address's oldest handshake's slot (counted), so one client stalling handshakes cannot keep others out.",
  ),
  'limits.master.idle_timeout_ms': def(
    millis(1_000, 86_400_000),
    MASTER_PORT_LIMIT_DEFAULTS.idleTimeoutMs,
    "A connection to the master's gRPC port whose calls have all ended is closed after this long without a new one; clients reconnect on their next call.",
  ),
  'limits.master.handshake_timeout_ms': def(
    millis(100, 600_000),
    MASTER_PORT_LIMIT_DEFAULTS.handshakeTimeoutMs,
    "A connection to the master's gRPC port must finish its TLS handshake and open its first call within this long, or it is closed (idle floods, port scans).",
  ),
  'limits.master.max_streams': def(
    intType('streams (1 to 100000)', 1, 100_000),
    MASTER_PORT_LIMIT_DEFAULTS.maxConcurrentStreams,
    "Calls open at once on one connection to the master's gRPC port; a connection with more open is closed and counted (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS advertises twice this, so that the excess is seen).",
  ),
  'limits.master.max_header_list_bytes': def(
    bytes,
    MASTER_PORT_LIMIT_DEFAULTS.maxHeaderListBytes,
    "Bytes of headers in one call to the master's gRPC port; a larger header block is refused (RST_STREAM) and its connection closed and counted.",
  ),
  'limits.master.session_memory_mb': def(
    intType('megabytes (1 to 65536)', 1, 65_536),
    MASTER_PORT_LIMIT_DEFAULTS.maxSessionMemoryMb,
    "Memory one connection to the master's gRPC port may hold (frames queued for a client that does not read, PING answers); over it the connection is ended and counted.",
  ),
  'limits.master.queued_bytes': def(
    bytes,
    MASTER_PORT_LIMIT_DEFAULTS.queuedBytes,
    'Bytes of directives the master lets wait for a node that does not read its control stream; over it the stream and its connection are closed and counted.',
  ),
  'limits.status.max_connections': def(
    intType('connections (1 to 1000000)', 1, 1_000_000),
    HTTP_LIMIT_DEFAULTS.maxConnections,
    'Open connections to the HTTP status port (/, /status, /metrics) of a master or node; one over it is closed at once and counted.',
  ),
  'limits.status.request_timeout_ms': def(
    millis(100, 3_600_000),
    HTTP_LIMIT_DEFAULTS.requestTimeoutMs,
    'A request to the HTTP status port whose headers (or TLS handshake) take longer than this closes its connection (a slowloris); its whole request may take twice this.',
  ),
  'limits.status.idle_timeout_ms': def(
    millis(100, 86_400_000),
    HTTP_LIMIT_DEFAULTS.idleTimeoutMs,
    'A connection to the HTTP status port that sends nothing for this long (between keep-alive requests, or before its first) is closed.',
  ),
  'limits.status.max_header_bytes': def(
    bytes,
    HTTP_LIMIT_DEFAULTS.maxHeaderBytes,
    'Bytes of request headers the HTTP status port accepts; more closes the connection with 431.',
  ),
  'tls.mode': def(
    oneOf(['mtls', 'insecure'] as const),
    'mtls',
    'mtls: every port speaks TLS with client certificates from the cluster CA (flume-certs); insecure: plaintext, logged as a warning at every start.',
  ),
  'tls.ca': opt(path, 'The cluster CA certificate (PEM).', 'none (needed unless tls.mode = insecure)'),
  'tls.cert': opt(
    path,
    "This process's certificate (PEM), naming its role and name (flume-certs issue).",
    'none (needed unless tls.mode = insecure)',
  ),
  'tls.key': opt(path, 'The private key of tls.cert (PEM).', 'none (needed unless tls.mode = insecure)'),
  'tls.dir': opt(
    path,
    'A flume-certs directory: tls.ca, tls.cert and tls.key default to its ca.crt and the <role>-<name>.crt/.key of this process.',
    'none',
  ),
  'tls.admin_token_file': opt(
    path,
    'Master: a file holding an admin bearer token that stands in for an admin certificate (flume-certs token).',
    'none: admin certificates only',
  ),
  'log.level': def(oneOf(['error', 'warn', 'info', 'debug'] as const), 'info', 'Log level of the process.'),
  'log.format': def(
    oneOf(LOG_FORMATS),
    'text',
    'Format of log lines: text (for people, fields as logfmt), logfmt (one logfmt record a line) or json (one object a line).',
  ),
} satisfies Record<string, KeyDef<unknown>>;

type Schema = typeof SCHEMA;
export type SiteKey = keyof Schema;
type ValueOf<D> = D extends KeyDef<infer T> ? T : never;
type HasDefault<K extends SiteKey> = Schema[K]['default'] extends undefined ? false : true;

/** The effective settings. A key without a default is undefined unless set. */
export type SiteConfig = {
  readonly [K in SiteKey]: HasDefault<K> extends true ? ValueOf<Schema[K]> : ValueOf<Schema[K]> | undefined;
};

/** Where the effective value of each key came from: 'default', 'file:line', 'env NAME' or '--flag'. */
export type SiteConfigOrigins = { readonly [K in SiteKey]: string };

export const SITE_KEYS = Object.keys(SCHEMA) as SiteKey[];

/** `master.http_port` → `FLUME_MASTER_HTTP_PORT`. */
export function envName(key: SiteKey): string {
  return `FLUME_${key.toUpperCase().replace(/\./g, '_')}`;
}

function defaultText(key: SiteKey): string {
  const d = SCHEMA[key] as KeyDef<unknown>;
  return d.default === undefined ? '' : d.type.format(d.default);
}

/** Markdown reference of every key (for README generation). */
export function describeSiteConfig(): string {
  const rows = SITE_KEYS.map((key) => {
    const d = SCHEMA[key] as KeyDef<unknown>;
    const dflt =
      d.default === undefined
        ? (d.defaultNote ?? '').replace(/</g, '&lt;')
        : defaultText(key) === ''
          ? '(empty)'
          : `\`${defaultText(key)}\``;
    return `| \`${key}\` | \`${envName(key)}\` | ${d.type.name} | ${dflt} | ${d.doc} |`;
  });
  return [
    '## Site config reference',
    '',
    'One file (`--conf FILE` or `FLUME_CONF`) read by `flume-master` and `flume-node`; `key = value` lines, `#` comments.',
    'Precedence: defaults < file < environment < command-line flags.',
    '',
    '| Key | Environment | Type | Default | Meaning |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

/** The example file: every key with its doc and default (keys without one commented out). */
export function exampleSiteConfig(): string {
  const out = [
    '# Flume site config: read by flume-master and flume-node (--conf FILE, or FLUME_CONF=FILE).',
    '# Generated from core/site-config.ts by deploy/gen-config-example.ts; do not edit by hand.',
    '#',
    '# Format: "key = value" lines; "#" starts a comment. Every line below shows the default.',
    '# Precedence: defaults < this file < environment (FLUME_<KEY>, dots as _) < command-line flags.',
    '# Every problem (unknown key, wrong type, bad port, malformed host:port list, duplicate key)',
    '# is reported at once with its line number, and the process does not start.',
  ];
  let section = '';
  for (const key of SITE_KEYS) {
    const d = SCHEMA[key] as KeyDef<unknown>;
    const top = key.split('.')[0];
    if (top !== section) {
      section = top;
      out.push('', `# ---- ${top} ${'-'.repeat(Math.max(0, 86 - top.length))}`);
    }
    out.push('', ...wrapComment(d.doc), `# Type: ${d.type.name}. Environment: ${envName(key)}.`);
    if (d.default === undefined) out.push(`# Default: ${d.defaultNote}.`, `# ${key} =`);
    else out.push(`${key} = ${defaultText(key)}`.trimEnd());
  }
  return out.join('\n') + '\n';
}

/** `text` as `# ` comment lines of at most `width` characters. */
function wrapComment(text: string, width = 96): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/)) {
    if (line.length + 1 + word.length > width && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}
