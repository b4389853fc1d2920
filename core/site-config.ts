/**
 * The site config: one file read by both `flume-master` and `flume-node` (ports, data dirs,
 * heartbeats, the master list, ZooKeeper, log level, channel capacities).
 *
 * Format (an operator edits it with any editor; no dependency):
 *
 *     # a comment (a line starting with #; or ` # ...` after a value)
 *     master.port = 35873
 *     node.masters = m1.example.com:35873, m2.example.com:35873
 *     zookeeper.connect = zk1:2181,zk2:2181,zk3:2181
 *     channel.wal.capacity_bytes = 1g           # k, m, g: binary multiples
 *
 * Precedence, lowest first: defaults < file < environment < command-line flags. The environment
 * name of a key is derived mechanically: `FLUME_` + the key upper-cased with `.` → `_`
 * (`master.http_port` → `FLUME_MASTER_HTTP_PORT`). Every key, its type, default and doc live in
 * `SCHEMA` (site-config-schema.ts) and nowhere else; `describeSiteConfig()` and
 * `exampleSiteConfig()` there print them. This file reads: the file's syntax, the precedence,
 * the checks across keys, the flags of the commands and the settings each process takes.
 *
 * Validation reports every problem at once (one `ValidationError` whose `problems` are
 * `SiteConfigProblem`s, each with where it was found: `file:line`, `env NAME` or `--flag`):
 * unknown keys (with a "did you mean"), malformed lines, duplicate keys, wrong types, ports out of
 * range, malformed host:port lists. Nothing falls back to a default silently.
 */
import * as fs from 'node:fs';
import { FlumeError, ValidationError } from './errors';
import { editDistance } from './text';
import { type KeyType, SCHEMA, SITE_KEYS, type SiteConfig, type SiteConfigOrigins, type SiteKey, envName } from './site-config-schema';

export type { SiteConfig, SiteConfigOrigins, SiteKey } from './site-config-schema';

/** One problem, with where it was found. */
export class SiteConfigProblem extends FlumeError {
  constructor(
    readonly where: string,
    readonly key: string | undefined,
    readonly detail: string,
  ) {
    super(`${where}: ${detail}`);
  }
}

/** Values given by flags: text as typed, or an already typed value (checked the same way). */
type SiteOverrides = Partial<Record<SiteKey, string | number | string[] | undefined>>;

export interface LoadSiteConfigOptions {
  /** The file to read; default the FLUME_CONF environment variable; none: no file. */
  file?: string;
  /** The environment; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Flag values (highest precedence); `where` names them in problems (default `--<key>`). */
  overrides?: SiteOverrides;
  overrideNames?: Partial<Record<SiteKey, string>>;
}

/** Defaults < file < environment < overrides; throws one ValidationError listing every problem. */
export function loadSiteConfig(options: LoadSiteConfigOptions = {}): SiteConfig {
  return loadSiteConfigDetailed(options).config;
}

export function loadSiteConfigDetailed(options: LoadSiteConfigOptions = {}): {
  config: SiteConfig;
  origins: SiteConfigOrigins;
  file?: string;
} {
  const env = options.env ?? process.env;
  const file = options.file ?? (env.FLUME_CONF !== undefined && env.FLUME_CONF !== '' ? env.FLUME_CONF : undefined);
  const values: Record<string, unknown> = {};
  const origins: Record<string, string> = {};
  for (const key of SITE_KEYS) {
    values[key] = SCHEMA[key].default;
    origins[key] = 'default';
  }
  const problems: SiteConfigProblem[] = [];
  const set = (key: SiteKey, text: string, where: string): void => {
    const parsed = (SCHEMA[key].type as KeyType<unknown>).parse(text);
    if ('problem' in parsed) {
      problems.push(new SiteConfigProblem(where, key, `${key}: ${parsed.problem}`));
    } else {
      values[key] = parsed.value;
      origins[key] = where;
    }
  };

  if (file !== undefined) {
    let text: string | undefined;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      problems.push(new SiteConfigProblem(file, undefined, `cannot read the site config: ${(err as Error).message}`));
    }
    if (text !== undefined) {
      const parsed = parseSiteConfigText(text, file);
      problems.push(...parsed.problems);
      for (const e of parsed.entries) set(e.key, e.value, `${file}:${e.line}`);
      // Syntax and value problems of the file, in line order.
      const lineOf = (p: SiteConfigProblem): number => Number(/:(\d+)$/.exec(p.where)?.[1] ?? 0);
      problems.sort((a, b) => lineOf(a) - lineOf(b));
    }
  }

  const known = new Set(SITE_KEYS.map(envName));
  for (const key of SITE_KEYS) {
    const value = env[envName(key)];
    if (value !== undefined) set(key, value.trim(), `env ${envName(key)}`);
  }
  // A misspelt variable would be ignored silently; names close to a known one are reported.
  for (const name of Object.keys(env)) {
    if (!name.startsWith('FLUME_') || known.has(name)) continue;
    const near = closest(name, [...known], 2);
    if (near !== undefined)
      problems.push(new SiteConfigProblem(`env ${name}`, undefined, `unknown variable ${name}; did you mean ${near}?`));
  }

  for (const [k, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    const where = options.overrideNames?.[k as SiteKey] ?? `--${k}`;
    if (!(k in SCHEMA)) {
      problems.push(unknownKeyProblem(k, where));
      continue;
    }
    set(k as SiteKey, Array.isArray(value) ? value.join(',') : String(value).trim(), where);
  }

  const connect = values['zookeeper.connect'] as string;
  if (connect.includes('/') && values['zookeeper.chroot'] !== undefined) {
    problems.push(
      new SiteConfigProblem(
        origins['zookeeper.chroot'],
        'zookeeper.chroot',
        `zookeeper.chroot is set and zookeeper.connect (from ${origins['zookeeper.connect']}) has a chroot too; keep one`,
      ),
    );
  }
  const seg = values['channel.wal.segment_bytes'] as number;
  const cap = values['channel.wal.capacity_bytes'] as number;
  if (seg > cap / 4) {
    problems.push(
      new SiteConfigProblem(
        origins['channel.wal.segment_bytes'],
        'channel.wal.segment_bytes',
        `channel.wal.segment_bytes (${seg}) must be at most a quarter of channel.wal.capacity_bytes (${cap}, from ${origins['channel.wal.capacity_bytes']})`,
      ),
    );
  }

  if (problems.length > 0) throw new ValidationError(problems, 'site config');
  return { config: values as SiteConfig, origins: origins as SiteConfigOrigins, file };
}

interface SiteConfigEntry {
  key: SiteKey;
  value: string;
  line: number;
}

/**
 * The syntax alone: `key = value` lines, `#` comments, blank lines. Unknown and duplicate keys
 * and malformed lines are problems; values are checked by the loader.
 */
function parseSiteConfigText(text: string, where = 'site config'): { entries: SiteConfigEntry[]; problems: SiteConfigProblem[] } {
  const entries: SiteConfigEntry[] = [];
  const problems: SiteConfigProblem[] = [];
  const firstLine = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const at = `${where}:${line}`;
    const content = raw.replace(/(^|\s)#.*$/, '').trim();
    if (content === '') return;
    const eq = content.indexOf('=');
    if (eq < 0) {
      problems.push(new SiteConfigProblem(at, undefined, `expected "key = value", not ${JSON.stringify(content)}`));
      return;
    }
    const key = content.slice(0, eq).trim();
    const value = content.slice(eq + 1).trim();
    if (!(key in SCHEMA)) {
      problems.push(unknownKeyProblem(key, at));
      return;
    }
    const seen = firstLine.get(key);
    if (seen !== undefined) {
      problems.push(new SiteConfigProblem(at, key, `${key} is set twice (first on line ${seen})`));
      return;
    }
    firstLine.set(key, line);
    entries.push({ key: key as SiteKey, value, line });
  });
  return { entries, problems };
}

function unknownKeyProblem(key: string, where: string): SiteConfigProblem {
  const near = closest(key, SITE_KEYS, Math.max(2, Math.floor(key.length / 4)));
  const hint = near !== undefined ? `; did you mean ${near}?` : `; known keys: ${SITE_KEYS.join(', ')}`;
  return new SiteConfigProblem(where, key, `unknown key ${JSON.stringify(key)}${hint}`);
}

/** The candidate nearest to `word` by edit distance, if within `maxDistance`. */
function closest<T extends string>(word: string, candidates: readonly T[], maxDistance: number): T | undefined {
  let best: T | undefined;
  let bestDistance = maxDistance + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * What a CLI needs of a commander `Command` (structural, so core does not import commander):
 * only values the user typed (source 'cli') override the file; commander's own defaults do not.
 */
export interface CommandLike {
  opts(): Record<string, unknown>;
  getOptionValueSource(key: string): string | undefined;
}

/**
 * Loads the site config with the flags of `command` on top. `flags` maps a commander option's
 * attribute name (`httpPort` for `--http-port`) to the key it sets. The file is `--conf` if the
 * command has it (attribute `conf`), else FLUME_CONF.
 *
 *     const site = siteConfigFromCommand(cmd, { port: 'master.port', httpPort: 'master.http_port' });
 */
export function siteConfigFromCommand(
  command: CommandLike,
  flags: Record<string, SiteKey>,
  options: { env?: NodeJS.ProcessEnv } = {},
): SiteConfig {
  const opts = command.opts();
  const overrides: SiteOverrides = {};
  const overrideNames: Partial<Record<SiteKey, string>> = {};
  for (const [attr, key] of Object.entries(flags)) {
    if (command.getOptionValueSource(attr) !== 'cli') continue;
    overrides[key] = opts[attr] as string | undefined;
    overrideNames[key] = `--${attr.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  }
  const file = typeof opts.conf === 'string' ? opts.conf : undefined;
  return loadSiteConfig({ file, env: options.env, overrides, overrideNames });
}

/** flume-master start's flags (commander attribute names) and the keys they set. */
export const MASTER_FLAG_KEYS = {
  port: 'master.port',
  httpPort: 'master.http_port',
  host: 'master.host',
  data: 'master.data_dir',
  id: 'master.id',
  zk: 'zookeeper.connect',
  heartbeatMs: 'master.heartbeat_ms',
  lostAfter: 'master.lost_after',
  sessionTimeoutMs: 'zookeeper.session_timeout_ms',
} as const satisfies Record<string, SiteKey>;

/** flume-node's flags (commander attribute names) and the keys they set. */
export const NODE_FLAG_KEYS = {
  master: 'node.masters',
  role: 'node.role',
  name: 'node.name',
  data: 'node.data_dir',
  httpPort: 'node.http_port',
  httpHost: 'node.http_host',
  channel: 'node.channel',
  closeTimeout: 'node.close_timeout_ms',
  logLevel: 'log.level',
} as const satisfies Record<string, SiteKey>;

/** What `startMaster` takes (the fields of master/master.ts `MasterOptions`), plus the log level. */
export function masterSettings(c: SiteConfig) {
  return {
    port: c['master.port'],
    httpPort: c['master.http_port'],
    host: c['master.host'],
    data: c['master.data_dir'],
    id: c['master.id'],
    zk: zkConnectString(c),
    heartbeatMs: c['master.heartbeat_ms'],
    lostAfter: c['master.lost_after'],
    sessionTimeoutMs: c['zookeeper.session_timeout_ms'],
    zkTls: c['zookeeper.tls'] === 'mtls',
    logLevel: c['log.level'],
    logFormat: c['log.format'],
    limits: {
      maxConnections: c['limits.master.max_connections'],
      maxHandshakes: c['limits.master.max_handshakes'],
      idleTimeoutMs: c['limits.master.idle_timeout_ms'],
      handshakeTimeoutMs: c['limits.master.handshake_timeout_ms'],
      maxConcurrentStreams: c['limits.master.max_streams'],
      maxHeaderListBytes: c['limits.master.max_header_list_bytes'],
      maxSessionMemoryMb: c['limits.master.session_memory_mb'],
      queuedBytes: c['limits.master.queued_bytes'],
    },
    statusLimits: statusLimits(c),
  };
}

/** The HTTP status port's limits (core/http-limits.ts), for masters and nodes. */
function statusLimits(c: SiteConfig) {
  return {
    maxConnections: c['limits.status.max_connections'],
    requestTimeoutMs: c['limits.status.request_timeout_ms'],
    idleTimeoutMs: c['limits.status.idle_timeout_ms'],
    maxHeaderBytes: c['limits.status.max_header_bytes'],
  };
}

/** What a flume-node needs. */
export function nodeSettings(c: SiteConfig) {
  const channel = c['node.channel'];
  return {
    masters: c['node.masters'],
    role: c['node.role'],
    name: c['node.name'],
    dataDir: c['node.data_dir'],
    httpPort: c['node.http_port'],
    httpHost: c['node.http_host'],
    heartbeatMs: c['node.heartbeat_ms'],
    channel,
    walCapacityBytes: c['channel.wal.capacity_bytes'],
    walSegmentBytes: c['channel.wal.segment_bytes'],
    memoryCapacityBytes: c['channel.memory.capacity_bytes'],
    closeTimeoutMs: c['node.close_timeout_ms'],
    progressMs: c['node.progress_ms'],
    logLevel: c['log.level'],
    logFormat: c['log.format'],
    limits: {
      maxConnections: c['limits.max_connections'],
      idleTimeoutMs: c['limits.idle_timeout_ms'],
      messageTimeoutMs: c['limits.message_timeout_ms'],
      bufferedBytes: c['limits.buffered_bytes'],
    },
    statusLimits: statusLimits(c),
    hostAccess: { allowExec: c['node.allow_exec'], readPaths: c['node.read_paths'], writePaths: c['node.write_paths'] },
  };
}

/** What core/tls `openTls` takes. */
export function tlsSettings(c: SiteConfig) {
  return {
    mode: c['tls.mode'],
    ca: c['tls.ca'],
    cert: c['tls.cert'],
    key: c['tls.key'],
    dir: c['tls.dir'],
    adminTokenFile: c['tls.admin_token_file'],
  };
}

/** `zookeeper.connect` + `zookeeper.chroot` as one connect string; undefined: no ZooKeeper. */
export function zkConnectString(config: SiteConfig): string | undefined {
  if (config['zookeeper.connect'] === '') return undefined;
  return config['zookeeper.connect'] + (config['zookeeper.chroot'] ?? '');
}
