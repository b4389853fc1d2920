/**
 * Helpers of the shell's integration tests: a real master process on free ports, and runs of
 * the real `flume-shell` binary (every child stopped by pid).
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { REPO_ROOT, spawnFlume, tempDir, tlsEnvFor, type Proc } from '../harness/procs';

export interface RunningMaster {
  proc: Proc;
  /** host:port of its gRPC (admin) service. */
  address: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Starts `flume-master start --port 0 --http-port 0 --host 127.0.0.1 --data TMP ...extra` and
 * reads its gRPC port back from its startup line.
 */
export async function startMaster(extra: string[] = []): Promise<RunningMaster> {
  const data = tempDir('flume-shell-master-');
  const proc = spawnFlume('master', ['start', '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--data', data.path, ...extra], {
    env: { FLUME_LOG_LEVEL: 'info' },
  });
  try {
    const m = await proc.waitForLine(MASTER_READY, 60_000);
    return {
      proc,
      address: `127.0.0.1:${m[1]}`,
      dataDir: data.path,
      async stop() {
        await proc.stop();
        data.remove();
      },
    };
  } catch (err) {
    await proc.stop();
    data.remove();
    throw err;
  }
}

/** The master's log line that gives its gRPC port. */
const MASTER_READY = /Master started\..*grpc_port=(\d+)/;

export interface ShellRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const SHELL_BIN = path.join(REPO_ROOT, 'bin', 'flume-shell.js');

/**
 * Runs `flume-shell args...` to completion with `input` on its stdin (a pipe), and a history
 * file under `home` so the user's own is never touched. Killed (by pid) after `timeoutMs`.
 */
export function runShell(
  args: string[],
  options: { input?: string; env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {},
): Promise<ShellRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SHELL_BIN, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, ...tlsEnvFor('shell', args), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(
        new Error(
          `flume-shell ${args.join(' ')} did not exit within ${options.timeoutMs ?? 60_000} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`,
        ),
      );
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    // 'close' comes after the exit and after stdout and stderr have been read to their end.
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Asserts nothing; formats a run for assertion messages. */
export function describeRun(run: ShellRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;
}
