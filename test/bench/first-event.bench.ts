/**
 * The README's first command as a newcomer runs it, timed: a fresh `git clone` of this
 * repository, then `npm install && npm run cluster` until the live line first shows a stored
 * event (cold); then `npm run cluster` again in the same clone (warm: nothing to compile, the
 * previous run resumed). Each run is stopped with Ctrl-C (SIGINT) once it has stored something.
 *
 * Prints `bench first-event cold_s=N warm_s=N warm_up_s=N install_s=N`: seconds from the
 * command's start to the first stored event, cold and warm; to the "cluster is up" banner on the
 * warm run; and what `npm install` (with its one compile) took of the cold figure. The clone is
 * of the committed HEAD (FLUME_BENCH_REPO to clone another); `npm install` uses npm's cache.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { REPO_ROOT, tempDir } from '../harness/procs';
import { wanted } from './util';

const TIMEOUT_MS = 10 * 60_000;

interface Timed {
  /** Seconds from the start to the "cluster is up" banner and to the first stored event. */
  upS: number;
  storedS: number;
  /** Seconds to a line `INSTALLED` the command printed (0: none). */
  installedS: number;
}

/** Runs `command` in `cwd` (its own process group) until the first stored event, then Ctrl-C. */
function untilStored(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<Timed> {
  const began = Date.now();
  const child = spawn('bash', ['-c', command], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let upS = 0;
  let installedS = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => stop(new Error(`no stored event within ${TIMEOUT_MS / 1000} s:\n${output.slice(-3000)}`)), TIMEOUT_MS);
    let result: Timed | Error | undefined;
    const stop = (r: Timed | Error): void => {
      if (result) return;
      result = r;
      clearTimeout(timer);
      try {
        process.kill(-child.pid!, 'SIGINT');
      } catch {
        // gone already
      }
    };
    const onData = (c: Buffer): void => {
      output += c.toString();
      if (installedS === 0 && /^INSTALLED$/m.test(output)) installedS = (Date.now() - began) / 1000;
      if (upS === 0 && output.includes('Local Flume cluster is up')) upS = (Date.now() - began) / 1000;
      const stored = [...output.matchAll(/stored\(e2e acked\)=(\d+)/g)].some((m) => Number(m[1]) > 0);
      if (stored) stop({ upS, storedS: (Date.now() - began) / 1000, installedS });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code, signal) => {
      if (!result) return reject(new Error(`${command} exited (${code ?? signal}) before storing an event:\n${output.slice(-3000)}`));
      if (result instanceof Error) return reject(result);
      // npm and bash die of the SIGINT; the launcher says how it stopped.
      if (!/Stopped 4 processes \(4 cleanly\)/.test(output))
        return reject(new Error(`${command} did not stop cleanly:\n${output.slice(-3000)}`));
      resolve(result);
    });
  });
}

export async function run(filter?: string): Promise<void> {
  if (!wanted(filter, 'first-event')) return;
  const dir = tempDir('flume-first-event-');
  try {
    const clone = path.join(dir.path, 'flume-ts');
    const cloned = spawnSync('git', ['clone', '-q', process.env.FLUME_BENCH_REPO ?? REPO_ROOT, clone], { encoding: 'utf8' });
    if (cloned.status !== 0) throw new Error(`git clone failed: ${cloned.stderr}`);
    // The clone's own data dir, and its own builds: nothing of this checkout leaks in.
    const env: NodeJS.ProcessEnv = { ...process.env, FLUME_CLUSTER_DIR: path.join(dir.path, 'data') };
    delete env.FLUME_BUILD;
    const cold = await untilStored('npm install --no-audit --no-fund && echo INSTALLED && npm run cluster', clone, env);
    const warm = await untilStored('npm run cluster', clone, env);
    console.log(
      `bench first-event cold_s=${cold.storedS.toFixed(1)} warm_s=${warm.storedS.toFixed(1)} ` +
        `warm_up_s=${warm.upS.toFixed(1)} install_s=${cold.installedS.toFixed(1)}`,
    );
  } finally {
    dir.remove();
  }
}
