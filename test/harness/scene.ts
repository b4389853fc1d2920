/**
 * One test file's real processes in one temp dir: `file()` names paths in it, `standalone()`,
 * `node()` and `master()` start flume processes whose data dirs are under it, and the file's
 * `after` hook stops every process (the last started first) and removes the dir. With the
 * syslog and metric helpers the tests of whole flows share.
 */
import { execFile } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { after } from 'node:test';
import { nodeMetric, type Proc, spawnFlume, type SpawnOptions, tempDir } from './procs';
import { storageLines } from './storage';

export class Scene {
  readonly dir: string;
  readonly procs: Proc[] = [];

  /** Call at the top level of a test file: the cleanup is registered with that file's `after`. */
  constructor(prefix: string) {
    const dir = tempDir(prefix);
    this.dir = dir.path;
    after(async () => {
      for (const p of this.procs.reverse()) await p.stop().catch(() => undefined);
      dir.remove();
    });
  }

  file(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  /**
   * `flume-node --standalone` running `name : spec ;` with its data in `data/<name>` (or
   * `options.data`), a status port, and log level info unless `options.env` says otherwise.
   */
  standalone(name: string, spec: string, options: SpawnOptions & { data?: string; args?: string[] } = {}): Proc {
    const args = ['--standalone', '-n', name, '-c', `${name} : ${spec} ;`, '--data', options.data ?? this.file('data', name)];
    return this.track(
      spawnFlume('node', [...args, '--http-port', '0', ...(options.args ?? [])], {
        label: name,
        ...options,
        env: { FLUME_LOG_LEVEL: 'info', ...options.env },
      }),
    );
  }

  /** A physical node of `role` heartbeating to `master`, its data in `data/<name>`. */
  node(name: string, role: 'agent' | 'collector', master: string, options: SpawnOptions = {}): Proc {
    const args = ['--master', master, '-n', name, '--role', role, '--data', this.file('data', name), '--http-port', '0'];
    return this.track(spawnFlume('node', args, { ...options, env: { FLUME_LOG_LEVEL: 'info', ...options.env } }));
  }

  /** A master on loopback `port` with its embedded store in `master/`. */
  master(port: number, options: SpawnOptions = {}): Proc {
    const args = ['start', '--port', String(port), '--http-port', '0', '--host', '127.0.0.1', '--data', this.file('master')];
    return this.track(spawnFlume('master', args, { ...options, env: { FLUME_LOG_LEVEL: 'info', ...options.env } }));
  }

  /** Stops `p` with the others at the end of the file. */
  track(p: Proc): Proc {
    this.procs.push(p);
    return p;
  }
}

/** Sends `lines` to 127.0.0.1:`port` with util-linux `logger` (RFC 5424 over TCP, one connection). */
export function sendSyslog(port: number, lines: string[], tag = 'flume-test'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('logger', ['--tcp', '--rfc5424', '-n', '127.0.0.1', '-P', String(port), '-t', tag], (err) =>
      err ? reject(err) : resolve(),
    );
    child.stdin!.end(lines.join('\n') + '\n');
  });
}

/** True if something accepts TCP connections on 127.0.0.1:`port` now. */
export function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A counter or gauge of a node's /metrics, 0 while it has no such series. */
export async function metric(p: Proc, name: string, labels = ''): Promise<number> {
  return (await nodeMetric(p, name, labels)) ?? 0;
}

/** Lines `line-<from>` .. `line-<to>` (inclusive, zero-padded), as `storedLineNumbers` reads them back. */
export function numberedLines(from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => `line-${String(from + i).padStart(6, '0')}`);
}

/** The `line-N` numbers of `numberedLines` found in storage under `root`, sorted, duplicates kept. */
export function storedLineNumbers(root: string): number[] {
  return storageLines(root)
    .map((l) => /line-(\d+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}
