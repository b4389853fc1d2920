/**
 * flume-master: the composition root of a master process. Parses and checks the options (every
 * problem at once), builds the logger and starts the master (master.ts), and stops it on
 * SIGTERM/SIGINT and reloads the site config on SIGHUP (core/signals.ts). The startup log line names the bound ports, so `--port 0 --http-port 0` can be
 * used and read back:  `Master started. id=... grpc_port=N http_port=M store=...`
 */
import { Command } from 'commander';
import { ValidationError } from '../core/errors';
import { createLogger, type LogFormat } from '../core/logger';
import { DirLock } from '../core/lock';
import { ProcessSignals } from '../core/signals';
import { MASTER_FLAG_KEYS, masterSettings, siteConfigFromCommand, type SiteConfig, tlsSettings } from '../core/site-config';
import { AdminToken, openTls, TlsContext } from '../core/tls';
import { VERSION } from '../core/version';
import { MASTER_DEFAULTS, startMaster, type MasterOptions, type RunningMaster } from './master';

interface RawOptions {
  port: string;
  httpPort: string;
  host: string;
  data?: string;
  zk?: string;
  id?: string;
  heartbeatMs: string;
  lostAfter: string;
  sessionTimeoutMs: string;
  checkComponents?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

function parseOptions(raw: RawOptions): MasterOptions {
  const problems: Error[] = [];
  const int = (name: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max)
      problems.push(new Error(`--${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(text)}`));
    return n;
  };
  const options: MasterOptions = {
    port: int('port', raw.port, 0, 65535),
    httpPort: int('http-port', raw.httpPort, 0, 65535),
    host: raw.host,
    data: raw.data ?? MASTER_DEFAULTS.data,
    zk: raw.zk,
    id: raw.id,
    heartbeatMs: int('heartbeat-ms', raw.heartbeatMs, 10, 600_000),
    lostAfter: int('lost-after', raw.lostAfter, 1, 1_000),
    sessionTimeoutMs: int('session-timeout-ms', raw.sessionTimeoutMs, 1_000, 120_000),
  };
  const tlsGiven = [raw.tlsCa, raw.tlsCert, raw.tlsKey].filter((f) => f !== undefined).length;
  if (tlsGiven === 3) options.tls = { ca: raw.tlsCa!, cert: raw.tlsCert!, key: raw.tlsKey! };
  else if (tlsGiven > 0) problems.push(new Error('--tls-ca, --tls-cert and --tls-key go together'));
  if (raw.checkComponents) {
    // Loaded only when asked for: the master needs the node's catalog just to check specs.
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { defaultRegistry } = require('../node/components') as typeof import('../node/components');
    const { validateNode } = require('../core/registry') as typeof import('../core/registry');
    /* eslint-enable @typescript-eslint/no-require-imports */
    // No host policy: each node applies its own (node.allow_exec, node.read_paths) when it opens the config.
    const registry = defaultRegistry([], null);
    options.validate = (node) => validateNode(registry, node);
  }
  if (raw.zk !== undefined && !/^[^/,\s]+:\d+(,[^/,\s]+:\d+)*(\/[^\s]*)?$/.test(raw.zk)) {
    problems.push(new Error(`--zk must look like host:port,host:port[/chroot], not ${JSON.stringify(raw.zk)}`));
  }
  if (raw.id !== undefined && !/^[A-Za-z0-9_.:-]+$/.test(raw.id))
    problems.push(new Error(`--id may hold letters, digits and _ . : - only, not ${JSON.stringify(raw.id)}`));
  if (problems.length > 0) throw new ValidationError(problems, 'options');
  return options;
}

const program = new Command('flume-master')
  .description("The master: holds every node's configuration and tells each node what to run.")
  .version(VERSION);

program
  .command('start')
  .description('start a master')
  .option('--port <port>', 'gRPC port for nodes and shells (0: any free port)', String(MASTER_DEFAULTS.port))
  .option('--http-port <port>', 'HTTP port for /status, /metrics and the status page (0: any free port)', String(MASTER_DEFAULTS.httpPort))
  .option('--host <address>', 'address to listen on (0.0.0.0: every interface, for nodes on other machines)', MASTER_DEFAULTS.host)
  .option('--data <dir>', `data directory of the embedded config store (default ${MASTER_DEFAULTS.data})`)
  .option('--zk <connect>', 'ZooKeeper connect string host:port,...[/chroot]; without it, the embedded store')
  .option('--id <n>', 'master id (default <hostname>:<gRPC port>)')
  .option('--heartbeat-ms <ms>', 'heartbeat interval nodes are told to use', String(MASTER_DEFAULTS.heartbeatMs))
  .option('--lost-after <n>', 'heartbeats missed before a node is LOST', String(MASTER_DEFAULTS.lostAfter))
  .option('--session-timeout-ms <ms>', 'ZooKeeper session timeout', String(MASTER_DEFAULTS.sessionTimeoutMs))
  .option('--tls-ca <pem>', "CA certificate nodes' certificates must chain to (with --tls-cert, --tls-key: mutual TLS on the gRPC port)")
  .option('--tls-cert <pem>', "this master's certificate")
  .option('--tls-key <pem>', "this master's private key")
  .option('--conf <file>', 'site config file (default: $FLUME_CONF); FLUME_* variables and flags override it')
  .option(
    '--check-components',
    'also refuse specs naming components or arguments the built-in catalog does not know (off: syntax only, for nodes with plugins)',
  )
  .action(async (raw: RawOptions, cmd: Command) => {
    let options: MasterOptions;
    let site: SiteConfig;
    let logFormat: LogFormat | undefined;
    const loadSite = (): SiteConfig => siteConfigFromCommand(cmd, MASTER_FLAG_KEYS);
    try {
      // Defaults < site config file < FLUME_* environment < flags; every problem at once.
      site = loadSite();
      const { logLevel: _level, logFormat: format, ...settings } = masterSettings(site);
      logFormat = format;
      options = { ...parseOptions(raw), ...settings };
    } catch (err) {
      console.error(`flume-master: ${(err as Error).message}`);
      process.exit(2);
    }
    const logger = createLogger({ process: 'flume-master', level: process.env.FLUME_LOG_LEVEL ?? site['log.level'], format: logFormat });
    // Signal handlers first: a stop right after the startup line must be graceful, and a HUP
    // during startup must not kill the process (core/signals.ts).
    let master: RunningMaster | undefined;
    let stopping = false;
    const shutdown = (signal: string): void => {
      stopping = true;
      logger.info('Stopping.', { signal });
      (master?.stop() ?? Promise.resolve()).then(
        () => process.exit(0),
        (err) => {
          logger.error('Stop failed.', { error: (err as Error).message });
          process.exit(1);
        },
      );
    };
    const signals = new ProcessSignals({ logger, site, loadSite, stop: shutdown }).install();
    options.signals = signals;
    try {
      // One master per embedded store (core/lock.ts); with ZooKeeper the data dir holds no state.
      if (options.zk === undefined) DirLock.acquire(options.data, logger);
      // TLS before anything listens: mutual TLS unless tls.mode = insecure (which warns); the
      // certificates and the admin token are reloaded at SIGHUP with the site config.
      // --tls-ca/--tls-cert/--tls-key (files) win over the site config's tls.* keys.
      const flagFiles = options.tls instanceof TlsContext ? undefined : options.tls;
      const tlsOptions = { ...tlsSettings(site), ...(flagFiles ? { mode: 'mtls' as const, ...flagFiles } : {}) };
      options.tls = openTls(tlsOptions, logger, { roles: ['master'] });
      if (options.tls) signals.onReload('tls', options.tls.reloadHandler(logger.child({ component: 'tls' })));
      if (tlsOptions.adminTokenFile !== undefined) {
        if (!options.tls) throw new Error('tls.admin_token_file needs TLS: a bearer token is never accepted over plaintext');
        const token = new AdminToken(tlsOptions.adminTokenFile);
        options.adminToken = token;
        signals.onReload('admin-token', token.reloadHandler(logger.child({ component: 'tls' })));
      }
      master = await startMaster(options, logger);
      if (stopping) {
        await master.stop();
        return;
      }
      logger.info('Master started.', {
        id: master.id,
        grpc_port: master.grpcPort,
        http_port: master.httpPort,
        store: master.store.kind,
      });
    } catch (err) {
      logger.error('Master could not start.', { error: (err as Error).message });
      process.exit(1);
    }
  });

program.parseAsync(process.argv);
