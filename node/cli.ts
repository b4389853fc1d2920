/**
 * flume-node: the composition root of a physical node. Builds the logger, metrics, component
 * registry, logical-node manager and HTTP status server once, and passes them down.
 *
 *   flume-node --standalone -n NAME -c 'NAME : src | sink ;' [--oneshot] [--http-port H]
 *   flume-node --standalone --config-file FILE
 *   flume-node --master host:port[,...] [--role agent|collector] [-n NAME]   (node/master-client.ts)
 *   flume-node validate FILE|-
 *   flume-node components
 */
import { Command } from 'commander';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { collectDefaultMetrics } from 'prom-client';
import { createLogger, type LogFormat, type Logger } from '../core/logger';
import { Metrics } from '../core/metrics';
import { DEFAULT_HOST_ACCESS, type HostAccessPolicy } from '../core/host-access';
import { type ComponentDef, type Registry, validateNode } from '../core/registry';
import { tryParseSpec } from '../core/spec/parser';
import { DirLock } from '../core/lock';
import { releaseDecodedMessages } from '../core/grpc/decoder-release';
import { ProcessSignals } from '../core/signals';
import { DEFAULT_MASTER_PORT } from '../core/ports';
import {
  loadSiteConfig,
  loadSiteConfigDetailed,
  NODE_FLAG_KEYS,
  nodeSettings,
  siteConfigFromCommand,
  type SiteConfig,
  tlsSettings,
} from '../core/site-config';
import { openTls, type TlsContext, type TlsSettings, tlsUnset } from '../core/tls';
import { VERSION } from '../core/version';
import { defaultRegistry } from './components';
import type { HttpLimits } from '../core/http-limits';
import { StatusServer } from './http';
import { type ChannelKind, LOGICAL_NODE_DEFAULTS, type LogicalNodeOptions } from './logical-node';
import { runMasterMode } from './master-mode';
import { LogicalNodeManager } from './manager';
import { componentReference } from './reference';
import { deadLetterCommand } from './dead-letter-command';

interface RunOptions {
  role?: string;
  master?: string;
  name?: string;
  data?: string;
  httpPort?: string;
  httpHost: string;
  standalone?: boolean;
  config?: string;
  configFile?: string;
  oneshot?: boolean;
  channel: string;
  closeTimeout: string;
  /**
   * From the site config (no flags): channel.wal.capacity_bytes, channel.wal.segment_bytes,
   * channel.memory.capacity_bytes, node.progress_ms.
   */
  channels?: Pick<LogicalNodeOptions, 'walCapacityBytes' | 'walSegmentBytes' | 'memoryCapacityBytes' | 'limits' | 'progressMs'>;
  logLevel?: string;
  logFormat?: LogFormat;
  /** No --master and no site config names one: the default localhost master is tried. */
  defaultMaster?: boolean;
  plugin: string[];
  /** The site config as loaded, and how to load it again on SIGHUP (core/signals.ts). */
  site?: SiteConfig;
  loadSite?: () => SiteConfig;
  conf?: string;
  /** From the site config: what configs may do to this host (node.allow_exec, node.read_paths). */
  hostAccess?: HostAccessPolicy;
  /** From the site config: tls.* (mutual TLS, or insecure on purpose). */
  tls?: TlsSettings;
  /** From the site config: limits.status.* (the HTTP status port). */
  statusLimits?: HttpLimits;
}

/** What a running physical node is made of; master mode receives it to drive the manager. */
export interface NodeRuntime {
  logger: Logger;
  metrics: Metrics;
  registry: Registry;
  manager: LogicalNodeManager;
  physicalNode: string;
  host: string;
  /** The physical node's data dir (locked): logical nodes' dirs and the last known config. */
  dataRoot: string;
  http: StatusServer | null;
  /** Where components register to be told of a SIGHUP reload (TLS certificates, ...). */
  signals: ProcessSignals;
  /** Mutual TLS of this node (absent: insecure mode). */
  tls?: TlsContext;
  /** Run before the logical nodes close on shutdown (the master link stops first). */
  onStop: Array<() => Promise<void>>;
}

const EXIT_OK = 0;
const EXIT_PROBLEMS = 1;

/** What `flume-node` alone prints: it used to run quietly as an agent against localhost. */
const NOTHING_TO_RUN = `flume-node: no --master, --role or --standalone given, so there is nothing to run.
A physical node runs what a master assigns it, or flows of its own:
  flume-node --role agent --master HOST:${DEFAULT_MASTER_PORT} -n NAME --data DIR      an agent the master configures
  flume-node --role collector --master HOST:${DEFAULT_MASTER_PORT} -n NAME --data DIR  a collector
  flume-node --standalone -n NAME -c 'NAME : source | sink ;'            one flow, no master
  flume-node validate FILE                                               check a spec file
Masters can also come from a site config (--conf FILE or FLUME_CONF: node.masters) or
FLUME_NODE_MASTERS. A whole local cluster to try: npm run cluster. Every option: flume-node --help`;

/**
 * Flume OG's plugin classes: a module (path) exporting `COMPONENTS: ComponentDef[]`, registered
 * after the built-in components.
 */
function loadPlugins(modules: readonly string[]): ComponentDef[] {
  const defs: ComponentDef[] = [];
  for (const m of modules) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(path.resolve(m)) as { COMPONENTS?: ComponentDef[] };
    if (!Array.isArray(mod.COMPONENTS)) throw new Error(`plugin ${m} does not export COMPONENTS (an array of component definitions)`);
    defs.push(...mod.COMPONENTS);
  }
  return defs;
}

function readSpecText(file: string): string {
  return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
}

/** Every problem of a spec text: syntax first, then the registry's; as `where:line:col: message`. */
export function specProblems(registry: Registry, text: string, where: string): { problems: string[]; nodes: number } {
  const parsed = tryParseSpec(text);
  const problems = parsed.errors.map((e) => `${where}:${e.message}`);
  for (const node of parsed.nodes) problems.push(...validateNode(registry, node).map((p) => `${where}:${p.message}`));
  const seen = new Set<string>();
  for (const node of parsed.nodes) {
    if (seen.has(node.name)) problems.push(`${where}:${node.pos.line}:${node.pos.column}: logical node ${node.name} is defined twice`);
    seen.add(node.name);
  }
  return { problems, nodes: parsed.nodes.length };
}

function checkRunOptions(o: RunOptions): string[] {
  const problems: string[] = [];
  if (o.httpPort !== undefined && !/^\d+$/.test(o.httpPort)) problems.push(`--http-port must be a port number, not ${o.httpPort}`);
  if (!['memory', 'wal'].includes(o.channel)) problems.push(`--channel must be memory or wal, not ${o.channel}`);
  if (!/^\d+$/.test(o.closeTimeout)) problems.push(`--close-timeout must be milliseconds, not ${o.closeTimeout}`);
  if (o.standalone) {
    if (o.config === undefined && o.configFile === undefined) problems.push('--standalone needs -c SPEC or --config-file FILE');
    if (o.config !== undefined && o.configFile !== undefined) problems.push('give -c or --config-file, not both');
    if (o.master !== undefined) problems.push('--standalone and --master exclude each other');
  } else {
    if (o.oneshot) problems.push('--oneshot needs --standalone');
    if (o.config !== undefined || o.configFile !== undefined) problems.push('-c/--config-file need --standalone');
    if (o.master === undefined) problems.push('give --standalone (with -c or --config-file) or --master host:port[,...]');
  }
  return problems;
}

async function run(o: RunOptions): Promise<number> {
  const problems = checkRunOptions(o);
  if (problems.length > 0) {
    for (const p of problems) console.error(`flume-node: ${p}`);
    return EXIT_PROBLEMS;
  }
  releaseDecodedMessages();
  const host = os.hostname();
  const logger = createLogger({ process: 'flume-node', level: o.logLevel, format: o.logFormat });
  // Identity comes from the certificate: without --name the node takes its certificate's name.
  // A standalone node without one runs local flows only: a component that listens or connects
  // refuses with why (core/component.ts networkTls), and so does --http-port.
  const tlsSettings = o.tls ?? { mode: 'mtls' };
  const own = { roles: ['agent', 'collector'] as const, name: o.name };
  const tlsRefusal = o.standalone ? tlsUnset(tlsSettings, own) : undefined;
  if (tlsRefusal !== undefined && o.httpPort !== undefined) {
    console.error(`flume-node: --http-port serves over TLS only. ${tlsRefusal}`);
    return EXIT_PROBLEMS;
  }
  let tls: TlsContext | undefined;
  try {
    if (tlsRefusal === undefined) tls = openTls(tlsSettings, logger, own);
  } catch (err) {
    console.error(`flume-node: ${(err as Error).message}`);
    return EXIT_PROBLEMS;
  }
  if (tlsRefusal !== undefined) logger.info('No certificate: this standalone node runs flows that neither listen nor connect.');
  const physicalNode = o.name ?? tls?.identity.name ?? host;
  const metrics = new Metrics();
  collectDefaultMetrics({ register: metrics.registry, prefix: 'flume_node_' });
  // One process per data dir (core/lock.ts): two nodes on one WAL would each lose the other's writes.
  const dataRoot = o.data ?? path.join(os.homedir(), '.flume', physicalNode);
  // Sinks write under node.write_paths, by default the data dir alone (core/host-access.ts).
  const access = o.hostAccess ?? DEFAULT_HOST_ACCESS;
  const registry = defaultRegistry(loadPlugins(o.plugin), { ...access, writePaths: access.writePaths ?? [path.resolve(dataRoot)] });
  try {
    DirLock.acquire(dataRoot, logger);
  } catch (err) {
    console.error(`flume-node: ${(err as Error).message}`);
    return EXIT_PROBLEMS;
  }

  let specText = '';
  if (o.standalone) {
    specText = o.configFile !== undefined ? readSpecText(o.configFile) : o.config!;
    const checked = specProblems(registry, specText, o.configFile ?? 'config');
    if (checked.problems.length > 0) {
      for (const p of checked.problems) console.error(p);
      return EXIT_PROBLEMS;
    }
    if (checked.nodes === 0) {
      console.error('flume-node: the config defines no logical node');
      return EXIT_PROBLEMS;
    }
  }

  const manager = new LogicalNodeManager({
    registry,
    metrics,
    logger,
    physicalNode,
    host,
    tls,
    ...(tlsRefusal !== undefined ? { tlsRefusal } : {}),
    dataRoot,
    nodeOptions: { channel: o.channel as ChannelKind, closeTimeoutMs: Number(o.closeTimeout), ...o.channels },
  });
  const started = Date.now();
  const http =
    o.httpPort === undefined
      ? null
      : await StatusServer.start({
          port: Number(o.httpPort),
          host: o.httpHost,
          metrics,
          logger,
          guard: { tls, counters: metrics.component(physicalNode, 'tls') },
          limits: o.statusLimits,
          limitCounters: metrics.component(physicalNode, 'http'),
          status: () => ({
            physicalNode,
            host,
            version: VERSION,
            uptimeMs: Date.now() - started,
            mode: o.standalone ? 'standalone' : 'master',
            nodes: manager.status(),
          }),
        });
  let resolveDone: (code: number) => void = () => undefined;
  const signals = new ProcessSignals({
    logger,
    site: o.site ?? loadSiteConfig({ env: {} }),
    loadSite: o.loadSite ?? (() => loadSiteConfig({ env: {} })),
    stop: (signal) => void stop(EXIT_OK, signal).then(resolveDone),
  }).install();
  // Certificates are reloaded at SIGHUP with the site config (core/signals.ts).
  if (tls) signals.onReload('tls', tls.reloadHandler(logger.child({ component: 'tls' })));
  const runtime: NodeRuntime = { logger, metrics, registry, manager, physicalNode, host, dataRoot, http, signals, tls, onStop: [] };

  let stopping: Promise<number> | null = null;
  const stop = (code: number, why: string): Promise<number> => {
    if (!stopping) {
      logger.info('physical node stopping', { reason: why });
      stopping = (async () => {
        for (const hook of runtime.onStop) await hook().catch((err: Error) => logger.warn('stop hook failed', { error: err.message }));
        await manager.closeAll(Number(o.closeTimeout));
        await http?.close();
        logger.info('physical node stopped');
        return code;
      })();
    }
    return stopping;
  };
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
    if (o.standalone) {
      void standalone(runtime, specText, o.oneshot === true).then((code) => {
        if (code !== null) void stop(code, code === EXIT_OK ? 'oneshot: every source drained' : 'a logical node failed').then(resolve);
      });
    } else {
      void masterMode(runtime, o).then((code) => {
        if (code !== null) void stop(code, 'master mode ended').then(resolve);
      });
    }
  });
  return done;
}

/** Opens every logical node of the text; with oneshot, resolves once all are drained. null: run on. */
async function standalone(rt: NodeRuntime, text: string, oneshot: boolean): Promise<number | null> {
  const specs = tryParseSpec(text).nodes;
  const result = await rt.manager.applySpecs(specs);
  if (result.failed.length > 0) {
    for (const f of result.failed) console.error(`flume-node: logical node ${f.name} failed to open: ${f.error}`);
    return EXIT_PROBLEMS;
  }
  rt.logger.info('standalone node running', { logicalNodes: result.opened, ...(rt.http ? { http: rt.http.port } : {}) });
  if (!oneshot) return null;
  const nodes = specs.map((s) => rt.manager.node(s.name)!);
  const endless = nodes.filter((n) => !n.finite).map((n) => n.name);
  if (endless.length > 0) {
    console.error(`flume-node: --oneshot needs finite sources; these never end: ${endless.join(', ')}`);
    return EXIT_PROBLEMS;
  }
  await Promise.all(nodes.map((n) => n.finished()));
  return EXIT_OK;
}

/** `--master` mode: node/master-mode.ts drives the manager from heartbeats. */
function masterMode(rt: NodeRuntime, o: RunOptions): Promise<number | null> {
  const masters = o
    .master!.split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  if (o.defaultMaster) {
    rt.logger.warn('No master given: trying the default one. Set --master or node.masters to name yours.', { masters: o.master });
  }
  return runMasterMode(rt, { masters, role: o.role ?? 'agent' });
}

function validate(file: string, plugins: string[]): number {
  // The language and arguments only, as the master checks them: what a node allows is its own site config's.
  const registry = defaultRegistry(loadPlugins(plugins), null);
  let text: string;
  try {
    text = readSpecText(file);
  } catch (err) {
    console.error(`flume-node: cannot read ${file}: ${(err as Error).message}`);
    return EXIT_PROBLEMS;
  }
  const where = file === '-' ? 'stdin' : file;
  const { problems, nodes } = specProblems(registry, text, where);
  for (const p of problems) console.log(p);
  if (problems.length > 0) {
    console.log(`${problems.length} problem${problems.length === 1 ? '' : 's'} found`);
    return EXIT_PROBLEMS;
  }
  console.log(`${where}: ${nodes} logical node${nodes === 1 ? '' : 's'}, no problems`);
  return EXIT_OK;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const program = new Command('flume-node')
  .description('A physical node: runs logical nodes (source | sink), standalone or as its master assigns.')
  .version(VERSION)
  .enablePositionalOptions()
  .option('--role <role>', 'agent | collector (master mode)')
  .option('--master <hosts>', 'master host:port[,host:port...]')
  .option('-n, --name <name>', 'physical node name (default: the host name)')
  .option('--data <dir>', 'data directory for channels, sequence numbers and positions (default ~/.flume/NAME)')
  .option('--http-port <port>', 'HTTP port for /status and /metrics (0: any free port)')
  .option('--http-host <host>', 'address the HTTP server binds', '127.0.0.1')
  .option('--standalone', 'run the logical nodes of -c/--config-file without a master')
  .option('-c, --config <spec>', "spec text: 'NAME : source | sink ;' (several allowed)")
  .option('--config-file <file>', 'read the spec text from a file')
  .option('--oneshot', 'exit 0 once every (finite) source is drained and every sink flushed')
  .option('--channel <kind>', 'channel between source and sink: memory | wal', LOGICAL_NODE_DEFAULTS.channel)
  .option('--close-timeout <ms>', 'how long closing waits before cancelling', String(LOGICAL_NODE_DEFAULTS.closeTimeoutMs))
  .option('--log-level <level>', 'error | warn | info | debug')
  .option('--plugin <module>', 'load extra components from a module exporting COMPONENTS (repeatable)', collect, [])
  .option('--conf <file>', 'site config file (default: $FLUME_CONF); FLUME_* variables and flags override it')
  .action(async (o: RunOptions, cmd: Command) => {
    // Defaults < site config file < FLUME_* environment < flags. The flags run() checks itself
    // (with every other problem at once) are left out of the site config's own check.
    const { httpPort: _h, channel: _c, closeTimeout: _t, ...siteFlags } = NODE_FLAG_KEYS;
    let site: ReturnType<typeof nodeSettings>;
    const loadSite = (): SiteConfig => siteConfigFromCommand(cmd, siteFlags);
    let loaded: SiteConfig;
    let mastersFromDefault: boolean;
    let roleFromDefault: boolean;
    try {
      loaded = loadSite();
      site = nodeSettings(loaded);
      const origins = loadSiteConfigDetailed({ file: o.conf }).origins;
      mastersFromDefault = origins['node.masters'] === 'default';
      roleFromDefault = origins['node.role'] === 'default';
      o.tls = tlsSettings(loaded);
    } catch (err) {
      console.error(`flume-node: ${(err as Error).message}`);
      process.exitCode = EXIT_PROBLEMS;
      return;
    }
    const fromCli = (attr: string): boolean => cmd.getOptionValueSource(attr) === 'cli';
    // `flume-node` alone (perhaps with --conf or --log-level) and no site config naming a master
    // or a role: say how to start one rather than run as an agent against localhost.
    const runFlags = cmd.options.map((opt) => opt.attributeName()).filter((a) => fromCli(a) && !['conf', 'logLevel', 'plugin'].includes(a));
    if (runFlags.length === 0 && mastersFromDefault && roleFromDefault) {
      console.error(NOTHING_TO_RUN);
      process.exitCode = EXIT_PROBLEMS;
      return;
    }
    Object.assign(o, {
      role: site.role,
      name: site.name ?? o.name,
      data: site.dataDir ?? o.data,
      httpHost: site.httpHost,
      logLevel: site.logLevel,
      logFormat: site.logFormat,
      httpPort: fromCli('httpPort') ? o.httpPort : site.httpPort?.toString(),
      channel: fromCli('channel') ? o.channel : site.channel,
      closeTimeout: fromCli('closeTimeout') ? o.closeTimeout : String(site.closeTimeoutMs),
      channels: {
        walCapacityBytes: site.walCapacityBytes,
        walSegmentBytes: site.walSegmentBytes,
        memoryCapacityBytes: site.memoryCapacityBytes,
        progressMs: site.progressMs,
        limits: site.limits,
      },
      master: o.standalone ? o.master : (o.master ?? (site.masters.length > 0 ? site.masters.join(',') : undefined)),
      site: loaded,
      loadSite,
      defaultMaster: !o.standalone && o.master === undefined && mastersFromDefault,
      hostAccess: site.hostAccess,
      statusLimits: site.statusLimits,
    });
    process.exitCode = await run(o);
    // Everything is closed: let stdout drain, but wait on a stray handle (a call to a hung
    // collector) 1 s at most: a stop is bounded (node/logical-node.ts DURABLE_STOP_MS).
    setTimeout(() => process.exit(), 1000).unref();
  });

program
  .command('validate <file>')
  .description('check a spec file (or - for stdin); print every problem; exit non-zero if any')
  .option('--plugin <module>', 'load extra components from a module exporting COMPONENTS (repeatable)', collect, [])
  .action((file: string, o: { plugin: string[] }) => {
    process.exitCode = validate(file, o.plugin);
  });

program
  .command('components')
  .description('print the reference of every registered component (Markdown)')
  .option('--plugin <module>', 'load extra components from a module exporting COMPONENTS (repeatable)', collect, [])
  .action((o: { plugin: string[] }) => {
    process.stdout.write(componentReference(defaultRegistry(loadPlugins(o.plugin))));
  });

program
  .command('deadletter <action> [ids...]')
  .description('list the batches the logical nodes under --data quarantined, or replay them (all, or the ids given) into their channels')
  .requiredOption('--data <dir>', "the node's data directory")
  .action((action: string, ids: string[], o: { data: string }) => {
    process.exitCode = deadLetterCommand(action, o.data, ids, (s) => console.log(s));
  });

program.parseAsync(process.argv).catch((err) => {
  console.error(`flume-node: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = EXIT_PROBLEMS;
});
