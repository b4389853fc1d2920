/**
 * The embedded config store: one master, its state and command history in two files in its data
 * dir, a snapshot and a journal of the changes since (journal.ts says their format and how a
 * master recovers from them). A change costs a record of what it changed, not a rewrite of the
 * state: a command's effect runs on a copy-on-write draft (state-change.ts), its record is
 * appended to the journal, and the snapshot is rewritten only once the journal outgrows it. A
 * crash leaves every answered change on disk, and no change half applied. Changes are
 * serialized in this process, so compare-and-set never conflicts.
 *
 * The writes and their fsyncs run on a thread (DurableFileWriter), but a change is answered, and
 * a new state published to nodes, only once its record is durable: the control streams of the
 * fleet keep being served while the disk syncs. A published state is never changed: the next
 * one shares the records a change leaves alone and copies the ones it changes (a shallow copy,
 * the one part of a change's cost that still grows with the number of configs).
 *
 * EXECING is kept in memory only: a command is re-run after a crash whether the files say
 * QUEUED or EXECING (its effect and its SUCCEEDED state are one record, so none was half
 * applied), so writing that step would buy nothing.
 * A command's `clientId` is part of its record, so the clientId -> command map (rebuilt from the
 * records at start) is as durable as the command itself.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FlumeError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { DurableFileWriter } from './durable-file';
import {
  JOURNAL_FILE,
  JOURNAL_MIN_BYTES,
  STATE_FILE,
  journalLine,
  readJournal,
  type JournalEntry,
  type JournalRecord,
  type SnapshotFile,
} from './journal';
import { StateDraft, applyChange, freezeState, touchedBy, type StateChange } from './state-change';
import {
  COMMAND_HISTORY,
  StoreUnavailableError,
  emptyState,
  normalizeState,
  type CommandRecord,
  type ConfigStore,
  type MasterState,
  type StateView,
  type SubmitResult,
  type Touched,
} from './types';

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
  private readonly journal: string;
  private readonly writer = new DurableFileWriter();
  /** The seq of the last change on disk (journal record or snapshot). */
  private seq = 0;
  private journalBytes = 0;
  private snapshotBytes = 0;
  /** An append failed (its bytes may be on disk, torn): the next change is written as a snapshot. */
  private journalSuspect = false;

  constructor(
    readonly dir: string,
    private readonly logger: Logger,
  ) {
    super();
    this.file = path.join(dir, STATE_FILE);
    this.journal = path.join(dir, JOURNAL_FILE);
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    const text = readIfThere(this.file)?.toString('utf8');
    if (text !== undefined) {
      let contents: SnapshotFile;
      try {
        contents = JSON.parse(text) as SnapshotFile;
      } catch (err) {
        // Writes go through rename, so this is damage from outside (an edit, a bad disk).
        throw new FlumeError(
          `the embedded store ${this.file} is not valid JSON (${(err as Error).message}); restore it from a backup or a 'save'd spec`,
        );
      }
      this.state = normalizeState(contents.state ?? {});
      this.commands = contents.commands ?? [];
      this.nextCommandId = contents.nextCommandId ?? this.commands.length + 1;
      this.seq = contents.seq ?? 0;
      this.snapshotBytes = text.length;
    }
    freezeState(this.state);
    const replayed = this.replayJournal();
    for (const c of this.commands) if (c.clientId !== undefined) this.byClientId.set(c.clientId, c.id);
    if (text !== undefined || replayed > 0) {
      this.logger.info('Loaded the embedded store.', {
        file: this.file,
        configs: Object.keys(this.state.configs).length,
        commands: this.commands.length,
        journal_records: replayed,
      });
    } else {
      this.logger.info('Started an empty embedded store.', { file: this.file });
    }
    this.started = true;
    this.publish();
  }

  /** False until start() has read the files. */
  get fresh(): boolean {
    return this.started;
  }

  /** Waits for the changes under way, folds the journal into the snapshot, and closes the files. */
  async stop(): Promise<void> {
    await this.chain.catch(() => undefined);
    if (this.started && this.journalBytes > 0) {
      await this.serial(() => this.writeSnapshot(this.state, this.commands, this.seq)).catch((err: Error) =>
        this.logger.warn('Could not fold the journal into the snapshot at stop; the next start replays it.', { error: err.message }),
      );
    }
    await this.writer.close();
  }

  view(): StateView {
    if (!this.started) throw new StoreUnavailableError('the embedded store is not loaded yet');
    return this.snapshot;
  }

  update<T>(mutate: (draft: MasterState) => T): Promise<T> {
    return this.serial(async () => {
      const draft = new StateDraft(this.state);
      const result = mutate(draft.state);
      const change = draft.change();
      if (!change) return result;
      const next = applyChange(this.state, change);
      await this.persist({ t: 'update', change }, next, this.commands);
      const touched = touchedBy(this.state, change, this.revision);
      this.state = next;
      this.publish(touched);
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
      const kept = trimmedHistory([...this.commands, record]);
      await this.persist({ t: 'submit', command: record }, this.state, kept);
      this.takeHistory(kept);
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

  /** In memory only (see the header): nothing needs it durable. */
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
      const draft = new StateDraft(this.state);
      const done = { ...record };
      let change: StateChange | undefined;
      try {
        done.message = execute(draft.state);
        done.state = 'SUCCEEDED';
        change = draft.change();
      } catch (err) {
        done.state = 'FAILED';
        done.message = (err as Error).message;
      }
      done.finishedAt = Date.now();
      const next = change ? applyChange(this.state, change) : this.state;
      // The history with this command finished, written with its effect before either is seen.
      const commands = this.commands.map((c) => (c === record ? done : c));
      const entry: JournalEntry = { t: 'finish', id, state: done.state, message: done.message, finishedAt: done.finishedAt };
      if (change) entry.change = change;
      await this.persist(entry, next, commands);
      Object.assign(record, done);
      if (change && next !== this.state) {
        const touched = touchedBy(this.state, change, this.revision);
        this.state = next;
        this.publish(touched);
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

  /** Takes `kept` (the history with one command more, and maybe without its oldest) and its client ids. */
  private takeHistory(kept: CommandRecord[]): void {
    const last = kept[kept.length - 1];
    if (kept.length <= this.commands.length) {
      const keptIds = new Set(kept.map((c) => c.id));
      for (const c of this.commands) if (c.clientId !== undefined && !keptIds.has(c.id)) this.byClientId.delete(c.clientId);
    }
    if (last.clientId !== undefined) this.byClientId.set(last.clientId, last.id);
    this.commands = kept;
  }

  /** Publishes `this.state`; `touched`: what may differ from the last one published. */
  private publish(touched?: Touched): void {
    this.revision++;
    this.snapshot = { revision: this.revision, state: this.state, touched };
    this.emit('change', this.snapshot);
  }

  /**
   * Makes `entry` durable, as a journal record, or as a snapshot of `state` and `commands` (what
   * the store holds once `entry` is taken) when the journal is due for compaction (see journal.ts).
   */
  private async persist(entry: JournalEntry, state: MasterState, commands: CommandRecord[]): Promise<void> {
    const seq = this.seq + 1;
    if (this.journalSuspect || this.journalBytes > Math.max(JOURNAL_MIN_BYTES, this.snapshotBytes)) {
      await this.writeSnapshot(state, commands, seq);
    } else {
      const line = journalLine({ ...entry, seq } as JournalRecord);
      try {
        await this.writer.append(this.journal, this.dir, line);
      } catch (err) {
        this.journalSuspect = true;
        throw err;
      }
      this.journalBytes += Buffer.byteLength(line);
    }
    this.seq = seq;
  }

  /** Replaces the snapshot with one at `seq`, then empties the journal (records up to `seq` are in the snapshot). */
  private async writeSnapshot(state: MasterState, commands: CommandRecord[], seq: number): Promise<void> {
    const contents: SnapshotFile = { format: 2, seq, state, commands, nextCommandId: this.nextCommandId };
    const text = JSON.stringify(contents);
    await this.writer.write(this.file, this.dir, text);
    this.snapshotBytes = text.length;
    this.journalSuspect = true;
    await this.writer.truncate(this.journal, this.dir);
    this.journalSuspect = false;
    this.journalBytes = 0;
  }

  /** Applies the journal's records after the snapshot (see journal.ts); cuts a torn tail off. Returns how many. */
  private replayJournal(): number {
    const bytes = readIfThere(this.journal);
    if (!bytes) return 0;
    const { records, goodBytes, tornBytes } = readJournal(bytes, this.journal);
    if (tornBytes > 0) {
      this.logger.warn('Cut a torn record off the end of the journal (a change never answered).', {
        file: this.journal,
        bytes: tornBytes,
      });
      const fd = fs.openSync(this.journal, 'r+');
      try {
        fs.ftruncateSync(fd, goodBytes);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    let replayed = 0;
    for (const record of records) {
      if (record.seq <= this.seq) continue;
      if (record.seq !== this.seq + 1) {
        throw new FlumeError(
          `the embedded store's journal ${this.journal} starts at change ${record.seq}, after the snapshot's ${this.seq}: changes are missing; restore the data dir from a backup`,
        );
      }
      this.replay(record);
      this.seq = record.seq;
      replayed++;
    }
    this.journalBytes = goodBytes;
    return replayed;
  }

  private replay(record: JournalRecord): void {
    if (record.t === 'submit') {
      this.commands = trimmedHistory([...this.commands, record.command]);
      this.nextCommandId = Math.max(this.nextCommandId, record.command.id + 1);
      return;
    }
    if (record.change) this.state = applyChange(this.state, record.change, true);
    if (record.t === 'finish') {
      const command = this.findCommand(record.id);
      if (command) Object.assign(command, { state: record.state, message: record.message, finishedAt: record.finishedAt });
    }
  }

  private serial<T>(fn: () => T | Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

function readIfThere(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return undefined;
  }
}

/** `commands` without its oldest finished ones beyond COMMAND_HISTORY (never one still to run). */
function trimmedHistory(commands: CommandRecord[]): CommandRecord[] {
  let excess = commands.length - COMMAND_HISTORY;
  if (excess <= 0) return commands;
  return commands.filter((c) => {
    if (excess > 0 && (c.state === 'SUCCEEDED' || c.state === 'FAILED')) {
      excess--;
      return false;
    }
    return true;
  });
}
