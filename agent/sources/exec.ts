/**
 * Commands as sources, run with `/bin/sh -c` in a process group of their own. Flume OG's forms:
 *
 * - `exec(cmd[, aggregate=false[, restart=false[, period=0]]])`: runs the command; with
 *   `aggregate` false every stdout line is an event, with true the whole stdout of a run is one
 *   event (trailing newline trimmed, attribute `exitcode`). With `restart` the command runs again
 *   `period` ms after the previous run started (never two at once); without, the source is done
 *   (finite) once the command has exited and its output is put.
 * - `execStream(cmd)` = `exec(cmd, false, false)`;
 * - `execPeriodic(cmd, ms)` = `exec(cmd, true, true, ms)`.
 *
 * A non-zero exit is logged and counted as an error; the first stderr lines of a run are
 * logged. An aggregated output over `maxEventBytes` is rejected and counted. `close()` stops a
 * running command (SIGTERM to its process group) and puts what was already read.
 *
 * A node runs these only if its own site config allows the command (`node.allow_exec`, see
 * core/host-access.ts): each def declares its command as `hostAccess`, which the node's registry checks.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import { Priority } from '../../core/event';
import { BYTES_RECEIVED, ERRORS, EVENTS_RECEIVED } from '../../core/metrics';
import type { HostAccess } from '../../core/host-access';
import type { ArgSchema, ResolvedArgs, SourceDef } from '../../core/registry';
import { EventBatcher } from './batcher';
import { MAX_EVENT_ARG, nonNegativeInteger, notEmpty, positiveInteger, Pause, Rejects, SOURCE_DEFAULTS } from './common';
import { pumpLines } from './lines';

const STDERR_LINES_LOGGED = 20;

export interface ExecOptions {
  cmd: string;
  /** The whole output of a run is one event, instead of one event per line. */
  aggregate: boolean;
  /** Run the command again, `periodMs` after the previous run started. */
  restart: boolean;
  periodMs: number;
  maxEventBytes: number;
}

const EXEC_DEFAULTS: Omit<ExecOptions, 'cmd'> = {
  aggregate: false,
  restart: false,
  periodMs: 0,
  maxEventBytes: SOURCE_DEFAULTS.maxEventBytes,
};

export class ExecSource implements Source {
  private readonly opts: ExecOptions;
  private child: ChildProcess | null = null;
  private batcher: EventBatcher | null = null;
  private readonly rejects: Rejects;
  private readonly attrs = new Map<string, Uint8Array>();
  private closing = false;
  private readonly pause = new Pause();
  private running: Promise<void> = Promise.resolve();
  private finish: () => void = () => undefined;
  readonly done: Promise<void>;

  constructor(
    private readonly ctx: ComponentContext,
    options: Partial<ExecOptions> & { cmd: string },
  ) {
    this.opts = { ...EXEC_DEFAULTS, ...options };
    this.rejects = new Rejects(ctx);
    this.done = new Promise<void>((resolve) => (this.finish = resolve));
  }

  async open(out: SourceOutput): Promise<void> {
    this.batcher = new EventBatcher(out, this.ctx, {
      maxEvents: this.opts.aggregate ? 1 : SOURCE_DEFAULTS.batchEvents,
      lingerMs: this.opts.aggregate ? 0 : SOURCE_DEFAULTS.lingerMs,
    });
    this.running = this.loop().finally(() => this.finish());
  }

  private async loop(): Promise<void> {
    do {
      const started = Date.now();
      try {
        await (this.opts.aggregate ? this.runAggregated() : this.runLines());
      } catch (err) {
        this.ctx.counters.add(ERRORS, 1);
        this.ctx.logger.error('Running the command failed.', { cmd: this.opts.cmd, error: String(err) });
      }
      this.child = null;
      if (!this.opts.restart || this.closing) break;
      await this.idle(Math.max(0, this.opts.periodMs - (Date.now() - started)));
    } while (!this.closing);
    await this.batcher!.drain();
  }

  private start(): ChildProcess {
    const child = spawn('/bin/sh', ['-c', this.opts.cmd], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    let logged = 0;
    let carry = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      const parts = (carry + text).split('\n');
      carry = parts.pop() ?? '';
      for (const line of parts) {
        if (logged++ < STDERR_LINES_LOGGED) this.ctx.logger.warn('Command wrote to stderr.', { cmd: this.opts.cmd, line });
      }
    });
    return child;
  }

  private exited(code: number | null, signal: NodeJS.Signals | null, lines: number): void {
    if (code === 0) {
      this.ctx.logger.debug('Command finished.', { cmd: this.opts.cmd, lines });
    } else if (!this.closing) {
      this.ctx.counters.add(ERRORS, 1);
      this.ctx.logger.warn('Command failed.', { cmd: this.opts.cmd, code, signal, lines });
    }
  }

  private async runLines(): Promise<void> {
    const child = this.start();
    const batcher = this.batcher!;
    const [{ code, signal }, lines] = await Promise.all([
      exitOf(child),
      pumpLines(child.stdout!, batcher, this.ctx, this.rejects, { maxEventBytes: this.opts.maxEventBytes, what: this.opts.cmd }),
    ]);
    await batcher.flush().catch(() => undefined);
    this.exited(code, signal, lines);
  }

  private async runAggregated(): Promise<void> {
    const child = this.start();
    const chunks: Buffer[] = [];
    let size = 0;
    child.stdout!.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= this.opts.maxEventBytes) chunks.push(c);
    });
    const { code, signal } = await exitOf(child);
    if (this.closing && signal !== null) return;
    this.ctx.counters.add(BYTES_RECEIVED, size);
    this.ctx.counters.add(EVENTS_RECEIVED, 1);
    this.exited(code, signal, 1);
    if (size > this.opts.maxEventBytes) {
      this.rejects.reject(`command output over the ${this.opts.maxEventBytes}-byte limit`, size, { cmd: this.opts.cmd });
      return;
    }
    const body = Buffer.concat(chunks, size);
    let end = body.length;
    while (end > 0 && (body[end - 1] === 0x0a || body[end - 1] === 0x0d)) end--;
    this.attrs.set('exitcode', Buffer.from(String(code ?? -1)));
    const batcher = this.batcher!;
    batcher.builder.append(body.subarray(0, end), Date.now(), code === 0 ? Priority.INFO : Priority.ERROR, this.ctx.host, this.attrs);
    await batcher.flush().catch(() => undefined);
  }

  private idle(ms: number): Promise<void> {
    return this.pause.sleep(ms);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.pause.wake();
    const child = this.child;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    await this.running;
  }
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

/** The program every exec form runs, for the node's policy. */
const runs = (args: ResolvedArgs): HostAccess[] => [{ kind: 'exec', command: args.string('cmd') }];

const CMD_ARG: ArgSchema = {
  name: 'cmd',
  type: 'string',
  required: true,
  check: notEmpty,
  doc: 'shell command line (run with /bin/sh -c), run only by a node whose site config allows it (node.allow_exec)',
};

export const def: SourceDef = {
  kind: 'source',
  name: 'exec',
  doc: 'Runs a command: each stdout line an event (or the whole output, with aggregate); again every period ms with restart.',
  args: [
    CMD_ARG,
    { name: 'aggregate', type: 'boolean', default: false, doc: 'the whole output of a run is one event' },
    { name: 'restart', type: 'boolean', default: false, doc: 'run the command again after it exits' },
    { name: 'period', type: 'number', default: 0, check: nonNegativeInteger, doc: 'ms between the starts of two runs (restart)' },
    MAX_EVENT_ARG,
  ],
  hostAccess: runs,
  create: (args, ctx) =>
    new ExecSource(ctx, {
      cmd: args.string('cmd'),
      aggregate: args.boolean('aggregate'),
      restart: args.boolean('restart'),
      periodMs: args.number('period'),
      maxEventBytes: args.number('maxEventBytes'),
    }),
};

export const streamDef: SourceDef = {
  kind: 'source',
  name: 'execStream',
  doc: 'Runs a command once; every stdout line is an event; done when it exits.',
  args: [CMD_ARG, MAX_EVENT_ARG],
  hostAccess: runs,
  create: (args, ctx) => new ExecSource(ctx, { cmd: args.string('cmd'), maxEventBytes: args.number('maxEventBytes') }),
};

export const periodicDef: SourceDef = {
  kind: 'source',
  name: 'execPeriodic',
  doc: 'Runs a command every ms milliseconds; the whole output of a run is one event (attribute exitcode).',
  args: [CMD_ARG, { name: 'ms', type: 'number', required: true, check: positiveInteger, doc: 'period in milliseconds' }, MAX_EVENT_ARG],
  hostAccess: runs,
  create: (args, ctx) =>
    new ExecSource(ctx, {
      cmd: args.string('cmd'),
      aggregate: true,
      restart: true,
      periodMs: args.number('ms'),
      maxEventBytes: args.number('maxEventBytes'),
    }),
};
