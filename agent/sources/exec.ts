/**
 * Commands as sources, run with `/bin/sh -c`:
 *
 * - `exec(cmd)` (Flume OG also: `execStream`): every line the command writes to stdout is an
 *   event; done once the command has exited and its output is put. A non-zero exit is logged
 *   and counted as an error; stderr lines are logged (the first few, then counted).
 * - `execPeriodic(cmd, ms)`: runs the command every `ms` (never two at once); as in Flume OG,
 *   the whole stdout of one run is one event (trailing newline trimmed), with the attribute
 *   `exitcode`. Output over `maxEventBytes` is rejected and counted.
 *
 * `close()` stops a running command (SIGTERM to its pid) and puts what was already read.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import { Priority } from '../../core/event';
import { BYTES_RECEIVED, ERRORS, EVENTS_RECEIVED } from '../../core/metrics';
import type { SourceDef } from '../../core/registry';
import { EventBatcher } from './batcher';
import { MAX_EVENT_ARG, notEmpty, positiveInteger, Rejects, SOURCE_DEFAULTS } from './common';
import { pumpLines } from './lines';

const STDERR_LINES_LOGGED = 20;

function run(cmd: string): ChildProcess {
  // Its own process group, so that stopping it also stops what the shell started.
  return spawn('/bin/sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
}

function stop(child: ChildProcess | null): void {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // Already gone.
  }
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

function logStderr(ctx: ComponentContext, child: ChildProcess, cmd: string): void {
  let logged = 0;
  let carry = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    const parts = (carry + text).split('\n');
    carry = parts.pop() ?? '';
    for (const line of parts) {
      if (logged++ < STDERR_LINES_LOGGED) ctx.logger.warn('Command wrote to stderr.', { cmd, line });
    }
  });
}

export class ExecSource implements Source {
  private child: ChildProcess | null = null;
  private batcher: EventBatcher | null = null;
  private closing = false;
  private finish: () => void = () => undefined;
  readonly done: Promise<void>;

  constructor(
    private readonly ctx: ComponentContext,
    private readonly cmd: string,
    private readonly maxEventBytes: number = SOURCE_DEFAULTS.maxEventBytes,
  ) {
    this.done = new Promise<void>((resolve) => (this.finish = resolve));
  }

  async open(out: SourceOutput): Promise<void> {
    const batcher = new EventBatcher(out, this.ctx, { maxEvents: SOURCE_DEFAULTS.batchEvents, lingerMs: SOURCE_DEFAULTS.lingerMs });
    this.batcher = batcher;
    const child = run(this.cmd);
    this.child = child;
    logStderr(this.ctx, child, this.cmd);
    const exited = exitOf(child);
    const pumped = pumpLines(child.stdout!, batcher, this.ctx, new Rejects(this.ctx), { maxEventBytes: this.maxEventBytes, what: this.cmd });
    Promise.all([exited, pumped])
      .then(async ([{ code, signal }, lines]) => {
        await batcher.flush();
        if (code !== 0 && !this.closing) {
          this.ctx.counters.add(ERRORS, 1);
          this.ctx.logger.warn('Command failed.', { cmd: this.cmd, code, signal, lines });
        } else {
          this.ctx.logger.info('Command finished.', { cmd: this.cmd, lines });
        }
      })
      .catch((err: unknown) => {
        this.ctx.counters.add(ERRORS, 1);
        this.ctx.logger.error('Running the command failed.', { cmd: this.cmd, error: String(err) });
      })
      .finally(() => {
        this.child = null;
        this.finish();
      });
  }

  async close(): Promise<void> {
    this.closing = true;
    stop(this.child);
    await this.done;
    await this.batcher?.drain();
  }
}

export class ExecPeriodicSource implements Source {
  private child: ChildProcess | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  private running: Promise<void> = Promise.resolve();
  private batcher: EventBatcher | null = null;
  private readonly rejects: Rejects;
  private readonly attrs = new Map<string, Uint8Array>();

  constructor(
    private readonly ctx: ComponentContext,
    private readonly cmd: string,
    private readonly periodMs: number,
    private readonly maxEventBytes: number = SOURCE_DEFAULTS.maxEventBytes,
  ) {
    this.rejects = new Rejects(ctx);
  }

  async open(out: SourceOutput): Promise<void> {
    this.batcher = new EventBatcher(out, this.ctx, { maxEvents: 1, lingerMs: 0 });
    this.tick();
  }

  private tick(): void {
    if (this.closing) return;
    const started = Date.now();
    this.running = this.runOnce().finally(() => {
      if (this.closing) return;
      this.timer = setTimeout(() => this.tick(), Math.max(0, this.periodMs - (Date.now() - started)));
    });
  }

  private async runOnce(): Promise<void> {
    const child = run(this.cmd);
    this.child = child;
    logStderr(this.ctx, child, this.cmd);
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    child.stdout!.on('data', (c: Buffer) => {
      size += c.length;
      if (size > this.maxEventBytes) over = true;
      else chunks.push(c);
    });
    try {
      const { code, signal } = await exitOf(child);
      this.child = null;
      if (this.closing && signal !== null) return;
      this.ctx.counters.add(BYTES_RECEIVED, size);
      this.ctx.counters.add(EVENTS_RECEIVED, 1);
      if (code !== 0) {
        this.ctx.counters.add(ERRORS, 1);
        this.ctx.logger.warn('Command failed.', { cmd: this.cmd, code, signal });
      }
      if (over) {
        this.rejects.reject(`command output over the ${this.maxEventBytes}-byte limit`, size, { cmd: this.cmd });
        return;
      }
      let body = Buffer.concat(chunks, size);
      let end = body.length;
      while (end > 0 && (body[end - 1] === 0x0a || body[end - 1] === 0x0d)) end--;
      body = body.subarray(0, end);
      this.attrs.set('exitcode', Buffer.from(String(code ?? -1)));
      const batcher = this.batcher!;
      batcher.builder.append(body, Date.now(), code === 0 ? Priority.INFO : Priority.ERROR, this.ctx.host, this.attrs);
      await batcher.flush();
    } catch (err) {
      this.ctx.counters.add(ERRORS, 1);
      this.ctx.logger.error('Running the command failed.', { cmd: this.cmd, error: String(err) });
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    stop(this.child);
    await this.running;
    await this.batcher?.drain();
  }
}

const CMD_ARG = { name: 'cmd', type: 'string', required: true, check: notEmpty, doc: 'shell command line (run with /bin/sh -c)' } as const;

export const def: SourceDef = {
  kind: 'source',
  name: 'exec',
  aliases: ['execStream'],
  doc: 'Runs a command once; every stdout line is an event; done when it exits.',
  args: [CMD_ARG, MAX_EVENT_ARG],
  create: (args, ctx) => new ExecSource(ctx, args.string('cmd'), args.number('maxEventBytes')),
};

export const periodicDef: SourceDef = {
  kind: 'source',
  name: 'execPeriodic',
  doc: 'Runs a command every ms milliseconds; the whole output of a run is one event (attribute exitcode).',
  args: [CMD_ARG, { name: 'ms', type: 'number', required: true, check: positiveInteger, doc: 'period in milliseconds' }, MAX_EVENT_ARG],
  create: (args, ctx) => new ExecPeriodicSource(ctx, args.string('cmd'), args.number('ms'), args.number('maxEventBytes')),
};
