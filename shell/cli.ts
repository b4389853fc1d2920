/**
 * flume-shell: the composition root of the admin shell.
 *
 *   flume-shell [-c HOST:PORT] [-e "COMMAND"] [-s FILE] [-q]
 *
 * -e runs one command and exits with its status; -s runs a script and stops at its first
 * failure; with neither, commands come from the terminal (REPL) or, when stdin is not a
 * terminal, from stdin as a script. Exit status: 0 success, 1 a command failed or the master
 * could not be reached, 2 bad command line.
 */
import * as readline from 'node:readline';
import { Command, InvalidArgumentError } from 'commander';
import { VERSION } from '../core/version';
import { ShellIO } from './commands';
import { History, defaultHistoryFile } from './history';
import { runRepl } from './repl';
import { SESSION_DEFAULTS, Session } from './session';
import { Shell } from './shell';
import { quoteLine } from './tokenizer';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { certsFromDir, INSECURE_WARNING, personCredentials } from '../core/tls';

interface CliOptions {
  ca?: string;
  cert?: string;
  key?: string;
  tokenFile?: string;
  tlsDir?: string;
  insecure?: boolean;
  connect?: string;
  execute?: string;
  script?: string;
  quiet?: boolean;
  timeout: number;
  history: boolean;
}

function parseMillis(text: string): number {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError('expected a whole number of milliseconds');
  return Number(text);
}

function consoleIO(quiet: boolean): ShellIO {
  return {
    out: (line) => process.stdout.write(line + '\n'),
    info: quiet ? () => {} : (line) => process.stdout.write(line + '\n'),
    error: (line) => process.stderr.write(line + '\n'),
  };
}

/**
 * TLS to the masters (on unless --insecure or FLUME_TLS_MODE=insecure): the cluster CA and an
 * admin or read-only certificate, or the admin token. Flags win over FLUME_TLS_CA,
 * FLUME_TLS_CERT, FLUME_TLS_KEY and FLUME_ADMIN_TOKEN_FILE, and those over a flume-certs
 * directory (--tls-dir, FLUME_TLS_DIR) holding one admin or read-only certificate.
 */
function shellCredentials(o: CliOptions, io: ShellIO): ChannelCredentials | undefined {
  const env = process.env;
  if (o.insecure || env.FLUME_TLS_MODE === 'insecure') {
    io.error(`warning: ${INSECURE_WARNING}`);
    return undefined;
  }
  const tokenFile = o.tokenFile ?? env.FLUME_ADMIN_TOKEN_FILE;
  let ca = o.ca ?? env.FLUME_TLS_CA;
  let cert = o.cert ?? (tokenFile === undefined ? env.FLUME_TLS_CERT : undefined);
  let key = o.key ?? (tokenFile === undefined ? env.FLUME_TLS_KEY : undefined);
  const dir = o.tlsDir ?? env.FLUME_TLS_DIR;
  if (dir !== undefined && (ca === undefined || (cert === undefined && tokenFile === undefined))) {
    const files = certsFromDir(dir, ['admin', 'read-only']);
    ca ??= files.ca;
    if (tokenFile === undefined) [cert, key] = [cert ?? files.cert, key ?? files.key];
  }
  if (ca === undefined || (cert === undefined && tokenFile === undefined)) {
    throw new Error(
      'TLS is on: give --ca with --cert and --key (an admin or read-only certificate) or with --token-file ' +
        '(or FLUME_TLS_CA, FLUME_TLS_CERT, FLUME_TLS_KEY, FLUME_ADMIN_TOKEN_FILE), or --tls-dir (FLUME_TLS_DIR) a flume-certs directory; --insecure for a master without TLS',
    );
  }
  return personCredentials({ ca, cert, key, tokenFile });
}

async function main(options: CliOptions): Promise<number> {
  if (options.execute !== undefined && options.script !== undefined) {
    process.stderr.write('flume-shell: give -e or -s, not both\n');
    return 2;
  }
  const quiet = options.quiet ?? false;
  const io = consoleIO(quiet);
  let credentials: ChannelCredentials | undefined;
  try {
    credentials = shellCredentials(options, io);
  } catch (err) {
    process.stderr.write(`flume-shell: ${(err as Error).message}\n`);
    return 2;
  }
  const session = new Session({ ...SESSION_DEFAULTS, execTimeoutMs: options.timeout }, credentials);
  const shell = new Shell(io, session);
  const interactive = options.execute === undefined && options.script === undefined && process.stdin.isTTY === true;
  try {
    if (options.connect !== undefined) {
      const status = await shell.executeLine(quoteLine(['connect', options.connect]));
      if (status !== 0 && !interactive) return status;
    }
    if (options.execute !== undefined) return await shell.executeLine(options.execute);
    if (options.script !== undefined) return await shell.runFile(options.script);
    if (!interactive) {
      const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
      return await shell.runLines(lines, '<stdin>');
    }
    const history = options.history ? new History(defaultHistoryFile(), io.error) : undefined;
    await runRepl(shell, { input: process.stdin, output: process.stdout, history, quiet });
    return 0;
  } finally {
    session.disconnect();
  }
}

// A reader that went away (`flume-shell -e getconfigs | head -1`) ends the shell quietly,
// as it ends any Unix filter.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => process.exit(err.code === 'EPIPE' ? 0 : 1));
}

const program = new Command('flume-shell')
  .description('The cluster admin shell (Flume OG command set). Type help inside for the commands.')
  .version(VERSION)
  .option('-c, --connect <host:port>', 'master to connect to at start (default port 35873; a,b: the first that answers)')
  .option('-e, --execute <command>', 'run one command and exit with its status')
  .option('-s, --script <file>', 'run a script, stopping at the first failure')
  .option('-q, --quiet', 'print only command output (no banner, prompt or progress lines)')
  .option('--timeout <ms>', 'how long exec waits for its command', parseMillis, SESSION_DEFAULTS.execTimeoutMs)
  .option('--ca <file>', 'the cluster CA certificate (default $FLUME_TLS_CA)')
  .option('--cert <file>', 'your admin or read-only certificate (default $FLUME_TLS_CERT)')
  .option('--key <file>', 'its private key (default $FLUME_TLS_KEY)')
  .option('--token-file <file>', 'the admin bearer token instead of a certificate (default $FLUME_ADMIN_TOKEN_FILE)')
  .option('--tls-dir <dir>', 'a flume-certs directory with the CA and one admin or read-only certificate (default $FLUME_TLS_DIR)')
  .option('--insecure', 'talk plaintext to a master run with tls.mode = insecure')
  .option('--no-history', 'do not read or write the history file ($FLUME_SHELL_HISTORY or ~/.flume_shell_history)')
  .showHelpAfterError()
  .action(async (options: CliOptions) => {
    const status = await main(options);
    process.exitCode = status;
    // Everything is closed; exit even if a grpc-js timer lingers, after stdout drains.
    process.stdout.write('', () => process.stderr.write('', () => process.exit(status)));
  });

program.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`flume-shell: ${err.message}\n`);
  process.exit(1);
});
