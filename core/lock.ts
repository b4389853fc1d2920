/**
 * One process per data dir. Two masters on one embedded store, or two nodes on one WAL, would
 * each overwrite what the other wrote and both report success; a lock file makes the second one
 * exit with the holder's pid instead.
 *
 * The lock is `<dir>/flume.lock` (or another name given), a symbolic link made with symlink(2)
 * (atomic, and fails if the name exists) whose target is three lines (`readlink flume.lock`):
 *
 *     <pid>
 *     <host name>
 *     <start time of the process, in clock ticks since boot (field 22 of /proc/<pid>/stat)>
 *
 * A link, not a file with that text: a short link's target lives in its inode, so a process can
 * lock a dir on a disk another process filled to the last byte (issue 16), where writing a file's
 * first byte needs a block. A regular lock file (older versions) is still read.
 *
 * A kill -9 leaves the file behind, so a lock is *stale*, and taken over with a log line, when
 * its process is gone: same host, and no process with that pid, or one with that pid that started
 * at another time (the pid was reused, as after a reboot or in a container where every pid is
 * small). A lock written by another host is never taken over: we cannot see its processes.
 *
 * Taking over is the only step that is not one atomic create: two processes that both find the
 * lock stale could each remove it. So a takeover runs under `<dir>/flume.lock.takeover`, itself
 * made with O_EXCL; the one that gets it checks that the lock is still the stale one, removes it
 * and creates its own. A takeover file older than TAKEOVER_STALE_MS belongs to a process killed in
 * those few microseconds and is removed.
 *
 * Synchronous on purpose: it runs once at startup, before anything else touches the dir.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LockHeldError } from './errors';
import { readLinkText } from './link-text';
import type { Logger } from './logger';

export const LOCK_FILE = 'flume.lock';
const TAKEOVER_STALE_MS = 10_000;
/** A lock file still empty this long after it was made belongs to a process that died making it. */
const EMPTY_STALE_MS = 2_000;

interface Holder {
  pid: number;
  host: string;
  /** '' when unknown (no /proc). */
  startTime: string;
}

/** A held lock; `release` removes it (also done at process exit). */
export class DirLock {
  private released = false;

  private constructor(
    readonly dir: string,
    readonly file: string,
    private readonly content: string,
  ) {
    if (held.size === 0) process.once('exit', releaseAll);
    held.add(this);
  }

  /**
   * Locks `dir` (made if missing) for this process, or throws LockHeldError naming the holder.
   * `what` names the dir in log lines ("data dir", "storage state"); `name` is the lock file's
   * name, for dirs that several processes share, each holding its own part.
   */
  static acquire(dir: string, logger: Logger, what = 'data dir', name = LOCK_FILE): DirLock {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, name);
    const content = `${process.pid}\n${os.hostname()}\n${startTimeOf(process.pid)}\n`;
    for (let attempt = 0; ; attempt++) {
      if (tryCreate(file, content)) return new DirLock(dir, file, content);
      const text = readOrNull(file);
      if (text === null) continue; // removed between our create and read: try again
      const holder = parseHolder(text);
      if (holder === null) {
        // Being written right now, or its writer died between create and write.
        if (ageMs(file) < EMPTY_STALE_MS) {
          sleepMs(10);
          continue;
        }
      } else if (holder.pid === process.pid && holder.host === os.hostname() && holder.startTime === startTimeOf(process.pid)) {
        throw new Error(`${dir} is locked by this process already (${file})`);
      } else if (isAlive(holder)) {
        throw new LockHeldError(dir, file, holder.pid, holder.host === os.hostname() ? '' : holder.host);
      }
      if (attempt > 500) throw new Error(`could not take over the stale lock ${file}`);
      if (takeOver(file, text)) {
        logger.warn('Took over a stale lock: the process that held it is gone.', { dir, what, stale_pid: holder?.pid ?? 'unknown' });
      }
    }
  }

  /** Removes the lock if it is still ours. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this);
    if (held.size === 0) process.off('exit', releaseAll);
    try {
      if (readOrNull(this.file) === this.content) fs.unlinkSync(this.file);
    } catch {
      // gone already
    }
  }
}

/** Locks this process holds; released by a normal exit (a kill -9 leaves them stale). */
const held = new Set<DirLock>();
function releaseAll(): void {
  for (const lock of [...held]) lock.release();
}

function tryCreate(file: string, content: string): boolean {
  try {
    fs.symlinkSync(content, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  return true;
}

/** Removes `file` if it still holds `staleText`, under the takeover lock. True if removed. */
function takeOver(file: string, staleText: string): boolean {
  const guard = `${file}.takeover`;
  if (!tryCreate(guard, `${process.pid}\n`)) {
    if (ageMs(guard) > TAKEOVER_STALE_MS) removeIfExists(guard);
    else sleepMs(10);
    return false;
  }
  try {
    if (readOrNull(file) !== staleText) return false;
    removeIfExists(file);
    return true;
  } finally {
    removeIfExists(guard);
  }
}

function parseHolder(text: string): Holder | null {
  const [pid, host, startTime] = text.split('\n');
  if (!/^\d+$/.test(pid ?? '') || host === undefined) return null;
  return { pid: Number(pid), host, startTime: startTime ?? '' };
}

function isAlive(holder: Holder): boolean {
  if (holder.host !== os.hostname()) return true;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // A process with that pid exists (EPERM: another user's); is it the one that wrote the lock?
  const now = startTimeOf(holder.pid);
  return holder.startTime === '' || now === '' || now === holder.startTime;
}

/** Start time of a process in clock ticks since boot; '' where /proc does not say. */
function startTimeOf(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? '';
  } catch {
    return '';
  }
}

/** The lock's text (core/link-text.ts); null when gone. */
function readOrNull(file: string): string | null {
  try {
    return readLinkText(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function ageMs(file: string): number {
  try {
    return Date.now() - fs.lstatSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function removeIfExists(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
