/**
 * An interactive flume-shell on a pseudo-terminal, driven like a user: `script` (util-linux)
 * gives the shell a pty and relays our keystrokes to it and its screen output back.
 */
import { execFileSync } from 'node:child_process';
import { Proc, tlsEnvFor } from '../harness/procs';
import { SHELL_BIN } from './helpers';

export const KEY = { TAB: '\t', ENTER: '\r', UP: '\x1b[A', CTRL_C: '\x03', CTRL_D: '\x04' } as const;

/** `script` must exist; a missing one fails the test with how to install it. */
export function checkScriptCommand(): void {
  try {
    execFileSync('script', ['--version'], { stdio: 'pipe' });
  } catch {
    throw new Error("the pty tests need 'script' from util-linux: apt-get install -y util-linux (or bsdutils)");
  }
}

export class PtyShell {
  readonly proc: Proc;

  constructor(args: string[], env: Record<string, string>) {
    const command = [process.execPath, SHELL_BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    // -q no banner, -e exit with the shell's status, -f flush at once, -c the command.
    this.proc = new Proc('script', ['-qefc', command, '/dev/null'], {
      env: { TERM: 'xterm', COLUMNS: '200', ...tlsEnvFor('shell', args), ...env },
      label: 'pty-shell',
    });
  }

  /** What the terminal showed so far, without escape sequences and carriage returns. */
  screen(from = 0): string {
    return clean(this.proc.output()).slice(from);
  }

  /** An offset to pass to `expect`, so that it only looks at what comes next. */
  mark(): number {
    return clean(this.proc.output()).length;
  }

  type(keys: string): void {
    this.proc.write(keys);
  }

  /**
   * Types `text`, waits until the terminal echoed it, then presses TAB. readline treats keys
   * that arrive in one chunk as pasted text and does not complete on a pasted TAB, so the TAB
   * must come on its own, after the text was read.
   */
  async complete(text: string, from: number): Promise<void> {
    if (text !== '') {
      this.type(text);
      await this.expect(new RegExp(`${escapeRegExp(text)}$`), from);
    }
    this.type(KEY.TAB);
  }

  /** Waits until the cleaned screen after `from` matches `pattern`; returns the match. */
  async expect(pattern: RegExp, from = 0, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.screen(from).match(pattern);
      if (m) return m;
      if (!this.proc.running) throw new Error(`the shell exited before showing ${pattern}; screen:\n${this.screen(from)}`);
      if (Date.now() > deadline) throw new Error(`the shell did not show ${pattern} within ${timeoutMs} ms; screen:\n${this.screen(from)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops `script` and the shell under it, by pid. */
  async stop(): Promise<void> {
    if (!this.proc.running) return;
    const children = childPids(this.proc.pid);
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await this.proc.stop();
  }
}

function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Drops ANSI escape sequences and carriage returns, keeps what a reader sees. */
function clean(text: string): string {
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
