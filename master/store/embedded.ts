/**
 * The embedded config store: one master, its state and command history in one JSON file,
 * `<dir>/master-state.json`, rewritten atomically (write a temp file, fsync it, rename it over
 * the old one, fsync the directory) after every change. A crash leaves either the old file or
 * the new one, never a torn one. Changes are serialized in this process, so compare-and-set
 * never conflicts.
 *
 * The write and its fsyncs run on a thread (DurableFileWriter), but a change is answered, and a
 * new state published to nodes, only once its file is durable: the control streams of the
 * fleet keep being served while the disk syncs.
 *
 * EXECING is kept in memory only: a command is re-run after a crash whether the file says
 * QUEUED or EXECING (its effect and its SUCCEEDED state are written in one file write, so none
 * was half applied), so writing that step would buy nothing.
 * A command's `clientId` is part of its record in the file, so the clientId -> command map
 * (rebuilt from the records at start) is as durable as the command itself.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FlumeError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { DurableFileWriter } from './durable-file';
import {
  COMMAND_HISTORY,
  StoreUnavailableError,
  cloneState,
  emptyState,
  normalizeState,
  type CommandRecord,
  type ConfigStore,
  type MasterState,
  type StateView,
  type SubmitResult,
} from './types';

interface FileContents {
  format: 1;
  state: MasterState;
  commands: CommandRecord[];
  nextCommandId: number;
}

export const STATE_FILE = 'master-state.json';

export class EmbeddedStore extends EventEmitter implements ConfigStore {
  readonly kind = 'embedded';
  readonly isLeader = true;
  private started = false;
  private state: MasterState = emptyState();
  private revision = 0;
  private snapshot: StateView = { revision: 0, state: this.state };
  private commands: CommandRecord[] = [];
  private nextCommandId = 1;
  /** clientId -> command id, of the commands in `commands`. */
  private readonly byClientId = new Map<string, number>();
  /** Serializes changes and their file writes. */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly file: string;
  private readonly writer = new DurableFileWriter();

  constructor(
    readonly dir: string,
    private readonly logger: Logger,
  ) {
    super();
    this.file = path.join(dir, STATE_FILE);
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    let text: string | undefined;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      let contents: FileContents;
      try {
        contents = JSON.parse(text) as FileContents;
      } catch (err) {
        // Writes go through rename, so this is damage from outside (an edit, a bad disk).
        throw new FlumeError(
          `the embedded store ${this.file} is not valid JSON (${(err as Error).message}); restore it from a backup or a 'save'd spec`,
        );
      }
      this.state = normalizeState(contents.state ?? {});
      this.commands = contents.commands ?? [];
      this.nextCommandId = contents.nextCommandId ?? this.commands.length + 1;
      for (const c of this.commands) if (c.clientId !== undefined) this.byClientId.set(c.clientId, c.id);
      this.logger.info('Loaded the embedded store.', {
        file: this.file,
        configs: Object.keys(this.state.configs).length,
        commands: this.commands.length,
      });
    } else {
      this.logger.info('Started an empty embedded store.', { file: this.file });
    }
    this.started = true;
    this.publish();
  }

  /** False until start() has read the file. */
  get fresh(): boolean {
    return this.started;
  }

  async stop(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.writer.close();
  }

  view(): StateView {
    if (!this.started) throw new StoreUnavailableError('the embedded store is not loaded yet');
    return this.snapshot;
  }

  update<T>(mutate: (draft: MasterState) => T): Promise<T> {
    return this.serial(async () => {
      const draft = cloneState(this.state);
      const result = mutate(draft);
      await this.persist(draft, this.commands);
      this.state = draft;
      this.publish();
      return result;
    });
  }

  submit(command: string, args: string[], clientId?: string): Promise<SubmitResult> {
    return this.serial(async () => {
      const seen = clientId === undefined ? undefined : this.byClientId.get(clientId);
      const first = seen === undefined ? undefined : this.findCommand(seen);
      if (first) return { record: { ...first }, repeated: true };
      const record: CommandRecord = {
        id: this.nextCommandId++,
        command,
        args,
        state: 'QUEUED',
        message: '',
        submittedAt: Date.now(),
        finishedAt: 0,
      };
      if (clientId !== undefined) record.clientId = clientId;
      const { kept, dropped } = trimmedHistory([...this.commands, record]);
      await this.persist(this.state, kept);
      this.commands = kept;
      for (const c of dropped) if (c.clientId !== undefined) this.byClientId.delete(c.clientId);
      if (clientId !== undefined) this.byClientId.set(clientId, record.id);
      this.emit('commands');
      return { record: { ...record }, repeated: false };
    });
  }

  async command(id: number): Promise<CommandRecord | undefined> {
    const found = this.findCommand(id);
    return found && { ...found };
  }

  async recentCommands(limit: number): Promise<CommandRecord[]> {
    return this.commands.slice(-limit).map((c) => ({ ...c }));
  }

  async pendingCommands(): Promise<CommandRecord[]> {
    return this.commands.filter((c) => c.state === 'QUEUED' || c.state === 'EXECING').map((c) => ({ ...c }));
  }

  /** In memory only (see the header): the next write of the file carries it, and nothing needs it durable. */
  markExecuting(id: number): Promise<void> {
    return this.serial(() => {
      const record = this.findCommand(id);
      if (!record || record.state !== 'QUEUED') return;
      record.state = 'EXECING';
      this.emit('commands');
    });
  }

  finish(id: number, execute: (draft: MasterState) => string): Promise<CommandRecord> {
    return this.serial(async () => {
      const record = this.findCommand(id);
      if (!record) throw new Error(`command ${id} is unknown`);
      const draft = cloneState(this.state);
      const done = { ...record };
      let next = this.state;
      try {
        done.message = execute(draft);
        done.state = 'SUCCEEDED';
        if (JSON.stringify(draft) !== JSON.stringify(this.state)) next = draft;
      } catch (err) {
        done.state = 'FAILED';
        done.message = (err as Error).message;
      }
      done.finishedAt = Date.now();
      // The history with this command finished, written with its effect before either is seen.
      const commands = this.commands.map((c) => (c === record ? done : c));
      await this.persist(next, commands);
      Object.assign(record, done);
      if (next !== this.state) {
        this.state = next;
        this.publish();
      }
      this.emit('commands');
      return { ...record };
    });
  }

  private findCommand(id: number): CommandRecord | undefined {
    // Ids are dense and ordered: look where it should be before searching.
    const guess = this.commands[id - this.commands[0]?.id];
    return guess?.id === id ? guess : this.commands.find((c) => c.id === id);
  }

  private publish(): void {
    this.revision++;
    this.snapshot = { revision: this.revision, state: this.state };
    this.emit('change', this.snapshot);
  }

  /** Writes `state` and `commands` to the file atomically and durably (see the header), off the event loop. */
  private persist(state: MasterState, commands: CommandRecord[]): Promise<void> {
    const contents: FileContents = { format: 1, state, commands, nextCommandId: this.nextCommandId };
    return this.writer.write(this.file, this.dir, JSON.stringify(contents));
  }

  private serial<T>(fn: () => T | Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

/** `commands` without its oldest finished ones beyond COMMAND_HISTORY (never one still to run), and those dropped. */
function trimmedHistory(commands: CommandRecord[]): { kept: CommandRecord[]; dropped: CommandRecord[] } {
  let excess = commands.length - COMMAND_HISTORY;
  if (excess <= 0) return { kept: commands, dropped: [] };
  const kept: CommandRecord[] = [];
  const dropped: CommandRecord[] = [];
  for (const c of commands) {
    if (excess > 0 && (c.state === 'SUCCEEDED' || c.state === 'FAILED')) {
      excess--;
      dropped.push(c);
    } else kept.push(c);
  }
  return { kept, dropped };
}
