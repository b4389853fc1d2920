/**
 * Small file systems for disk-full tests: a tmpfs of a given size mounted on a fresh directory.
 * Mounting needs root (CI runs as root); `tmpfsSkip` says why a test cannot run otherwise.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

/** Why tmpfs tests cannot run here, or null when they can. */
export function tmpfsSkip(): string | null {
  if (process.platform !== 'linux') return 'needs Linux (tmpfs)';
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs (CI runs as root): run the tests as root';
  return null;
}

export interface Tmpfs {
  readonly path: string;
  /** Bytes free, as statfs says. */
  freeBytes(): number;
  /** Unmounts (lazily, so an open file left by a killed process does not keep it); idempotent. */
  unmount(): void;
}

/** Mounts a tmpfs of `size` (e.g. '16m') on `dir` (created). */
export function mountTmpfs(dir: string, size: string): Tmpfs {
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  let mounted = true;
  return {
    path: dir,
    freeBytes: () => {
      const st = fs.statfsSync(dir);
      return st.bavail * st.bsize;
    },
    unmount: () => {
      if (!mounted) return;
      mounted = false;
      execFileSync('umount', ['-l', dir]);
    },
  };
}
