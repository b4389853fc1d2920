/**
 * The interactive loop on a terminal: node's readline with the shell's prompt, TAB
 * completion (completion.ts) and persistent history (history.ts).
 *
 * Ctrl-C interrupts the running command, or clears the line being typed; Ctrl-D on an empty
 * line, `quit` and `exit` leave. Lines typed while a command runs wait their turn.
 */
import * as readline from 'node:readline';
import { sleep } from '../core/retry';
import { VERSION } from '../core/version';
import { complete } from './completion';
import { HISTORY_SIZE, History } from './history';
import { Shell } from './shell';
import { ContinuedLines } from './tokenizer';

/** The prompt of the next line of a command continued with a trailing backslash. */
const CONTINUATION_PROMPT = '... ';

/** How long the first prompt waits for node names (a slow master must not hold the prompt). */
const FIRST_NAMES_WAIT_MS = 2_000;

export interface ReplOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  history: History | undefined;
  /** Quiet: no banner and no prompt, as Flume OG's -q. */
  quiet: boolean;
}

/** Runs until quit or end of input; returns the status of the last command run. */
export async function runRepl(shell: Shell, options: ReplOptions): Promise<number> {
  const rl = readline.createInterface({
    input: options.input,
    output: options.output,
    terminal: true,
    history: options.history?.load() ?? [],
    historySize: options.history?.size ?? HISTORY_SIZE, // without a file, history lasts the session
    removeHistoryDuplicates: true,
    completer: (line: string) => complete(line, () => shell.session.cachedNodeNames()),
  });
  // Taken now: lines typed ahead (before the loop below starts) are buffered, not lost.
  const lines = rl[Symbol.asyncIterator]();
  const continued = new ContinuedLines();
  const prompt = (): void => {
    rl.setPrompt(options.quiet ? '' : continued.pending ? CONTINUATION_PROMPT : shell.prompt());
    rl.prompt();
  };
  rl.on('SIGINT', () => {
    if (shell.interrupt()) return;
    continued.flush(); // drop a half-typed continued command
    // Clear what was typed and start a fresh prompt, as bash does.
    rl.write(null, { ctrl: true, name: 'e' });
    rl.write(null, { ctrl: true, name: 'u' });
    options.output.write('^C\n');
    prompt();
  });

  if (!options.quiet) {
    shell.io.info(`flume-shell ${VERSION}: type 'help' for the commands, TAB to complete, 'quit' to leave.`);
    if (!shell.session.connected) shell.io.info('Not connected: connect HOST[:PORT] (default port 35873).');
  }
  // Node names for the first TAB; later refreshes run in the background after each command.
  await Promise.race([shell.session.refreshNodeNames(), sleep(FIRST_NAMES_WAIT_MS)]);
  let status = 0;
  prompt();
  try {
    for (let next = await lines.next(); !next.done; next = await lines.next()) {
      options.history?.add(next.value);
      const line = continued.push(next.value);
      if (line === undefined) {
        prompt();
        continue;
      }
      status = await shell.executeLine(line);
      if (shell.done) break;
      void shell.session.refreshNodeNames();
      prompt();
    }
  } finally {
    rl.close();
  }
  if (!shell.done) options.output.write('\n'); // Ctrl-D leaves the cursor after the prompt
  return status;
}
