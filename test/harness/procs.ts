/**
 * Real processes for integration tests: spawn `node bin/flume-*.js ...` (or any script) with its
 * output captured, wait for a log line or an HTTP answer, stop it by pid (SIGTERM, then SIGKILL
 * after a grace period) or kill -9 it mid-run.
 *
 * Every process spawned here is also killed (SIGKILL, by pid) when the test process exits, so a
 * failing test never leaves one behind; tests should still stop them in `after()` hooks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestCerts, testsInsecure } from './tls';

/** The repository root (the folder holding package.json), found from dist/test/harness. */
export const REPO_ROOT = findRoot();

function findRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bin'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`repository root not found above ${__dirname}`);
    dir = parent;
  }
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Echo the child's output to this process's stderr as it comes (debugging). */
  echo?: boolean;
  /** Prefix of echoed lines; defaults to the script name. */
  label?: string;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) {
    if (child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

/** A running child process with its stdout and stderr captured (interleaved as they came). */
export class Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly label: string;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  private text = '';
  private stdoutText = '';
  private waiters: Array<() => void> = [];
  private exitStatus: ExitStatus | undefined;

  constructor(command: string, args: string[], options: SpawnOptions = {}) {
    this.label = options.label ?? path.basename(args[0] ?? command);
    this.child = spawn(command, args, {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (this.child.pid === undefined) throw new Error(`could not spawn ${command} ${args.join(' ')}`);
    this.pid = this.child.pid;
    live.add(this.child);
    const onData = (isStdout: boolean) => (chunk: Buffer) => {
      const s = chunk.toString('utf8');
      this.text += s;
      if (isStdout) this.stdoutText += s;
      if (options.echo) process.stderr.write(s.replace(/^(?=.)/gm, `[${this.label}] `));
      this.wake();
    };
    this.child.stdout!.on('data', onData(true));
    this.child.stderr!.on('data', onData(false));
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        live.delete(this.child);
        this.exitStatus = { code, signal };
        this.wake();
        resolve(this.exitStatus);
      });
    });
  }

  /** Everything the process wrote to stdout and stderr so far. */
  output(): string {
    return this.text;
  }

  /** Only what it wrote to stdout. */
  stdout(): string {
    return this.stdoutText;
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** Write to the child's stdin. */
  write(text: string): void {
    this.child.stdin!.write(text);
  }

  /**
   * Resolves with the first match of `pattern` in the output written from `from` (a character
   * offset of `output()`, default 0). Rejects if the process exits or the deadline passes first.
   */
  async waitForLine(pattern: RegExp, timeoutMs = 30_000, from = 0): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.text.slice(from).match(pattern);
      if (m) return m;
      if (!this.running) {
        throw new Error(
          `${this.label} (pid ${this.pid}) exited (${JSON.stringify(this.exitStatus)}) before printing ${pattern}; output:\n${this.tail()}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`${this.label} (pid ${this.pid}) did not print ${pattern} within ${timeoutMs} ms; output:\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 500));
        const waiter = (): void => done();
        this.waiters.push(waiter);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  }

  /** The last lines of output, for error messages. */
  tail(lines = 40): string {
    return this.text.split('\n').slice(-lines).join('\n');
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. Resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<ExitStatus> {
    if (!this.running) return this.exitStatus!;
    signal(this.pid, 'SIGTERM');
    const timer = setTimeout(() => signal(this.pid, 'SIGKILL'), graceMs);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }

  /** kill -9, and wait until the process is gone. */
  async kill9(): Promise<ExitStatus> {
    if (!this.running) return this.exitStatus!;
    signal(this.pid, 'SIGKILL');
    return this.exited;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already exited
  }
}

/**
 * Spawns `node bin/flume-<tool>.js args...` from the repository root, with the run's TLS
 * (test/harness/tls.ts) unless `options.env` sets FLUME_TLS_* itself: a master gets the master
 * certificate, a node one naming it (`-n`/`--name`; role from `--role`, else collector, which may
 * both receive from agents and send as a relay), a shell the run's admin certificate.
 */
export function spawnFlume(tool: 'master' | 'node' | 'shell', args: string[], options: SpawnOptions = {}): Proc {
  const script = path.join(REPO_ROOT, 'bin', `flume-${tool}.js`);
  const own = Object.keys(options.env ?? {}).some((k) => k.startsWith('FLUME_TLS_') || k === 'FLUME_ADMIN_TOKEN_FILE');
  const env = own ? { ...(tool === 'node' ? TEST_WRITE_PATHS : {}), ...options.env } : { ...tlsEnvFor(tool, args), ...options.env };
  const pre = tool === 'master' && process.env.BENCH_MASTER_NODE_ARGS ? process.env.BENCH_MASTER_NODE_ARGS.split(' ') : [];
  return new Proc(process.execPath, [...pre, script, ...args], { label: `flume-${tool}`, ...options, env });
}

/** Test nodes write their storage in temp dirs, outside their data dirs (node.write_paths). */
const TEST_WRITE_PATHS = { FLUME_NODE_WRITE_PATHS: os.tmpdir() };

/** The FLUME_TLS_* a flume process of the test run gets by default (a node also its node.write_paths). */
export function tlsEnvFor(tool: 'master' | 'node' | 'shell', args: string[]): Record<string, string> {
  const certs = TestCerts.shared();
  const flag = (...names: string[]): string | undefined => {
    const i = args.findIndex((a) => names.includes(a));
    return i >= 0 ? args[i + 1] : undefined;
  };
  if (tool === 'master') return certs.env('master', 'master');
  if (tool === 'shell') return certs.env('admin', 'tester');
  const role = flag('--role') === 'agent' ? 'agent' : 'collector';
  return { ...TEST_WRITE_PATHS, ...certs.env(role, flag('-n', '--name') ?? os.hostname()) };
}

/** Spawns `node SCRIPT args...` (a compiled test helper, for instance). */
export function spawnScript(script: string, args: string[], options: SpawnOptions = {}): Proc {
  return new Proc(process.execPath, [script, ...args], options);
}

/** Resident memory of a process, MB (Linux). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** A TCP port free on 127.0.0.1 right now (another process may still take it before you do). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns a truthy value; rejects with `what` after the deadline. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs: number, what: string, intervalMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

let reader: https.RequestOptions | undefined;
/** The run's read-only client (trusts the run's CA, checks the server's role, not its hostname). */
function readerTls(): https.RequestOptions {
  return (reader ??= TestCerts.shared().context('read-only', 'tests')!.clientOptions(['master', 'agent', 'collector']));
}

export interface HttpAnswer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/**
 * One GET of a flume process's status port; rejects on connection errors. The run's processes
 * speak HTTPS (mutual TLS, test/harness/tls.ts), so an `http://` URL is fetched as `https://`
 * with the run's read-only certificate unless the run is insecure (FLUME_TEST_INSECURE=1);
 * `options.tls` overrides the client's TLS options (another certificate, none); `options.plain`
 * keeps an `http://` URL plain (a process run insecure on purpose).
 */
export function httpGet(
  url: string,
  timeoutMs = 5_000,
  options: { tls?: https.RequestOptions; plain?: boolean } = {},
): Promise<HttpAnswer> {
  const secure = url.startsWith('https://') || (!testsInsecure() && !options.plain && url.startsWith('http://'));
  const target = secure ? url.replace(/^http:/, 'https:') : url;
  const tlsOptions = secure ? (options.tls ?? readerTls()) : {};
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).get(target, { timeout: timeoutMs, ...tlsOptions }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/** The base URL (`http://127.0.0.1:PORT`) of a flume process's HTTP server, once it has said where it listens. */
export async function statusBase(proc: Proc, timeoutMs = 30_000): Promise<string> {
  return (await proc.waitForLine(/HTTP status listening url=(https?:\/\/127\.0\.0\.1:\d+)\/status/, timeoutMs))[1];
}

/**
 * A metric of a flume process's /metrics: the sum of the series of `name` whose labels include
 * `labels` (e.g. `component="channel"`); undefined while there is no such series.
 */
export async function nodeMetric(proc: Proc, name: string, labels = ''): Promise<number | undefined> {
  // The scheme is the one the process printed: http:// only for a process run insecure on purpose.
  const base = await statusBase(proc);
  const body = (await httpGet(`${base}/metrics`, 5_000, { plain: base.startsWith('http://') })).body;
  let sum: number | undefined;
  for (const line of body.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** A fresh directory under the OS temp dir; `remove()` deletes it and everything in it. */
export function tempDir(prefix = 'flume-test-'): { path: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { path: dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
