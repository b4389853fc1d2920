/**
 * The shell without its terminal: runs lines and scripts against a `Session`, writes through
 * a `ShellIO`. The REPL (repl.ts), `-e`, `-s` and piped input all go through `executeLine`.
 *
 * Lines run one at a time, in order. `interrupt()` aborts the command running now (the
 * waits of exec, wait and waitForNodes*); the shell goes on with the next line.
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { FlumeError } from '../core/errors';
import { CommandContext, ShellIO, ShellUsageError, findShellCommand, shellUsage, unknownCommandMessage } from './commands';
import { arityProblem } from './master-commands';
import { NotConnectedError, Session } from './session';
import { ContinuedLines, ShellSyntaxError, lineAndColumn, tokenize } from './tokenizer';

/** Nesting limit of `source`, so that a file sourcing itself ends with an error. */
const MAX_SOURCE_DEPTH = 16;

/** Where a line came from, for messages: `deploy.fsh:3:14: ...`. */
export interface LineOrigin {
  file: string;
  line: number;
}

export class Shell {
  /** Set by quit/exit: the caller stops reading lines. */
  done = false;
  private running: AbortController | undefined;
  private sourceDepth = 0;

  constructor(
    readonly io: ShellIO,
    readonly session: Session = new Session(),
  ) {
    session.onFailover = (from, to, reason) => io.info(`Master ${from} did not answer (${reason}); now connected to ${to}`);
  }

  /** The interactive prompt: `[flume HOST:PORT] ` or `[flume (disconnected)] `. */
  prompt(): string {
    return `[flume ${this.session.address ?? '(disconnected)'}] `;
  }

  /** Aborts the command running now. Returns false when none was running. */
  interrupt(): boolean {
    if (!this.running) return false;
    this.running.abort(new FlumeError('interrupted'));
    return true;
  }

  /** Runs one line and returns its status (0 success). Reports every problem; never throws. */
  async executeLine(line: string, origin?: LineOrigin): Promise<number> {
    let words: string[];
    try {
      words = tokenize(line);
    } catch (err) {
      if (!(err instanceof ShellSyntaxError)) throw err;
      this.reportSyntaxError(line, err, origin);
      return 1;
    }
    if (words.length === 0) return 0;
    const [name, ...args] = words;
    const where = origin ? `${origin.file}:${origin.line}: ` : '';
    const command = findShellCommand(name);
    if (!command) {
      this.io.error(where + unknownCommandMessage('command', name));
      return 1;
    }
    const problem = arityProblem(command.name, args.length, command.minArgs, command.maxArgs);
    if (problem) {
      this.io.error(`${where}${problem}. ${shellUsage(command)}`);
      return 1;
    }
    const refused = command.check?.(args);
    if (refused) {
      this.io.error(where + refused);
      return 1;
    }
    if (command.needsConnection && !this.session.connected) {
      this.io.error(where + new NotConnectedError().message);
      return 1;
    }
    const outer = this.running;
    if (outer?.signal.aborted) {
      // Interrupted between two lines of a `source`d file: run no more of them.
      this.io.error(`${where}${name}: interrupted`);
      return 1;
    }
    const controller = new AbortController();
    this.running = controller;
    // A `source` runs its lines inside this command: an interrupt must reach them too.
    const forward = (): void => controller.abort(outer?.signal.reason);
    outer?.signal.addEventListener('abort', forward, { once: true });
    const ctx: CommandContext = {
      io: this.io,
      session: this.session,
      signal: controller.signal,
      source: (file) => this.runFile(file),
      quit: () => {
        this.done = true;
      },
    };
    try {
      return await command.run(ctx, args);
    } catch (err) {
      if (controller.signal.aborted) {
        this.io.error(`${where}${command.name}: interrupted`);
      } else if (err instanceof ShellUsageError) {
        this.io.error(`${where}${err.message}. ${shellUsage(command)}`);
      } else {
        this.io.error(
          `${where}${err instanceof FlumeError ? err.message : `${command.name} failed: ${String((err as Error)?.message ?? err)}`}`,
        );
      }
      return 1;
    } finally {
      outer?.signal.removeEventListener('abort', forward);
      this.running = outer;
    }
  }

  /**
   * Runs lines in order until one fails or `quit`; returns the first failing status, else 0.
   * On a failure it says which line stopped the run.
   */
  async runLines(lines: AsyncIterable<string> | Iterable<string>, file: string): Promise<number> {
    let number = 0;
    let first = 1;
    const continued = new ContinuedLines();
    const run = async (command: string): Promise<number> => {
      const status = await this.executeLine(command, { file, line: first });
      if (status !== 0) {
        const shown = command.trim().split('\n')[0].trimEnd() + (command.trim().includes('\n') ? ' ...' : '');
        this.io.error(`${file}:${first}: stopped at the first failure (${shown})`);
      }
      return status;
    };
    for await (const line of lines) {
      number++;
      if (!continued.pending) first = number;
      const command = continued.push(line);
      if (command === undefined) continue;
      const status = await run(command);
      if (status !== 0) return status;
      if (this.done) return 0;
    }
    const rest = continued.flush();
    return rest === undefined ? 0 : run(rest);
  }

  /** Runs a script file (`source FILE`, `-s FILE`). */
  async runFile(file: string): Promise<number> {
    if (this.sourceDepth >= MAX_SOURCE_DEPTH) {
      this.io.error(`source ${file}: nested more than ${MAX_SOURCE_DEPTH} deep (does a file source itself?)`);
      return 1;
    }
    let stream: fs.ReadStream;
    try {
      await fs.promises.access(file, fs.constants.R_OK);
      stream = fs.createReadStream(file, { encoding: 'utf8' });
    } catch (err) {
      this.io.error(`cannot read script ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return 1;
    }
    this.sourceDepth++;
    const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
    try {
      return await this.runLines(lines, file);
    } finally {
      this.sourceDepth--;
      lines.close();
      stream.destroy();
    }
  }

  private reportSyntaxError(line: string, err: ShellSyntaxError, origin?: LineOrigin): void {
    const at = lineAndColumn(line, err.column);
    if (origin) {
      this.io.error(`${origin.file}:${origin.line + at.lineOffset}:${at.column}: ${err.reason}`);
      return;
    }
    const physical = line.split('\n')[at.lineOffset];
    const where = at.lineOffset > 0 ? `line ${at.lineOffset + 1}, column ${at.column}` : `column ${at.column}`;
    this.io.error(`syntax error at ${where}: ${err.reason}`);
    this.io.error(`  ${physical}`);
    this.io.error(`  ${physical.slice(0, at.column - 1).replace(/[^\t]/g, ' ')}^`);
  }
}
