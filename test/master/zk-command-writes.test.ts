/**
 * A command in ZooKeeper is two writes, its submit and its finish (EXECING is not written), and
 * still runs exactly once when its leader dies between the two, or when an older master queued it.
 * The history is still trimmed, though the leader no longer lists it after every command.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { silentLogger } from '../../core/logger';
import { CommandExecutor } from '../../master/executor';
import { ZkClient } from '../../master/store/zk';
import { COMMAND_HISTORY } from '../../master/store/types';
import { COMMANDS, COMMAND_IDS, commandPath } from '../../master/store/zk-commands';
import { ZookeeperStore } from '../../master/store/zookeeper';
import { tempDir, waitFor } from '../harness/procs';
import { startZooKeeper, type ZooKeeper } from '../harness/zk';
import { AdminClient, configOf, startMasterProc } from './helpers';

let zk: ZooKeeper;
const work = tempDir('flume-zk-command-writes-');

before(async () => {
  zk = await startZooKeeper();
});

after(async () => {
  await zk?.stop();
  work.remove();
});

/** The transactions the server has applied (low 32 bits of its zxid). */
async function zxid(): Promise<number> {
  const answer = await new Promise<string>((resolve, reject) => {
    let text = '';
    const socket = net.connect({ host: '127.0.0.1', port: zk.servers[0].clientPort }, () => socket.end('srvr'));
    socket.on('data', (c: Buffer) => (text += c.toString('utf8')));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  return Number(BigInt(`0x${/Zxid: 0x([0-9a-f]+)/.exec(answer)![1]}`) & 0xffffffffn);
}

/** A store in this process that leads (the only master of its chroot) and runs commands. */
async function leadingStore(connect: string): Promise<{ store: ZookeeperStore; stop(): Promise<void> }> {
  const store = new ZookeeperStore({ connect, masterId: 'solo', sessionTimeoutMs: 4_000, connectTimeoutMs: 20_000 }, silentLogger());
  await store.start();
  await waitFor(() => store.isLeader, 10_000, 'the store to lead');
  const executor = new CommandExecutor(store, { baseDir: work.path }, { pollMs: 500 }, silentLogger());
  executor.start();
  return {
    store,
    stop: async () => {
      await executor.stop();
      await store.stop();
    },
  };
}

test('a config command costs ZooKeeper two writes, its submit and its finish: no EXECING in between', async (t) => {
  // Nothing else writes to this server now: no master process runs, the store has no status beat.
  const { store, stop } = await leadingStore(await zk.chroot());
  t.after(stop);
  for (const round of [1, 2, 3]) {
    const before = await zxid();
    const { record } = await store.submit('config', [`w${round}`, 'text("/tmp/w")', 'console']);
    const done = await waitFor(
      async () => {
        const r = await store.command(record.id);
        return r?.state === 'SUCCEEDED' || r?.state === 'FAILED' ? r : undefined;
      },
      10_000,
      `command ${record.id}`,
    );
    assert.equal(done.state, 'SUCCEEDED', done.message);
    assert.equal((await zxid()) - before, 2, `round ${round}: writes for one command`);
    assert.equal(store.view().state.configs[`w${round}`].source, 'text("/tmp/w")');
  }
});

/** A fresh chroot and a plain ZooKeeper client on it with /flume/commands made, to write what another master would. */
async function commandsByHand(t: TestContext): Promise<{ connect: string; raw: ZkClient }> {
  const connect = await zk.chroot();
  const raw = new ZkClient({ connect, sessionTimeoutMs: 10_000, connectTimeoutMs: 20_000 });
  await raw.connect();
  t.after(() => raw.close());
  await raw.mkdirp(COMMANDS);
  return { connect, raw };
}

test('a command an older master queued (its znode at version 0, then EXECING) is run once', async (t) => {
  const { connect, raw } = await commandsByHand(t);
  // As the submit of an older master wrote it: created once, at version 0.
  const record = {
    id: 1,
    command: 'config',
    args: ['old', 'text("/tmp/old")', 'console'],
    state: 'QUEUED',
    message: '',
    submittedAt: 1,
    finishedAt: 0,
  };
  await raw.setData(COMMANDS, Buffer.from(JSON.stringify({ nextId: 2 })), -1);
  await raw.create(commandPath(1), Buffer.from(JSON.stringify(record)));
  const { store, stop } = await leadingStore(connect);
  t.after(stop);
  const done = await waitFor(
    async () => {
      const r = await store.command(1);
      return r?.state === 'SUCCEEDED' ? r : undefined;
    },
    10_000,
    'the old command to run',
  );
  assert.match(done.message, /configured old v1/);
  const { record: next } = await store.submit('config', ['new', 'null', 'null']);
  assert.equal(next.id, 2);
  await waitFor(async () => (await store.command(2))?.state === 'SUCCEEDED', 10_000, 'the next command');
  assert.equal(store.view().state.configs.old.version, 1, 'the old command ran once');
});

test('a leader killed -9 between the submit and the finish of a command: the next leader runs it exactly once', async (t) => {
  const connect = await zk.chroot();
  const args = (id: string): string[] => ['--zk', connect, '--id', id, '--session-timeout-ms', '2000', '--heartbeat-ms', '200'];
  const a = await startMasterProc(args('KA'));
  t.after(() => a.proc.stop());
  const adminA = new AdminClient(a.address);
  t.after(() => adminA.close());
  assert.equal((await adminA.info()).leader, true, 'the first master started leads');
  const b = await startMasterProc(args('KB'));
  t.after(() => b.proc.stop());
  const adminB = new AdminClient(b.address);
  t.after(() => adminB.close());

  // The leader holds still: it is told of the command but cannot run it before it dies.
  process.kill(a.proc.pid, 'SIGSTOP');
  const id = await adminB.submitOnce('kill-between', 'config', 'once', 'text("/tmp/once")', 'console');
  assert.equal((await adminB.status(id)).state, 0, 'QUEUED while the leader is frozen');
  await a.proc.kill9();

  const done = await adminB.waitDone(id, 30_000);
  assert.equal(done.state, 2, done.message);
  assert.equal(
    await adminB.submitOnce('kill-between', 'config', 'once', 'text("/tmp/once")', 'console'),
    id,
    'the client id answers with it',
  );
  const runs = (await adminB.commands(100)).filter((c) => c.args[0] === 'once');
  assert.deepEqual(
    runs.map((c) => [c.id, c.state]),
    [[id, 2]],
  );
  const config = await configOf(adminB, 'once');
  assert.equal(config?.version, Number(/ v(\d+)/.exec(done.message)![1]), 'the config has the version of its one run');
});

test('a leader trims the history to its last 1,000 commands, and their client ids with them', async (t) => {
  const { connect, raw } = await commandsByHand(t);
  await raw.mkdirp(COMMAND_IDS);
  // A long history, every command finished, each with a client id.
  const old = COMMAND_HISTORY + 150;
  await raw.setData(COMMANDS, Buffer.from(JSON.stringify({ nextId: old + 1 })), -1);
  for (let from = 1; from <= old; from += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, old + 1 - from) }, async (_, i) => {
        const id = from + i;
        const record = {
          id,
          command: 'config',
          args: [`h${id}`, 'null', 'null'],
          state: 'SUCCEEDED',
          message: '',
          submittedAt: 1,
          finishedAt: 2,
          clientId: `c${id}`,
        };
        await raw.create(commandPath(id), Buffer.from(JSON.stringify(record)));
        await raw.create(`${COMMAND_IDS}/c${id}`, Buffer.from(String(id)));
      }),
    );
  }
  const { store, stop } = await leadingStore(connect);
  t.after(stop);
  const { record } = await store.submit('config', ['latest', 'null', 'null'], 'latest');
  assert.equal(record.id, old + 1);
  await waitFor(async () => (await raw.getChildren(COMMANDS)).length === COMMAND_HISTORY, 20_000, 'the history trimmed');
  const ids = (await raw.getChildren(COMMANDS)).map((n) => Number(n.slice(2)) + 1).sort((a, b) => a - b);
  assert.deepEqual([ids[0], ids.at(-1)], [old + 2 - COMMAND_HISTORY, old + 1]);
  assert.equal((await raw.getChildren(COMMAND_IDS)).length, COMMAND_HISTORY);
  assert.equal((await store.command(old + 1))?.state, 'SUCCEEDED');
});
