/**
 * The master's config store: what every master must agree on, behind one interface with two
 * implementations (embedded: one master, a file; ZooKeeper: any number of masters).
 *
 * What is stored
 * - `MasterState`: configs (logical node -> flow, source, sink, version), logical->physical
 *   mappings, decommissioned logical names and the next config version. Changed only through
 *   `update()`, a compare-and-set on the whole state: the mutation runs on a private copy of
 *   the latest state and is retried on a fresh copy when another master wrote first, so two
 *   concurrent edits are applied one after the other, never one over the other.
 * - The command queue: `CommandRecord`s with ids growing in submission order, kept as history
 *   after they finish. A submit may carry a client-chosen id (`clientId`): the store keeps the
 *   clientId -> command id mapping durably, written in the same atomic step as the command, so a
 *   submit repeated with that clientId (the shell failing over after a master died mid-Submit;
 *   on any master, after any restart) answers with the first command instead of queueing a
 *   second one. That is what makes an acknowledged admin command run exactly once. Only the
 *   leader executes commands (see `CommandExecutor`); `finish()` writes a command's effect and
 *   its SUCCEEDED state in one atomic step, so a leader that dies mid-command leaves it either
 *   done or still to do, never half done.
 *
 * Freshness: `view()` throws `StoreUnavailableError` while the store cannot vouch that its copy
 * is current (ZooKeeper session lost); callers answer UNAVAILABLE rather than serve stale data.
 */
import { status } from '@grpc/grpc-js';
import type { EventEmitter } from 'node:events';
import { FlumeError } from '../../core/errors';

export interface LogicalConfig {
  flow: string;
  source: string;
  sink: string;
  /** Grows with every change of any config (one counter for the whole store). */
  version: number;
}

export interface MasterState {
  configs: Record<string, LogicalConfig>;
  /** physical node -> the logical nodes it runs, in mapping order. */
  mappings: Record<string, string[]>;
  /**
   * Logical nodes decommissioned and not configured or mapped since: a physical node of that
   * name does not get its implicit logical node of its own name.
   */
  decommissioned: string[];
  /** physical node -> ms since epoch: status older than this was purged. */
  purged: Record<string, number>;
  /** The version the next config change gets. */
  nextVersion: number;
}

export function emptyState(): MasterState {
  return { configs: {}, mappings: {}, decommissioned: [], purged: {}, nextVersion: 1 };
}

/** An immutable snapshot of the state; `revision` changes whenever the state does. */
export interface StateView {
  readonly revision: number;
  readonly state: Readonly<MasterState>;
  /**
   * What may differ from the view of revision `touched.from` (keys of configs and of mappings;
   * any other field is compared whole), when the store knows: readers that hold that view look
   * at these keys only (state-diff.ts) instead of every config.
   */
  readonly touched?: Touched;
}

/** See StateView.touched. */
export interface Touched {
  readonly from: number;
  readonly configs: readonly string[];
  readonly mappings: readonly string[];
}

type CommandState = 'QUEUED' | 'EXECING' | 'SUCCEEDED' | 'FAILED';

export interface CommandRecord {
  id: number;
  command: string;
  args: string[];
  state: CommandState;
  message: string;
  /** ms since epoch */
  submittedAt: number;
  /** ms since epoch; 0 until finished */
  finishedAt: number;
  /** The submitter's id for this command (see `submit`); absent for submits without one. */
  clientId?: string;
}

/** What `ConfigStore.submit` answers. */
export interface SubmitResult {
  record: CommandRecord;
  /** True when the clientId was seen before: `record` is that first command, nothing was queued. */
  repeated: boolean;
}

/** What a client id may look like (it names a znode): 1-64 of [A-Za-z0-9_-]. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The masters' shared state. Events:
 * - `change` (view: StateView): the state changed (locally or by another master);
 * - `commands` (): a command was submitted or changed state (leader: time to look at the queue);
 * - `leader` (isLeader: boolean): leadership gained or lost;
 * - `fresh` (fresh: boolean): the view became current or stopped being known current.
 */
export interface ConfigStore extends EventEmitter {
  readonly kind: 'embedded' | 'zookeeper';

  start(): Promise<void>;
  stop(): Promise<void>;

  /** True while the store's view is known to be current. */
  readonly fresh: boolean;

  /** The latest state known; throws StoreUnavailableError while not fresh. */
  view(): StateView;

  /**
   * Compare-and-set: runs `mutate` on a copy of the latest state and writes it if nobody wrote in
   * between; on a conflict reruns it on the newer state. `mutate` must be a pure function of its
   * argument (it may run several times), and sets or removes entries of the draft's records or
   * replaces its fields, never changes a value in them in place (the embedded store's draft
   * shares them with the published state: store/state-change.ts). Resolves with its result once
   * written.
   */
  update<T>(mutate: (draft: MasterState) => T): Promise<T>;

  /**
   * Queues a command; resolves with its record (state QUEUED, id assigned). With a `clientId`
   * (CLIENT_ID_PATTERN) that a submit carried before, queues nothing and resolves with that
   * first command as it stands now (`repeated`). The mapping lives as long as the command's
   * history entry (COMMAND_HISTORY).
   */
  submit(command: string, args: string[], clientId?: string): Promise<SubmitResult>;

  /** One command, or undefined if unknown (never submitted, or trimmed from history). */
  command(id: number): Promise<CommandRecord | undefined>;

  /** The last `limit` commands, newest last. */
  recentCommands(limit: number): Promise<CommandRecord[]>;

  /** Commands not finished (QUEUED or EXECING), oldest first. */
  pendingCommands(): Promise<CommandRecord[]>;

  /** Marks a QUEUED command EXECING where this master shows it; no store writes that durably (see CommandExecutor). */
  markExecuting(id: number): Promise<void>;

  /**
   * Finishes a command: computes its effect with `execute` on a copy of the latest state (CAS,
   * retried like `update`) and writes the state and the command's final state atomically. If
   * `execute` throws, the state is left unchanged and the command FAILS with the error message.
   */
  finish(id: number, execute: (draft: MasterState) => string): Promise<CommandRecord>;

  /** Whether this master runs the once-only duties right now (always true when embedded). */
  readonly isLeader: boolean;
}

export class StoreUnavailableError extends FlumeError {
  override readonly retriable = true;
  override readonly grpcCode = status.UNAVAILABLE;
}

/** A command failed on purpose (bad arguments, bad spec): its message goes to the user. */
export class CommandError extends FlumeError {
  override readonly grpcCode = status.INVALID_ARGUMENT;
}

/** Key of `MasterState.purged` that stands for every node. */
export const PURGE_ALL = '*';

/** How many finished commands each store keeps as history. */
export const COMMAND_HISTORY = 1000;

export function cloneState(state: Readonly<MasterState>): MasterState {
  return JSON.parse(JSON.stringify(state)) as MasterState;
}

/** Fills fields missing from a state read from disk or ZooKeeper (written by an older master). */
export function normalizeState(raw: Partial<MasterState>): MasterState {
  const s = emptyState();
  return {
    configs: raw.configs ?? s.configs,
    mappings: raw.mappings ?? s.mappings,
    decommissioned: raw.decommissioned ?? s.decommissioned,
    purged: raw.purged ?? s.purged,
    nextVersion: raw.nextVersion ?? s.nextVersion,
  };
}
