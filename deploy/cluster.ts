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
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { DEFAULT_COLLECTOR_PORT, DEFAULT_MASTER_HTTP_PORT, DEFAULT_MASTER_PORT } from '../core/ports';

const ROOT = path.resolve(__dirname, '..', '..');
const BASE = path.resolve(process.env.FLUME_CLUSTER_DIR ?? path.join(ROOT, 'data'));
const STATE = path.join(BASE, 'cluster');
const LOGS = path.join(STATE, 'logs');
const STORAGE = path.join(BASE, 'logs');
const APP_LOG = path.join(STATE, 'app.log');
const LINES_PER_SECOND = Number(process.env.FLUME_CLUSTER_RATE ?? 2000);

interface Proc {
  name: string;
  child: ChildProcess;
  httpPort: number;
  exited: Promise<number | null>;
}

function freePort(preferred = 0): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(freePort(0)));
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

function start(name: string, bin: string, args: string[], httpPort: number): Proc {
  const log = fs.openSync(path.join(LOGS, `${name}.log`), 'a');
  // Its own process group: Ctrl-C reaches the launcher only, which stops the others in order.
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', bin), ...args], { stdio: ['ignore', log, log], detached: true });
  fs.closeSync(log);
  watchChild(child.pid!);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, httpPort, exited };
}

function getJson(port: number): Promise<any> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/status', timeout: 800 }, (res) => {
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

async function waitHttp(p: Proc, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await getJson(p.httpPort)) !== null) return;
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited (${p.child.exitCode}); see ${path.join(LOGS, `${p.name}.log`)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${p.name} did not answer on http port ${p.httpPort}; see ${path.join(LOGS, `${p.name}.log`)}`);
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
  const masterPort = await freePort(DEFAULT_MASTER_PORT);
  const masterHttp = await freePort(DEFAULT_MASTER_HTTP_PORT);
  const collectorPort = await freePort(DEFAULT_COLLECTOR_PORT);
  const syslogPort = await freePort(5140);
  const master = `127.0.0.1:${masterPort}`;

  const procs: Proc[] = [];
  const m = start('master', 'flume-master.js', ['start', '--port', String(masterPort), '--http-port', String(masterHttp), '--host', '127.0.0.1', '--data', path.join(STATE, 'master')], masterHttp);
  procs.push(m);
  const nodeArgs = async (name: string, role: string): Promise<[string[], number]> => {
    const port = await freePort();
    return [['--master', master, '--role', role, '-n', name, '--data', path.join(STATE, name), '--http-port', String(port)], port];
  };
  const [cArgs, cHttp] = await nodeArgs('collector1', 'collector');
  const collector = start('collector1', 'flume-node.js', cArgs, cHttp);
  const [tArgs, tHttp] = await nodeArgs('agent-tail', 'agent');
  const [sArgs, sHttp] = await nodeArgs('agent-syslog', 'agent');
  const agents = [start('agent-tail', 'flume-node.js', tArgs, tHttp), start('agent-syslog', 'flume-node.js', sArgs, sHttp)];
  procs.push(collector, ...agents);

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
    for (const p of procs) await waitHttp(p);
  } catch (err) {
    console.error(`cluster: ${(err as Error).message}`);
    process.exit(await stopAll('a process did not start').then(() => 1));
  }

  fs.appendFileSync(APP_LOG, '');
  const script = path.join(STATE, 'setup.flume');
  fs.writeFileSync(script, [
    '# What `npm run cluster` tells the master; the same commands work typed in flume-shell.',
    `exec config collector1 'autoCollectorSource(${collectorPort})' 'collectorSink("${STORAGE}/%Y-%m-%d/", "events-%{host}-", 10000)'`,
    `waitForNodesActive 30000 collector1`,
    '# The master gives each agent an ordered list of live collectors (here the one).',
    `exec config agent-tail 'tail("${APP_LOG}")' 'autoE2EChain'`,
    `exec config agent-syslog 'syslogTcp(${syslogPort})' 'autoE2EChain'`,
    `waitForNodesActive 30000 collector1 agent-tail agent-syslog`,
    '',
  ].join('\n'));
  const setup = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'flume-shell.js'), '-q', '-c', master, '-s', script], { encoding: 'utf8' });
  if (setup.status !== 0) {
    console.error(`cluster: configuring through the master failed:\n${setup.stdout}${setup.stderr}`);
    process.exit(await stopAll('configuration failed').then(() => 1));
  }
  stopGenerator = startGenerator();

  console.log(`Local Flume cluster is up (master, collector1, agent-tail, agent-syslog).
  status page   http://127.0.0.1:${masterHttp}/
  admin shell   node bin/flume-shell.js -c ${master}      (try: getnodestatus, getconfigs)
  stored data   ${STORAGE}/   (files are .tmp until their 10 s roll closes)
  app log       ${APP_LOG}   (${LINES_PER_SECOND} lines/s, tailed by agent-tail)
  send syslog   logger -n 127.0.0.1 -P ${syslogPort} -T --rfc5424 "hello from logger"
  process logs  ${LOGS}/
Ctrl-C stops everything.`);

  const began = Date.now();
  const tick = setInterval(async () => {
    if (stopping) return;
    const t = await totals(agents, collector);
    const backlog = Object.entries(t.backlog).map(([k, v]) => `${k}=${v}`).join(' ');
    console.log(`[${Math.round((Date.now() - began) / 1000)}s] accepted=${t.accepted} stored(e2e acked)=${t.delivered} ` +
      `written=${t.written} in-flight=${t.accepted - t.delivered} | backlog batches ${backlog}`);
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
