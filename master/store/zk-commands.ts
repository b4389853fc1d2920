/**
 * The command log's znodes (layout in zookeeper.ts): `/flume/commands` holds `{nextId}`, each
 * command is `/flume/commands/c-NNNNNNNNNN` (id - 1, zero-padded, so names sort by id), and
 * `/flume/command-ids/<clientId>` names the command a submit with that client id queued, created
 * in the same transaction as the command, so a submit repeated with the id (the shell failing
 * over) finds it and queues nothing; it is removed with the command when history is trimmed.
 * (Older masters made the commands persistent sequential; the names are the same.) The finish
 * of a command, which must be atomic with the masters' state, stays in the store.
 *
 * Masters learn of submits through a watch on /flume/commands' data (each submit sets nextId),
 * not on its children, which would send the whole history's names to every master per submit.
 *
 * A command is two writes: its submit, which leaves its znode at version 1, and its finish, which
 * compare-and-sets it at that version with its effect. EXECING is not written (older masters
 * wrote it, and moved the znode from version 0 that way; such a command is still read and run).
 */
import type { Logger } from '../../core/logger';
import { CommandError, COMMAND_HISTORY, StoreUnavailableError, type CommandRecord, type SubmitResult } from './types';
import { isBadVersion, isConnectionProblem, isNoNode, isNodeExists, type ZkClient } from './zk';
import { ROOT } from './zk-layout';

export const COMMANDS = `${ROOT}/commands`;
export const COMMAND_IDS = `${ROOT}/command-ids`;

export const commandPath = (id: number): string => `${COMMANDS}/c-${String(id - 1).padStart(10, '0')}`;
const commandId = (name: string): number => Number(name.slice(2)) + 1;

/** The `nextId` of /flume/commands; undefined until a submit wrote one (an older master's store). */
function parseNextId(data: Buffer): number | undefined {
  try {
    const n = (JSON.parse(data.toString('utf8')) as { nextId?: unknown }).nextId;
    return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

async function commandIds(zk: ZkClient): Promise<number[]> {
  const names = await zk.getChildren(COMMANDS);
  return names.map(commandId).sort((a, b) => a - b);
}

export async function readCommand(zk: ZkClient, id: number): Promise<{ record: CommandRecord; version: number } | undefined> {
  try {
    const { data, stat } = await zk.getData(commandPath(id));
    const record = JSON.parse(data.toString('utf8')) as CommandRecord;
    record.id = id;
    return { record, version: stat.version };
  } catch (err) {
    if (isNoNode(err)) return undefined;
    throw err;
  }
}

/** The command a submit with `clientId` queued, or undefined if none did. */
async function commandOfClient(zk: ZkClient, clientId: string): Promise<CommandRecord | undefined> {
  let id: number;
  try {
    id = Number((await zk.getData(`${COMMAND_IDS}/${clientId}`)).data.toString('utf8'));
  } catch (err) {
    if (isNoNode(err)) return undefined;
    throw err;
  }
  const found = await readCommand(zk, id);
  if (!found) throw new CommandError(`command ${id} (client id ${clientId}) is no longer in the master's history`);
  return found.record;
}

export async function recentCommands(zk: ZkClient, limit: number): Promise<CommandRecord[]> {
  const ids = (await commandIds(zk)).slice(-limit);
  const records = await Promise.all(ids.map((id) => readCommand(zk, id)));
  return records.filter((r): r is { record: CommandRecord; version: number } => r !== undefined).map((r) => r.record);
}

/**
 * The commands not finished, from id `finishedBelow` on, and the new `finishedBelow`: every
 * command below it is finished, so the next look starts there. The ids to look at come from
 * the counter (`nextId`), not from listing the history, unless no submit has written one yet
 * or more than 100 ids are to be looked at (a new leader: the listing skips the trimmed ones).
 */
export async function pendingCommands(zk: ZkClient, finishedBelow: number): Promise<{ pending: CommandRecord[]; finishedBelow: number }> {
  const nextId = parseNextId((await zk.getData(COMMANDS)).data);
  const ids =
    nextId !== undefined && nextId - finishedBelow <= 100
      ? Array.from({ length: Math.max(0, nextId - finishedBelow) }, (_, i) => finishedBelow + i)
      : (await commandIds(zk)).filter((id) => id >= finishedBelow);
  const pending: CommandRecord[] = [];
  let prefixDone = true;
  for (const id of ids) {
    const found = await readCommand(zk, id);
    const done = !found || found.record.state === 'SUCCEEDED' || found.record.state === 'FAILED';
    if (done && prefixDone) finishedBelow = id + 1;
    if (!done) {
      prefixDone = false;
      pending.push(found!.record);
    }
  }
  return { pending, finishedBelow };
}

/**
 * Marks a QUEUED command EXECING: only for a command an older master queued at version 0, which a
 * transaction cannot check (see ZkClient.multi); this write moves it to 1.
 */
export async function markExecuting(zk: ZkClient, id: number): Promise<void> {
  const found = await readCommand(zk, id);
  if (!found || found.record.state !== 'QUEUED') return;
  found.record.state = 'EXECING';
  await zk.setData(commandPath(id), Buffer.from(JSON.stringify(found.record)), found.version);
}

/**
 * Queues a command: the counter's version, the command's name and the client id's name each
 * make two racing submits collide, so exactly one of them commits. A submit repeated with a
 * client id already used answers with that first command. `waitFresh` waits for the session
 * after a connection loss, when whether the write happened is unknown: the client id tells.
 */
export async function submitCommand(
  zk: ZkClient,
  command: string,
  args: string[],
  clientId: string | undefined,
  waitFresh: () => Promise<void>,
): Promise<SubmitResult> {
  for (let attempt = 0; ; attempt++) {
    if (clientId !== undefined) {
      const first = await commandOfClient(zk, clientId);
      if (first) return { record: first, repeated: true };
    }
    const { data, stat } = await zk.getData(COMMANDS);
    const id = parseNextId(data) ?? ((await commandIds(zk)).at(-1) ?? 0) + 1;
    const record: CommandRecord = { id, command, args, state: 'QUEUED', message: '', submittedAt: Date.now(), finishedAt: 0 };
    if (clientId !== undefined) record.clientId = clientId;
    try {
      await zk.multi((tx) => {
        tx.setData(COMMANDS, Buffer.from(JSON.stringify({ nextId: id + 1 })), stat.version);
        // Created and set at once: version 1, which finish's compare-and-set can check (see ZkClient.multi).
        tx.create(commandPath(id), Buffer.alloc(0));
        tx.setData(commandPath(id), Buffer.from(JSON.stringify(record)), -1);
        if (clientId !== undefined) tx.create(`${COMMAND_IDS}/${clientId}`, Buffer.from(String(id)));
      });
      return { record, repeated: false };
    } catch (err) {
      if (attempt >= 50) throw err;
      if (isBadVersion(err) || isNodeExists(err)) continue;
      if (clientId !== undefined && (isConnectionProblem(err) || err instanceof StoreUnavailableError)) {
        await waitFresh();
        continue;
      }
      throw err;
    }
  }
}

/**
 * Removes the oldest finished commands (and their client ids) beyond COMMAND_HISTORY, when there
 * are 100 or more of those; answers the oldest id left (for the caller to wait until there are).
 */
export async function trimHistory(zk: ZkClient, finishedBelow: number, log: Logger): Promise<number> {
  let oldest = 0;
  try {
    const ids = await commandIds(zk);
    oldest = ids[0] ?? finishedBelow;
    const excess = ids.length - COMMAND_HISTORY;
    if (excess < 100) return oldest;
    for (const id of ids.slice(0, excess)) {
      if (id >= finishedBelow) break;
      const clientId = (await readCommand(zk, id))?.record.clientId;
      await zk
        .multi((tx) => {
          tx.remove(commandPath(id), -1);
          if (clientId !== undefined) tx.remove(`${COMMAND_IDS}/${clientId}`, -1);
        })
        .catch(() => undefined);
      oldest = id + 1;
    }
  } catch (err) {
    log.debug('Could not trim the command history.', { error: (err as Error).message });
  }
  return oldest;
}

/** Whether a trim may have something to do: 100 finished commands or more beyond COMMAND_HISTORY since `oldest`. */
export const trimDue = (oldest: number, finishedBelow: number): boolean => finishedBelow - oldest >= COMMAND_HISTORY + 100;
