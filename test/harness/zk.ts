/**
 * Real ZooKeeper servers for tests: a standalone server or a three-server ensemble from the
 * Debian `zookeeper` package, each on free loopback ports in its own temp dir, started as
 * child processes and stopped by pid.
 *
 *     const zk = await startZooKeeper();          // or startEnsemble(3)
 *     after(() => zk.stop());
 *     const connect = await zk.chroot();          // "127.0.0.1:PORT/t-<unique>", created
 *
 * Readiness is the four-letter command `srvr` printing `Mode:` (`ruok` answers too early).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ZkClient } from '../../master/store/zk';
import { freePort, tempDir } from './procs';

const ZK_JAR = '/usr/share/java/zookeeper.jar';
// Netty (the connection factory that serves secureClientPort, TLS) for tests that ask for it.
const NETTY = fs.existsSync('/usr/share/java')
  ? fs.readdirSync('/usr/share/java').filter((f) => /^netty-(?!all)[a-z0-9-]+\.jar$/.test(f))
  : [];
const CLASSPATH = [
  '/etc/zookeeper/conf',
  ZK_JAR,
  '/usr/share/java/slf4j-log4j12.jar',
  '/usr/share/java/log4j-1.2.jar',
  ...NETTY.map((f) => `/usr/share/java/${f}`),
].join(':');

/** Throws an error that says how to install ZooKeeper when it is missing. */
export function requireZooKeeper(): void {
  if (!fs.existsSync(ZK_JAR)) {
    throw new Error(`ZooKeeper is not installed (${ZK_JAR} is missing). Install it with: apt-get install -y zookeeper`);
  }
}

/** Sends a four-letter command; resolves with the answer ('' if the server does not answer). */
function fourLetter(port: number, command: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on('connect', () => socket.write(command));
    socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
    socket.on('error', () => resolve(''));
    socket.on('close', () => resolve(text));
  });
}

/** One ZooKeeper server process. */
export class ZkServerProcess {
  child: ChildProcess | undefined;
  private logFd: number | undefined;

  constructor(
    readonly dir: string,
    readonly clientPort: number,
    readonly mainClass: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  get running(): boolean {
    return this.pid !== undefined;
  }

  start(): void {
    this.logFd = fs.openSync(path.join(this.dir, 'out.log'), 'a');
    this.child = spawn(
      'java',
      [
        '-Xmx256m',
        '-cp',
        CLASSPATH,
        '-Dzookeeper.root.logger=INFO,CONSOLE',
        `-Dzookeeper.log.dir=${this.dir}`,
        this.mainClass,
        path.join(this.dir, 'zoo.cfg'),
      ],
      { stdio: ['ignore', this.logFd, this.logFd] },
    );
    const child = this.child;
    process.on('exit', () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
  }

  /** The `Mode:` line of `srvr` (standalone, leader, follower), or undefined if not serving. */
  async mode(): Promise<string | undefined> {
    const answer = await fourLetter(this.clientPort, 'srvr');
    return /Mode: (\w+)/.exec(answer)?.[1];
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.mode())) {
      if (!this.running) throw new Error(`ZooKeeper on port ${this.clientPort} exited; log:\n${this.log()}`);
      if (Date.now() > deadline)
        throw new Error(`ZooKeeper on port ${this.clientPort} not ready after ${timeoutMs} ms; log:\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM then SIGKILL; resolves when the process is gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return this.closeLog();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    this.closeLog();
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'out.log'), 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  }

  private closeLog(): void {
    if (this.logFd !== undefined) fs.closeSync(this.logFd);
    this.logFd = undefined;
  }
}

const BASE_CONFIG = (dataDir: string, clientPort: number): string => `tickTime=1000
dataDir=${dataDir}
clientPort=${clientPort}
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr
maxClientCnxns=0
minSessionTimeout=2000
`;

/** A running standalone server or ensemble. */
export class ZooKeeper {
  private readonly tmp: { path: string; remove(): void };

  constructor(
    readonly servers: ZkServerProcess[],
    tmp: { path: string; remove(): void },
  ) {
    this.tmp = tmp;
  }

  /** host:port,host:port of every server, without a chroot. */
  get connectString(): string {
    return this.servers.map((s) => `127.0.0.1:${s.clientPort}`).join(',');
  }

  /**
   * Creates a fresh, unique chroot znode and returns the connect string that uses it, so each
   * test sees an empty tree.
   */
  async chroot(name = `t-${randomBytes(4).toString('hex')}`): Promise<string> {
    const client = new ZkClient({ connect: this.connectString, sessionTimeoutMs: 10_000, connectTimeoutMs: 20_000 });
    try {
      await client.connect();
      await client.mkdirp(`/${name}`);
    } finally {
      client.close();
    }
    return `${this.connectString}/${name}`;
  }

  /** Index of the server whose `srvr` says leader (or standalone), undefined if none. */
  async leaderIndex(): Promise<number | undefined> {
    for (let i = 0; i < this.servers.length; i++) {
      const mode = await this.servers[i].mode();
      if (mode === 'leader' || mode === 'standalone') return i;
    }
    return undefined;
  }

  /** kill -9 server i. */
  async kill(i: number): Promise<void> {
    await this.servers[i].stop('SIGKILL');
  }

  /** Starts server i again (after kill or stop) and waits until it serves. */
  async restart(i: number, timeoutMs = 30_000): Promise<void> {
    this.servers[i].start();
    await this.servers[i].waitReady(timeoutMs);
  }

  /** Stops every server by pid and removes the temp dir. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
    this.tmp.remove();
  }
}

/** Starts a standalone ZooKeeper server on a free loopback port; `extraConfig(dir)` adds zoo.cfg lines (dir: the server's own). */
export async function startZooKeeper(timeoutMs = 30_000, extraConfig: (dir: string) => string = () => ''): Promise<ZooKeeper> {
  requireZooKeeper();
  const tmp = tempDir('flume-zk-');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const dir = path.join(tmp.path, `s${attempt}`);
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'zoo.cfg'), BASE_CONFIG(path.join(dir, 'data'), port) + extraConfig(dir));
    const server = new ZkServerProcess(dir, port, 'org.apache.zookeeper.server.ZooKeeperServerMain');
    server.start();
    try {
      await server.waitReady(timeoutMs);
      return new ZooKeeper([server], tmp);
    } catch (err) {
      await server.stop('SIGKILL');
      // The port may have been taken between freePort() and the bind: try another one.
      if (attempt >= 2) {
        tmp.remove();
        throw err;
      }
    }
  }
}

/**
 * Starts an ensemble of `size` servers (default 3) and waits until each serves. Its 3 × size
 * ports are probed free first; one may be taken before Java binds it, so a failed start is
 * tried again on other ports (twice at most).
 */
export async function startEnsemble(size = 3, timeoutMs = 60_000): Promise<ZooKeeper> {
  requireZooKeeper();
  for (let attempt = 0; ; attempt++) {
    try {
      return await startEnsembleOnce(size, timeoutMs);
    } catch (err) {
      if (attempt >= 2 || !/EADDRINUSE|Address already in use|BindException|exited/.test(String((err as Error).message))) throw err;
    }
  }
}

async function startEnsembleOnce(size: number, timeoutMs: number): Promise<ZooKeeper> {
  const tmp = tempDir('flume-zk-ensemble-');
  const ports: Array<{ client: number; peer: number; election: number }> = [];
  const taken = new Set<number>();
  const pick = async (): Promise<number> => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
  for (let i = 0; i < size; i++) ports.push({ client: await pick(), peer: await pick(), election: await pick() });
  const serverLines = ports.map((p, i) => `server.${i + 1}=127.0.0.1:${p.peer}:${p.election}`).join('\n');
  const servers = ports.map((p, i) => {
    const dir = path.join(tmp.path, `s${i + 1}`);
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'data', 'myid'), `${i + 1}\n`);
    fs.writeFileSync(
      path.join(dir, 'zoo.cfg'),
      `${BASE_CONFIG(path.join(dir, 'data'), p.client)}initLimit=10\nsyncLimit=5\n${serverLines}\n`,
    );
    return new ZkServerProcess(dir, p.client, 'org.apache.zookeeper.server.quorum.QuorumPeerMain');
  });
  for (const s of servers) s.start();
  const zk = new ZooKeeper(servers, tmp);
  try {
    await Promise.all(servers.map((s) => s.waitReady(timeoutMs)));
  } catch (err) {
    await zk.stop();
    throw err;
  }
  return zk;
}
