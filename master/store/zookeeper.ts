/**
 * The ZooKeeper config store: any number of masters share one state through znodes.
 *
 * Layout (under the connect string's chroot, if any):
 *   /flume/meta, /flume/configs/*, /flume/nodes/*, /flume/decommissioned/*
 *                              the MasterState, one small znode per config and per physical
 *                              node, every write a transaction that compare-and-sets
 *                              /flume/meta; every master watches /flume/meta only (zk-layout.ts,
 *                              which also says how the single /flume/state of before is migrated).
 *   /flume/commands, /flume/command-ids/*
 *                              the command log, one znode per command, and per client id the
 *                              command it queued (zk-commands.ts; a resubmit queues nothing).
 *   /flume/election/m-NNNNNNNNNN  ephemeral sequential, one per live master; the lowest is the
 *                              leader (the only one that executes commands).
 *   /flume/status/<master>/<shard>  node status each master hears (see zk-status.ts).
 *
 * Sessions: on a disconnect the store stops being fresh and stops being leader at once; on a
 * reconnect of the same session it re-reads everything before it is fresh again; on expiry it
 * opens a new session and starts over (a new election znode, so it queues behind the others).
 *
 * Commands: a command's effect and its end (SUCCEEDED or FAILED) are one transaction that also
 * compare-and-sets the command's znode at the version its submit left. A leader that dies before
 * it leaves the command QUEUED and the next leader runs it; two masters that both think they lead
 * (one frozen past its session) cannot both finish it. So EXECING is not written (it would say
 * only that someone started the command); one queued by an older master still reads EXECING.
 *
 * A write whose outcome is unknown (connection lost before the answer) is recognized after the
 * reconnect by its `writer` token in /flume/meta's log, so a mutation is never applied twice by
 * a retry.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../../core/logger';
import { Backoff, sleep } from '../../core/retry';
import {
  CommandError,
  StoreUnavailableError,
  emptyState,
  type CommandRecord,
  type ConfigStore,
  type MasterState,
  type StateView,
  type SubmitResult,
  type Touched,
} from './types';
import { LOG_KEYS, LOG_LENGTH, META, ROOT, itemPath, metaOf, parseMeta, stateOf, type ItemKey, type MetaDoc } from './zk-layout';
import * as commandLog from './zk-commands';
import { StateDraft, freezeState } from './state-change';
import { applyItems, checkSize, itemChange, touchedOf, type ItemChange } from './zk-draft';
import { ensureLayout, readAll, readSome } from './zk-setup';
import {
  CreateMode,
  ZkClient,
  ZkUnavailableError,
  isBadVersion,
  isConnectionProblem,
  isNoNode,
  isNodeExists,
  type ZkTransaction,
} from './zk';

export interface ZookeeperStoreOptions {
  /** host:port,...[/chroot] */
  connect: string;
  /** Names this master in logs, the election znode and status znodes. */
  masterId: string;
  /** What other masters and the status page show about this one (its addresses). */
  info?: Record<string, unknown>;
  sessionTimeoutMs: number;
  connectTimeoutMs: number;
}

export const ZK_STORE_DEFAULTS = { sessionTimeoutMs: 6_000, connectTimeoutMs: 30_000 };

const ELECTION = `${ROOT}/election`;
export const STATUS = `${ROOT}/status`;

export class ZookeeperStore extends EventEmitter implements ConfigStore {
  readonly kind = 'zookeeper';
  private zk: ZkClient | undefined;
  private stopped = false;
  private freshNow = false;
  private leaderNow = false;
  /** The state as last read or written, and /flume/meta at `metaVersion`. */
  private state: MasterState = emptyState();
  private meta: MetaDoc = { nextVersion: 1, purgedAll: 0, log: [] };
  private metaVersion = -1;
  private snapshot: StateView = { revision: -1, state: this.state };
  /** One refresh at a time; a wake-up meanwhile asks for another after it. */
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private electionNode: string | undefined;
  /** Every command with an id below this is known finished (leader's scan cache). */
  private finishedBelow = 1;
  /** The oldest command id in the history at the last trim (0: not looked yet). */
  private oldestCommand = 0;
  /** Bumped at every (re)connect: callbacks of an older generation are ignored. */
  private generation = 0;
  private readonly log: Logger;
  /** The generation whose first setup completed (reconnects before that are the first connect). */
  private setupDone = -1;
  private setupChain: Promise<unknown> = Promise.resolve();
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    readonly options: ZookeeperStoreOptions,
    logger: Logger,
  ) {
    super();
    this.log = logger;
  }

  get fresh(): boolean {
    return this.freshNow;
  }

  get isLeader(): boolean {
    return this.leaderNow;
  }

  /** The live session, for the node status exchange. */
  get client(): ZkClient {
    if (!this.zk || this.zk.state !== 'connected') throw new StoreUnavailableError('not connected to ZooKeeper');
    return this.zk;
  }

  async start(): Promise<void> {
    await this.openSession();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.watchdog);
    this.setLeader(false);
    this.setFresh(false);
    if (this.zk && this.electionNode && this.zk.state === 'connected') {
      await this.zk.remove(this.electionNode).catch(() => undefined);
    }
    this.zk?.close();
  }

  view(): StateView {
    if (!this.freshNow) throw new StoreUnavailableError(`master ${this.options.masterId} has no current view of ZooKeeper (session lost)`);
    return this.snapshot;
  }

  async update<T>(mutate: (draft: MasterState) => T): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const draft = new StateDraft(this.state);
      const result = mutate(draft.state);
      const writer = randomBytes(8).toString('hex');
      try {
        await this.write(itemChange(this.state, draft.change()), writer, () => undefined);
        return result;
      } catch (err) {
        if (await this.resolveConflict(err, writer, attempt)) return result;
      }
    }
  }

  /**
   * Writes `change` (made from the current state, see zk-draft.ts) as one transaction: /flume/meta
   * compare-and-set at the version read, the item znodes that differ, and whatever `more` adds;
   * then takes its state as the current one. Returns false, writing nothing, if it changes nothing
   * and `always` is not set.
   */
  private async write(change: ItemChange, writer: string, more: (tx: ZkTransaction) => void, always = false): Promise<boolean> {
    const zk = this.client;
    const { writes, created, next } = change;
    const touched = [...writes.keys()];
    const metaChanged = next.nextVersion !== this.meta.nextVersion || (next.purged['*'] ?? 0) !== this.meta.purgedAll;
    if (touched.length === 0 && !metaChanged && !always) return false;
    const rev = this.metaVersion + 1;
    const log = [...this.meta.log.slice(-(LOG_LENGTH - 1)), { rev, writer, touched: touched.length > LOG_KEYS ? null : touched }];
    const meta = metaOf(next, log);
    const metaBytes = Buffer.from(JSON.stringify(meta));
    checkSize(writes, metaBytes.length);
    await zk.multi((tx) => {
      tx.setData(META, metaBytes, this.metaVersion);
      for (const [key, data] of writes) {
        if (data === undefined) tx.remove(itemPath(key), -1);
        else if (created.has(key)) tx.create(itemPath(key), Buffer.from(data));
        else tx.setData(itemPath(key), Buffer.from(data), -1);
      }
      more(tx);
    });
    if (this.metaVersion === rev - 1) this.take(next, meta, rev, touchedOf(writes.keys(), this.metaVersion));
    else await this.refreshState();
    return true;
  }

  submit(command: string, args: string[], clientId?: string): Promise<SubmitResult> {
    return commandLog.submitCommand(this.client, command, args, clientId, () => this.waitFresh(this.options.sessionTimeoutMs * 2));
  }

  async command(id: number): Promise<CommandRecord | undefined> {
    if (!Number.isInteger(id) || id < 1) return undefined;
    return (await commandLog.readCommand(this.client, id))?.record;
  }

  recentCommands(limit: number): Promise<CommandRecord[]> {
    return commandLog.recentCommands(this.client, limit);
  }

  async pendingCommands(): Promise<CommandRecord[]> {
    const { pending, finishedBelow } = await commandLog.pendingCommands(this.client, this.finishedBelow);
    this.finishedBelow = finishedBelow;
    return pending;
  }

  /** Writes nothing: see "Commands" in the header. */
  markExecuting(): Promise<void> {
    return Promise.resolve();
  }

  async finish(id: number, execute: (draft: MasterState) => string): Promise<CommandRecord> {
    for (let attempt = 0; ; attempt++) {
      const found = await commandLog.readCommand(this.client, id);
      if (!found) throw new Error(`command ${id} is unknown`);
      const { record } = found;
      if (record.state === 'SUCCEEDED' || record.state === 'FAILED') return record;
      if (found.version === 0) {
        // Queued by an older master: transactions cannot check version 0 (see ZkClient.multi), move it to 1 first.
        await commandLog.markExecuting(this.client, id).catch(() => undefined);
        continue;
      }
      if (!this.leaderNow) throw new StoreUnavailableError(`master ${this.options.masterId} is no longer the leader`);
      const draft = new StateDraft(this.state);
      try {
        record.message = execute(draft.state);
        record.state = 'SUCCEEDED';
      } catch (err) {
        record.state = 'FAILED';
        record.message = (err as Error).message;
      }
      record.finishedAt = Date.now();
      const writer = randomBytes(8).toString('hex');
      const end = (tx: ZkTransaction): void => {
        tx.setData(commandLog.commandPath(id), Buffer.from(JSON.stringify(record)), found.version);
      };
      try {
        // Always through /flume/meta: the command's end is ordered with every state write.
        try {
          await this.write(itemChange(this.state, record.state === 'SUCCEEDED' ? draft.change() : undefined), writer, end, true);
        } catch (err) {
          if (!(err instanceof CommandError)) throw err;
          record.state = 'FAILED';
          record.message = err.message;
          await this.write(itemChange(this.state, undefined), writer, end, true);
        }
        if (id === this.finishedBelow) this.finishedBelow = id + 1;
        if (commandLog.trimDue(this.oldestCommand, this.finishedBelow)) void this.trim();
        return record;
      } catch (err) {
        // The command record itself tells whether an ambiguous write happened.
        await this.resolveConflict(err, writer, attempt);
      }
    }
  }

  // -- internals ---------------------------------------------------------------------------

  /**
   * After a failed write: refreshes the cached state and says whether the write in fact
   * happened (only possible after a connection loss). Throws when it is time to give up.
   */
  private async resolveConflict(err: unknown, writer: string, attempt: number): Promise<boolean> {
    if (isBadVersion(err) || isNodeExists(err) || isNoNode(err)) {
      // Another master wrote first (or this copy of the items is behind): read again, retry.
      if (attempt >= 50) throw new ZkUnavailableError('ZooKeeper write kept conflicting', undefined, { cause: err });
      await this.refreshState(!isBadVersion(err));
      return this.wrote(writer);
    }
    if (isConnectionProblem(err) || err instanceof StoreUnavailableError) {
      if (attempt >= 20 || this.stopped) throw new ZkUnavailableError('ZooKeeper write did not complete', undefined, { cause: err });
      await this.waitFresh(this.options.sessionTimeoutMs * 2);
      return this.wrote(writer);
    }
    throw err;
  }

  /** Whether the write of token `writer` is in /flume/meta's log (as last read). */
  private wrote(writer: string): boolean {
    return this.meta.log.some((e) => e.writer === writer);
  }

  private async waitFresh(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.freshNow) {
      if (this.stopped || Date.now() > deadline) throw new StoreUnavailableError('ZooKeeper is unreachable');
      await sleep(50);
    }
  }

  /** Takes `state` as of /flume/meta's `version`; `touched`: what may differ from the state taken before (StateView). */
  private take(state: MasterState, meta: MetaDoc, version: number, touched?: Touched): void {
    if (version <= this.metaVersion) return;
    this.state = state;
    this.meta = meta;
    this.metaVersion = version;
    this.snapshot = { revision: version, state, touched };
    this.emit('change', this.snapshot);
  }

  private readonly metaWatcher = (): void => {
    this.refreshState().catch((err) => this.log.debug('State refresh failed.', { error: (err as Error).message }));
  };

  private async trim(): Promise<void> {
    this.oldestCommand = Infinity; // one trim at a time
    try {
      this.oldestCommand = await commandLog.trimHistory(this.client, this.finishedBelow, this.log);
    } catch {
      this.oldestCommand = 0; // not connected: look again after the next command
    }
  }

  private readonly commandsWatcher = (): void => {
    this.emit('commands');
    if (this.zk?.state === 'connected') this.zk.exists(commandLog.COMMANDS, this.commandsWatcher).catch(() => undefined);
  };

  private readonly electionWatcher = (): void => {
    this.checkLeadership().catch((err) => this.log.debug('Election check failed.', { error: (err as Error).message }));
  };

  /**
   * Reads /flume/meta (and re-arms its watch) and whatever changed since this copy: the keys its
   * log names, or every item if the log does not reach back far enough (or `full`).
   */
  private refreshState(full = false): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      if (full) this.metaVersion = -1; // the next pass reads everything
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        let wantFull = full;
        do {
          this.refreshAgain = false;
          await this.refreshOnce(wantFull || this.metaVersion < 0);
          wantFull = false;
        } while (this.refreshAgain);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private async refreshOnce(full: boolean): Promise<void> {
    const zk = this.client;
    const { data, stat } = await zk.getData(META, this.metaWatcher);
    const meta = parseMeta(data);
    if (stat.version === this.metaVersion && !full) return;
    let keys: Set<ItemKey> | undefined;
    if (!full) {
      keys = new Set();
      for (let rev = this.metaVersion + 1; rev <= stat.version && keys; rev++) {
        const entry = meta.log.find((e) => e.rev === rev);
        if (!entry?.touched) keys = undefined;
        else for (const k of entry.touched) keys.add(k);
      }
    }
    if (keys) {
      // Applied to the state as it is once read (a write of this master may have moved it meanwhile).
      const read = await readSome(zk, keys);
      this.take(applyItems(this.state, read, meta), meta, stat.version, touchedOf(read.keys(), this.metaVersion));
      return;
    }
    const items = await readAll(zk);
    if (full) this.metaVersion = Math.min(this.metaVersion, stat.version - 1);
    this.take(freezeState(stateOf(items, meta)), meta, stat.version);
  }

  private async openSession(connectTimeoutMs = this.options.connectTimeoutMs): Promise<void> {
    const generation = ++this.generation;
    const zk = new ZkClient({ connect: this.options.connect, sessionTimeoutMs: this.options.sessionTimeoutMs, connectTimeoutMs });
    zk.on('state', (s) => this.onState(generation, s));
    this.zk = zk;
    try {
      await zk.connect();
    } catch (err) {
      zk.close();
      throw err;
    }
    this.log.info('Connected to ZooKeeper.', { connect: this.options.connect, session: zk.sessionId() });
    await this.setup(generation);
  }

  /** Runs one setup at a time: two concurrent ones would create two election znodes. */
  private setup(generation: number): Promise<void> {
    const run = this.setupChain.then(() => this.doSetup(generation));
    this.setupChain = run.catch(() => undefined);
    return run;
  }

  private async doSetup(generation: number): Promise<void> {
    if (generation !== this.generation) return;
    const zk = this.client;
    for (const dir of [commandLog.COMMANDS, commandLog.COMMAND_IDS, ELECTION, STATUS]) await zk.mkdirp(dir);
    await ensureLayout(zk, this.log);
    await this.refreshState(true);
    await zk.exists(commandLog.COMMANDS, this.commandsWatcher);
    if (generation !== this.generation) return;
    const info = Buffer.from(JSON.stringify({ id: this.options.masterId, ...this.options.info }));
    if (!this.electionNode || !(await zk.exists(this.electionNode))) {
      this.electionNode = await zk.create(`${ELECTION}/m-`, info, CreateMode.EPHEMERAL_SEQUENTIAL);
    }
    this.setupDone = generation;
    this.setFresh(true);
    await this.checkLeadership();
    this.emit('commands');
  }

  private async checkLeadership(): Promise<void> {
    const zk = this.client;
    const children = (await zk.getChildren(ELECTION, this.electionWatcher)).sort();
    const mine = this.electionNode?.slice(ELECTION.length + 1);
    if (!mine || !children.includes(mine)) {
      this.setLeader(false);
      return;
    }
    this.setLeader(children[0] === mine && this.freshNow);
  }

  private onState(generation: number, s: string): void {
    if (generation !== this.generation || this.stopped) return;
    if (s === 'disconnected') {
      this.log.warn('Lost the connection to ZooKeeper; not leader and not fresh until it is back.');
      this.setLeader(false);
      this.setFresh(false);
      this.armReconnectWatchdog(generation);
    } else if (s === 'connected') {
      clearTimeout(this.watchdog);
      if (this.setupDone !== generation) return; // the first connect: openSession sets up
      this.log.info('Reconnected to ZooKeeper with the same session.');
      this.setup(generation).catch((err) => this.log.warn('Resync after reconnect failed.', { error: (err as Error).message }));
    } else if (s === 'expired') {
      this.log.warn('ZooKeeper session expired; opening a new one.');
      this.abandonSession();
    }
  }

  /**
   * node-zookeeper-client can stop reconnecting when its server comes back mid-start (it then
   * never learns that the session expired). A disconnect longer than twice the session timeout
   * means the session is gone anyway: start a new one.
   */
  private armReconnectWatchdog(generation: number): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (generation !== this.generation || this.stopped || this.zk?.state === 'connected') return;
      this.log.warn('No reconnect within twice the session timeout; opening a new session.', {
        sessionTimeoutMs: this.options.sessionTimeoutMs,
      });
      this.abandonSession();
    }, this.options.sessionTimeoutMs * 2);
    this.watchdog.unref();
  }

  private abandonSession(): void {
    clearTimeout(this.watchdog);
    this.generation++; // late events of the old client are ignored from now on
    this.setLeader(false);
    this.setFresh(false);
    this.zk?.close();
    void this.reopen();
  }

  private async reopen(): Promise<void> {
    this.electionNode = undefined;
    const backoff = new Backoff({ initialMs: 200, maxMs: 5_000, jitter: 'decorrelated' });
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        // A short connect timeout: a client stuck connecting is replaced rather than waited for.
        await this.openSession(this.options.sessionTimeoutMs * 2);
        return;
      } catch (err) {
        this.log.warn('Could not open a new ZooKeeper session.', { attempt, error: (err as Error).message });
        await sleep(backoff.next());
      }
    }
  }

  private setFresh(fresh: boolean): void {
    if (this.freshNow === fresh) return;
    this.freshNow = fresh;
    this.emit('fresh', fresh);
  }

  private setLeader(leader: boolean): void {
    if (this.leaderNow === leader) return;
    this.leaderNow = leader;
    this.log.info(leader ? 'This master is now the leader.' : 'This master is not the leader.', { master: this.options.masterId });
    this.emit('leader', leader);
  }
}
