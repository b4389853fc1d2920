/**
 * Exactly-once admin commands (issue 15): flume-shell submits bursts of commands to three
 * masters on a real three-server ZooKeeper ensemble, and the leading master is killed with -9 in
 * the middle of a burst. The shell fails over and resubmits what it was not sure of, with the
 * same client id; every command the shell acknowledged must then be in the history exactly once,
 * with the id it was acknowledged with, SUCCEEDED, and every master (the killed one restarted)
 * must show the same history and configs. Ten runs, each in its own chroot.
 *
 * Also with the embedded store: a submit repeated with its client id after a kill -9 and
 * restart answers with the first command.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { WireCommandStatus } from '../../proto/messages';
import { type Proc, spawnFlume, tempDir, waitFor } from '../harness/procs';
import { startEnsemble, type ZooKeeper } from '../harness/zk';
import { AdminClient, startMasterProc, type MasterProc } from './helpers';

const RUNS = 10;
const COMMANDS_PER_RUN = 20;

let zk: ZooKeeper;
const work = tempDir('flume-exactly-once-');
const live: Proc[] = [];

before(async () => {
  zk = await startEnsemble(3);
});

after(async () => {
  for (const p of live) await p.stop();
  await zk?.stop();
  work.remove();
});

async function startMasters(connect: string, run: number): Promise<MasterProc[]> {
  // A short session timeout: the dead leader's duties move on about that long after the kill.
  const masters = await Promise.all(
    ['A', 'B', 'C'].map((id) =>
      startMasterProc(['--zk', connect, '--id', `r${run}${id}`, '--heartbeat-ms', '200', '--session-timeout-ms', '2000']),
    ),
  );
  live.push(...masters.map((m) => m.proc));
  return masters;
}

/** args[0] (the logical node each command configures) -> the commands with it, on one master. */
async function historyByNode(admin: AdminClient): Promise<Map<string, WireCommandStatus[]>> {
  const byNode = new Map<string, WireCommandStatus[]>();
  for (const c of await admin.commands(1000)) {
    const list = byNode.get(c.args[0]) ?? [];
    list.push(c);
    byNode.set(c.args[0], list);
  }
  return byNode;
}

for (let run = 1; run <= RUNS; run++) {
  test(
    `kill -9 of the leading master mid-burst (run ${run} of ${RUNS}): every acknowledged command applied exactly once, all masters agree`,
    { timeout: 180_000 },
    async (t) => {
      const connect = await zk.chroot();
      const masters = await startMasters(connect, run);
      const admins = masters.map((m) => new AdminClient(m.address));
      t.after(async () => {
        for (const a of admins) a.close();
        for (const m of masters) await m.proc.stop();
      });
      const leader =
        (await waitFor(
          async () => {
            const infos = await Promise.all(admins.map((a) => a.info()));
            const i = infos.findIndex((info) => info.leader);
            return i >= 0 ? i + 1 : undefined;
          },
          30_000,
          'a leader',
        )) - 1;
      const order = [leader, ...[0, 1, 2].filter((i) => i !== leader)];

      const shell = spawnFlume('shell', ['-c', order.map((i) => masters[i].address).join(',')], {
        env: { FLUME_SHELL_HISTORY: path.join(work.path, `history-${run}`) },
      });
      live.push(shell);
      const nodes = Array.from({ length: COMMANDS_PER_RUN }, (_, i) => `r${run}n${i}`);
      shell.write(nodes.map((n) => `submit config ${n} null null\n`).join(''));
      shell.child.stdin!.end();
      // Somewhere in the burst: after a few acknowledgements, and a few ms more.
      const killAfter = 2 + Math.floor(Math.random() * 8);
      await waitFor(
        () => (shell.output().match(/Submitted command/g) ?? []).length >= killAfter || !shell.running,
        60_000,
        'acknowledged submits',
      );
      await new Promise((r) => setTimeout(r, Math.random() * 15));
      await masters[leader].proc.kill9();
      const exit = await shell.exited;

      const acked = new Map<string, number>();
      for (const m of shell.output().matchAll(/\[id: (\d+)\] Submitted command : config (r\d+n\d+) /g)) acked.set(m[2], Number(m[1]));
      assert.ok(acked.size >= killAfter, shell.output());

      // The killed master comes back; every master then has the whole history, nothing pending.
      const restarted = await startMasterProc(masters[leader].args.slice(masters[leader].args.indexOf('--zk')));
      live.push(restarted.proc);
      masters[leader] = restarted;
      admins[leader].close();
      admins[leader] = new AdminClient(restarted.address);
      await waitFor(async () => (await admins[order[1]].commands(0, true)).length === 0, 60_000, 'every command executed');

      const views = await Promise.all(admins.map((a) => historyByNode(a)));
      for (const [node, id] of acked) {
        const commands = views[0].get(node) ?? [];
        assert.equal(commands.length, 1, `acknowledged ${node} (id ${id}) ran ${commands.length} times: ${JSON.stringify(commands)}`);
        assert.equal(commands[0].id, id);
        assert.equal(commands[0].state, 2, commands[0].message);
      }
      for (const node of nodes) assert.ok((views[0].get(node) ?? []).length <= 1, `${node} ran twice`);
      for (const other of [1, 2]) assert.deepEqual(views[other], views[0], `master ${other} has the history of master 0`);
      const configs = await Promise.all(admins.map((a) => a.configs()));
      for (const other of [1, 2]) assert.deepEqual(configs[other], configs[0]);
      assert.equal(configs[0].length, views[0].size);

      const resubmitted = masters.reduce((n, m) => n + (m.proc.output().match(/Command submitted again/g) ?? []).length, 0);
      t.diagnostic(
        `acknowledged ${acked.size} of ${COMMANDS_PER_RUN}, killed after ${killAfter}, shell exit ${exit.code}, ` +
          `resubmits answered with the first command: ${resubmitted}`,
      );
    },
  );
}

test('embedded store: a submit repeated with its client id after kill -9 and restart answers with the first command', async () => {
  const data = path.join(work.path, 'embedded');
  let master = await startMasterProc(['--data', data]);
  live.push(master.proc);
  let admin = new AdminClient(master.address);
  const first = await admin.submitOnce('abc-123', 'config', 'once', 'null', 'null');
  assert.equal(await admin.submitOnce('abc-123', 'config', 'once', 'null', 'null'), first);
  await admin.waitDone(first);
  await master.proc.kill9();
  admin.close();
  master = await startMasterProc(['--data', data]);
  live.push(master.proc);
  admin = new AdminClient(master.address);
  try {
    assert.equal(await admin.submitOnce('abc-123', 'config', 'once', 'null', 'null'), first);
    const other = await admin.submitOnce('abc-124', 'config', 'once', 'null', 'null');
    assert.notEqual(other, first);
    const history = (await admin.commands(100)).filter((c) => c.args[0] === 'once');
    assert.deepEqual(
      history.map((c) => c.id),
      [first, other],
    );
  } finally {
    admin.close();
    await master.proc.stop();
  }
});
