/**
 * `npm run cluster`: a whole local cluster on loopback that moves real data.
 *
 * Starts one master (embedded store), one collector and two agents as real processes,
 * configures them through the master with a flume-shell script (the commands an operator would
 * type), writes a log file that one agent tails while the other listens for syslog, and prints
 * one line a second of what moves. Ctrl-C stops every process, agents first, and says so.
 *
 * Everything lives under ./data (or FLUME_CLUSTER_DIR): `data/logs/` holds what the collector
 * stored, `data/cluster/` the processes' state and logs. A second run resumes where the first
 * stopped (the master keeps its configs, the tail its position); `npm run cluster -- --clean`
 * starts from nothing.
 *
 * No child outlives the launcher, whatever ends it: Ctrl-C, SIGTERM, SIGHUP (the terminal
 * closed), a closed stdout pipe (`npm run cluster | head`) and an uncaught exception all stop
 * every process in order; and a watchdog process (`startReaper`) stops them if the launcher
 * itself is killed with SIGKILL.
 *
 * Every port speaks mutual TLS: the first run creates a CA and one certificate per process under
 * `data/cluster/certs/` (deploy/certs.ts), later runs reuse them. `--insecure` (or
 * FLUME_CLUSTER_INSECURE=1) runs everything in plaintext instead, and every process warns about it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { DEFAULT_COLLECTOR_PORT, DEFAULT_MASTER_HTTP_PORT, DEFAULT_MASTER_PORT } from '../core/ports';
import { NODE_ROLES, type PeerRole, TlsContext } from '../core/tls';
import { ensureCerts, type IssuedFiles, tlsEnv } from './certs';

const ROOT = path.resolve(__dirname, '..', '..');
const BASE = path.resolve(process.env.FLUME_CLUSTER_DIR ?? path.join(ROOT, 'data'));
const STATE = path.join(BASE, 'cluster');
const LOGS = path.join(STATE, 'logs');
const STORAGE = path.join(BASE, 'logs');
const APP_LOG = path.join(STATE, 'app.log');
const LINES_PER_SECOND = Number(process.env.FLUME_CLUSTER_RATE ?? 2000);
const CERTS = path.join(STATE, 'certs');
const INSECURE = process.argv.includes('--insecure') || process.env.FLUME_CLUSTER_INSECURE === '1';

/** The processes' identities; each gets a certificate on first start. */
const IDENTITIES: Array<{ role: PeerRole; name: string }> = [
  { role: 'master', name: 'master' },
  { role: 'collector', name: 'collector1' },
  { role: 'agent', name: 'agent-tail' },
  { role: 'agent', name: 'agent-syslog' },
  { role: 'admin', name: 'operator' },
];

/** The cluster's certificates (made on first start), or null in insecure mode. */
function clusterCerts(): Map<string, IssuedFiles> | null {
  if (INSECURE) return null;
  const fresh = !fs.existsSync(path.join(CERTS, 'ca.crt'));
  const certs = ensureCerts(CERTS, IDENTITIES);
  if (fresh) console.log(`Created the cluster CA and certificates in ${CERTS}/`);
  return certs;
}

let certs: Map<string, IssuedFiles> | null = null;
/** HTTPS client options of the launcher (the operator's admin certificate). */
let httpsOptions: https.RequestOptions | null = null;

/** What a process of `name` needs in its environment: its TLS files, or insecure mode. */
function tlsEnvOf(name: string): Record<string, string> {
  if (!certs) return { FLUME_TLS_MODE: 'insecure' };
  const id = IDENTITIES.find((i) => i.name === name)!;
  return tlsEnv(certs.get(`${id.role}/${id.name}`)!);
}

interface Proc {
  name: string;
  child: ChildProcess;
  /** Its log file, and where this run's part of it starts (a second run appends). */
  logFile: string;
  logFrom: number;
  /** Known once the process has said where it listens (waitLog). */
  httpPort: number;
  exited: Promise<number | null>;
}

/**
 * A port to offer a process: `preferred` if it is free right now (so a second run shows the same
 * URLs), else one the kernel picks. Another process may take it before ours binds it: the master
 * and the nodes' HTTP servers therefore bind what they are given or 0 and say what they got.
 */
function offerPort(preferred = 0): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(offerPort(0)));
    server.listen(preferred, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A watchdog for SIGKILL of the launcher, which no handler sees: a small detached process that
 * reads the children's pids on its stdin and, when that pipe closes (the launcher is gone, however
 * it ended), stops whichever of them still run: SIGTERM, then SIGKILL after 15 s. After a clean
 * stop it finds none and exits at once.
 */
const REAPER = `
let text = '';
process.stdin.on('data', (c) => { text += c; });
process.stdin.on('end', () => {
  const pids = text.split('\\n').filter(Boolean).map(Number);
  const alive = () => pids.filter((p) => { try { process.kill(p, 0); return true; } catch { return false; } });
  for (const p of alive()) { try { process.kill(p, 'SIGTERM'); } catch {} }
  const deadline = Date.now() + 15000;
  const t = setInterval(() => {
    const left = alive();
    if (left.length === 0 || Date.now() > deadline) {
      for (const p of left) { try { process.kill(p, 'SIGKILL'); } catch {} }
      clearInterval(t);
    }
  }, 100);
});
`;
let reaper: ChildProcess | undefined;

function watchChild(pid: number): void {
  reaper ??= spawn(process.execPath, ['-e', REAPER], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  reaper.unref();
  (reaper.stdin as unknown as { unref(): void }).unref();
  reaper.stdin!.write(`${pid}\n`);
}

function portFree(port: number): Promise<boolean> {
  return offerPort(port).then((got) => got === port);
}

function start(name: string, bin: string, args: string[]): Proc {
  const logFile = path.join(LOGS, `${name}.log`);
  const log = fs.openSync(logFile, 'a');
  const logFrom = fs.fstatSync(log).size;
  // Its own process group: Ctrl-C reaches the launcher only, which stops the others in order.
  // FLUME_BUILD=never: `npm run cluster` has just built; four processes need not check again.
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', bin), ...args], {
    stdio: ['ignore', log, log],
    detached: true,
    // The collector writes its storage outside its data dir: node.write_paths allows it there.
    env: { ...process.env, FLUME_BUILD: 'never', FLUME_NODE_WRITE_PATHS: STORAGE, ...tlsEnvOf(name) },
  });
  fs.closeSync(log);
  watchChild(child.pid!);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, logFile, logFrom, httpPort: 0, exited };
}

/** Waits for `pattern` in what `p` logged in this run; rejects if it exits first. */
async function waitLog(p: Proc, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const fd = fs.openSync(p.logFile, 'r');
    const size = fs.fstatSync(fd).size;
    const text = Buffer.alloc(Math.max(0, size - p.logFrom));
    fs.readSync(fd, text, 0, text.length, p.logFrom);
    fs.closeSync(fd);
    const m = pattern.exec(text.toString('utf8'));
    if (m) return m;
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited (${p.child.exitCode}); see ${p.logFile}`);
    if (Date.now() > deadline) throw new Error(`${p.name} did not log ${pattern} within ${timeoutMs / 1000} s; see ${p.logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Started {
  m: Proc;
  /** host:port of the master's gRPC server. */
  master: string;
  collector: Proc;
  agents: Proc[];
}

function startNodes(master: string): Pick<Started, 'collector' | 'agents'> {
  const nodeArgs = (name: string, role: string): string[] => [
    '--master',
    master,
    '--role',
    role,
    '-n',
    name,
    '--data',
    path.join(STATE, name),
    '--http-port',
    '0',
  ];
  return {
    collector: start('collector1', 'flume-node.js', nodeArgs('collector1', 'collector')),
    agents: [
      start('agent-tail', 'flume-node.js', nodeArgs('agent-tail', 'agent')),
      start('agent-syslog', 'flume-node.js', nodeArgs('agent-syslog', 'agent')),
    ],
  };
}

async function stopNow(procs: Proc[]): Promise<void> {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
}

/**
 * The master on its usual ports when they are free, and the nodes alongside it (they retry until
 * it answers: starting them after it cost seconds). If the master cannot bind those ports after
 * all (another process took one meanwhile), everything starts again with the master on ports the
 * kernel picks, the nodes once it has said which.
 */
async function startAll(): Promise<Started> {
  for (const fallback of [false, true]) {
    const port = !fallback && (await portFree(DEFAULT_MASTER_PORT)) ? DEFAULT_MASTER_PORT : 0;
    const httpPort = !fallback && (await portFree(DEFAULT_MASTER_HTTP_PORT)) ? DEFAULT_MASTER_HTTP_PORT : 0;
    const m = start('master', 'flume-master.js', [
      'start',
      '--host',
      '127.0.0.1',
      '--data',
      path.join(STATE, 'master'),
      '--port',
      String(port),
      '--http-port',
      String(httpPort),
    ]);
    let nodes = port !== 0 ? startNodes(`127.0.0.1:${port}`) : undefined;
    try {
      const line = await waitLog(m, /Master started\..*grpc_port=(\d+) http_port=(\d+)/);
      m.httpPort = Number(line[2]);
      const master = `127.0.0.1:${line[1]}`;
      nodes ??= startNodes(master);
      return { m, master, ...nodes };
    } catch (err) {
      await stopNow([...(nodes ? [nodes.collector, ...nodes.agents] : []), ...(m.child.exitCode === null ? [m] : [])]);
      if (fallback) throw err;
      console.log(`  the master could not start on port ${port}/${httpPort} (${(err as Error).message}); trying ports the kernel picks`);
    }
  }
  throw new Error('unreachable');
}

/** Polls the nodes' /status until every logical node they run is ACTIVE. */
async function waitActive(nodes: Proc[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const statuses = await Promise.all(nodes.map((p) => getJson(p.httpPort)));
    if (statuses.every((s) => s?.nodes?.length > 0 && s.nodes.every((n: { state: string }) => n.state === 'ACTIVE'))) return;
    if (Date.now() > deadline)
      throw new Error(
        `the logical nodes are not all ACTIVE after ${timeoutMs / 1000} s: ${JSON.stringify(statuses.map((s) => s?.nodes?.map((n: { name: string; state: string }) => `${n.name}=${n.state}`)))}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

function getJson(port: number): Promise<any> {
  return new Promise((resolve) => {
    const get = httpsOptions ? https.get : http.get;
    const req = get({ host: '127.0.0.1', port, path: '/status', timeout: 800, ...httpsOptions }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch {
          resolve(null);
        }
      });
    });
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
  });
}

/** Waits until a node's HTTP server says where it listens (it binds a port the kernel picks). */
async function waitHttp(p: Proc): Promise<void> {
  p.httpPort = Number((await waitLog(p, /HTTP status listening url=https?:\/\/127\.0\.0\.1:(\d+)\/status/))[1]);
}

/** The highest line number already in the app log, so a second run goes on counting. */
function lastLineNumber(): number {
  if (!fs.existsSync(APP_LOG)) return 0;
  const text = fs.readFileSync(APP_LOG, 'utf8').trimEnd();
  const last = text.slice(text.lastIndexOf('\n') + 1);
  const m = /^app-(\d+) /.exec(last);
  return m ? Number(m[1]) : 0;
}

function startGenerator(): () => void {
  let n = lastLineNumber();
  const perTick = Math.max(1, Math.round(LINES_PER_SECOND / 10));
  const timer = setInterval(() => {
    const lines: string[] = [];
    for (let i = 0; i < perTick; i++) {
      n++;
      lines.push(`app-${String(n).padStart(9, '0')} ${new Date().toISOString()} level=INFO user=${n % 97} msg="request served"`);
    }
    fs.appendFileSync(APP_LOG, lines.join('\n') + '\n');
  }, 100);
  return () => clearInterval(timer);
}

/** The wall-clock time, HH:MM:SS, for the live line. */
function clock(): string {
  const d = new Date();
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

interface Totals {
  accepted: number;
  delivered: number;
  written: number;
  backlog: Record<string, number>;
}

function counter(node: any, component: string, name: string): number {
  return Number(node?.counters?.[component]?.[name] ?? 0);
}

async function totals(agents: Proc[], collector: Proc): Promise<Totals> {
  const t: Totals = { accepted: 0, delivered: 0, written: 0, backlog: {} };
  for (const p of [...agents, collector]) {
    const status = await getJson(p.httpPort);
    let backlog = 0;
    for (const node of status?.nodes ?? []) {
      backlog += Number(node.channel?.batches ?? 0);
      if (p === collector) t.written += counter(node, 'driver', 'events_accepted');
      else {
        t.accepted += counter(node, 'channel', 'events_accepted');
        t.delivered += counter(node, 'driver', 'events_accepted');
      }
    }
    t.backlog[p.name] = backlog;
  }
  return t;
}

async function main(): Promise<void> {
  if (process.argv.includes('--clean')) fs.rmSync(BASE, { recursive: true, force: true });
  fs.mkdirSync(LOGS, { recursive: true });
  fs.mkdirSync(STORAGE, { recursive: true });
  try {
    certs = clusterCerts();
  } catch (err) {
    console.error(`cluster: ${(err as Error).message}`);
    process.exit(1);
  }
  const operator = certs?.get('admin/operator');
  if (operator) httpsOptions = TlsContext.load(operator).clientOptions(['master', ...NODE_ROLES]);
  const shellTls = operator ? ['--tls-dir', CERTS] : ['--insecure'];
  const resumed = lastLineNumber();
  const collectorPort = await offerPort(DEFAULT_COLLECTOR_PORT);
  const syslogPort = await offerPort(5140);

  let started: Started;
  try {
    started = await startAll();
  } catch (err) {
    console.error(`cluster: the master did not start: ${(err as Error).message}`);
    process.exit(1);
  }
  const { m, master, collector, agents } = started;
  const procs: Proc[] = [m, collector, ...agents];

  let stopping = false;
  let stopGenerator = (): void => undefined;
  // Every way of ending calls this; the first call does the work, later ones wait for it.
  let stopped: Promise<number> | undefined;
  const stopAll = (why: string): Promise<number> => (stopped ??= stopInOrder(why));
  const stopInOrder = async (why: string): Promise<number> => {
    stopping = true;
    stopGenerator();
    console.log(`\nStopping (${why}): agents first, then the collector, then the master...`);
    let clean = 0;
    for (const group of [agents, [collector], [m]]) {
      for (const p of group) if (p.child.exitCode === null) process.kill(p.child.pid!, 'SIGTERM');
      for (const p of group) {
        const killer = setTimeout(() => p.child.exitCode === null && process.kill(p.child.pid!, 'SIGKILL'), 15_000);
        const code = p.child.exitCode ?? (await p.exited);
        clearTimeout(killer);
        if (code === 0) clean++;
        else console.log(`  ${p.name} exited with ${code}; see ${path.join(LOGS, `${p.name}.log`)}`);
      }
    }
    console.log(`Stopped ${procs.length} processes (${clean} cleanly). Stored data stays in ${STORAGE}; run again to resume.`);
    return clean === procs.length ? 0 : 1;
  };
  const stopOn = (why: string) => (): void => void stopAll(why).then((code) => process.exit(code));
  process.on('SIGINT', stopOn('Ctrl-C'));
  process.on('SIGTERM', stopOn('SIGTERM'));
  process.on('SIGHUP', stopOn('SIGHUP'));
  // `npm run cluster | head`: once the reader goes, every write fails with EPIPE.
  process.stdout.on('error', stopOn('stdout closed'));
  process.on('uncaughtException', (err) => {
    console.error(`cluster: ${err.stack ?? err}`);
    void stopAll('an uncaught exception').then(() => process.exit(1));
  });
  stopOnFailure = (why) => stopAll(why);

  try {
    for (const p of [collector, ...agents]) await waitHttp(p);
  } catch (err) {
    console.error(`cluster: ${(err as Error).message}`);
    process.exit(await stopAll('a process did not start').then(() => 1));
  }

  fs.appendFileSync(APP_LOG, '');
  const script = path.join(STATE, 'setup.flume');
  const setupText = [
    '# What `npm run cluster` tells the master; the same commands work typed in flume-shell.',
    `exec config collector1 'autoCollectorSource(${collectorPort})' 'collectorSink("${STORAGE}/%Y-%m-%d/", "events-%{host}-", 10000)'`,
    `waitForNodesActive 30000 collector1`,
    '# The master gives each agent an ordered list of live collectors (here the one).',
    `exec config agent-tail 'tail("${APP_LOG}")' 'autoE2EChain'`,
    `exec config agent-syslog 'syslogTcp(${syslogPort})' 'autoE2EChain'`,
    `waitForNodesActive 30000 collector1 agent-tail agent-syslog`,
    '',
  ].join('\n');
  // A second run with the same ports and paths: the master kept these configs, and the nodes get
  // them as they connect; configuring again would only make them reopen with a new version.
  const configured =
    ['master-state.json', 'master-state.journal'].some((f) => fs.existsSync(path.join(STATE, 'master', f))) &&
    fs.existsSync(script) &&
    fs.readFileSync(script, 'utf8') === setupText;
  fs.writeFileSync(script, setupText);
  try {
    if (configured) {
      await waitActive([collector, ...agents], 60_000);
    } else {
      const setup = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'flume-shell.js'), ...shellTls, '-q', '-c', master, '-s', script], {
        encoding: 'utf8',
        env: { ...process.env, FLUME_BUILD: 'never' },
      });
      if (setup.status !== 0) throw new Error(`${setup.stdout}${setup.stderr}`);
    }
  } catch (err) {
    console.error(`cluster: configuring through the master failed:\n${(err as Error).message}`);
    process.exit(await stopAll('configuration failed').then(() => 1));
  }
  stopGenerator = startGenerator();

  const statusLine = operator
    ? `curl --cacert ${operator.ca} --cert ${operator.cert} --key ${operator.key} https://127.0.0.1:${m.httpPort}/status`
    : `http://127.0.0.1:${m.httpPort}/   (TLS OFF: --insecure)`;
  console.log(`Local Flume cluster is up (master, collector1, agent-tail, agent-syslog), ${operator ? `mutual TLS on every port (certificates in ${CERTS}/)` : 'WITHOUT TLS'}.
  status        ${statusLine}
  admin shell   npx flume-shell ${operator ? `--tls-dir ${path.relative(process.cwd(), CERTS)}` : '--insecure'} -c ${master}      (try: getnodestatus, getconfigs)
  stored data   ${STORAGE}/   (files are .tmp until their 10 s roll closes)
  app log       ${APP_LOG}   (${LINES_PER_SECOND} lines/s, tailed by agent-tail)
  send syslog   logger -n 127.0.0.1 -P ${syslogPort} -T --rfc5424 "hello from logger"
  process logs  ${LOGS}/
Ctrl-C stops everything.`);
  if (resumed > 0) {
    console.log(`Resuming the previous run (its app log ends at line ${resumed}): what it had not delivered is sent first,
so "stored" and "written" can run ahead of "accepted", which counts this run's lines only.`);
  }

  const began = Date.now();
  const tick = setInterval(async () => {
    if (stopping) return;
    const t = await totals(agents, collector);
    const backlog = Object.entries(t.backlog)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    // Counters start at 0 with each process, but a resumed run first delivers what the previous
    // one left in the WALs: stored and written then include events this run never accepted.
    const previous = resumed > 0 && Math.max(t.delivered, t.written) > t.accepted ? " (with the previous run's backlog)" : '';
    console.log(
      `${clock()} +${Math.round((Date.now() - began) / 1000)}s accepted=${t.accepted} stored(e2e acked)=${t.delivered} ` +
        `written=${t.written}${previous} in-flight=${Math.max(0, t.accepted - t.delivered)} | backlog batches ${backlog}`,
    );
  }, 1000);
  tick.unref();
  for (const p of procs) {
    void p.exited.then((code) => {
      if (!stopping) {
        console.error(`cluster: ${p.name} exited unexpectedly (${code}); see ${path.join(LOGS, `${p.name}.log`)}`);
        void stopAll(`${p.name} died`).then(() => process.exit(1));
      }
    });
  }
}

/** Set once the children exist: what a failure of main() runs before exiting. */
let stopOnFailure: ((why: string) => Promise<number>) | undefined;

main().catch(async (err) => {
  console.error(`cluster: ${(err as Error).stack ?? err}`);
  await stopOnFailure?.('the launcher failed');
  process.exit(1);
});
