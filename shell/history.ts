/**
 * The REPL's persistent history: one command per line, oldest first, in
 * `$FLUME_SHELL_HISTORY` or `~/.flume_shell_history`. Lines are appended as they are run, so
 * two shells open at once both keep theirs; the file is trimmed on load when it has grown to
 * twice the history size. A file that cannot be read or written costs the history, never the
 * shell (the problem is reported once).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const HISTORY_SIZE = 1000;

export function defaultHistoryFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.FLUME_SHELL_HISTORY || path.join(os.homedir(), '.flume_shell_history');
}

export class History {
  private last: string | undefined;
  private broken = false;

  constructor(
    readonly file: string,
    private readonly warn: (message: string) => void,
    readonly size = HISTORY_SIZE,
  ) {}

  /** The saved lines, newest first (readline's order). */
  load(): string[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.fail('read', err);
      return [];
    }
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    if (lines.length > 2 * this.size) {
      try {
        fs.writeFileSync(this.file, lines.slice(-this.size).join('\n') + '\n');
      } catch (err) {
        this.fail('trim', err);
      }
    }
    const kept = lines.slice(-this.size);
    this.last = kept[kept.length - 1];
    return kept.reverse();
  }

  /** Appends a line that was run, trailing blanks dropped (not blank lines, nor a repeat of the previous one). */
  add(typed: string): void {
    const line = typed.trimEnd();
    if (this.broken || line.trim() === '' || line.includes('\n') || line === this.last) return;
    this.last = line;
    try {
      fs.appendFileSync(this.file, line + '\n', { mode: 0o600 });
    } catch (err) {
      this.fail('write', err);
    }
  }

  private fail(what: string, err: unknown): void {
    if (this.broken) return;
    this.broken = true;
    this.warn(`history disabled: cannot ${what} ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
