/**
 * The interactive shell on a pseudo-terminal against a real master: the prompt shows the
 * connection, TAB completes command names, master commands and node names fetched from the
 * master (checked by what reached the master), history recalls earlier lines in the same
 * session and across sessions (persisted in $FLUME_SHELL_HISTORY), Ctrl-C interrupts a wait.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, tempDir, waitFor } from '../harness/procs';
import { RunningMaster, describeRun, runShell, startMaster } from './helpers';
import { KEY, PtyShell, checkScriptCommand, escapeRegExp } from './pty';
import { SimulatedNode } from './simulated-node';

let master: RunningMaster;
let work: ReturnType<typeof tempDir>;
let env: Record<string, string>;
let node: SimulatedNode;
const shells: PtyShell[] = [];

before(async () => {
  checkScriptCommand();
  work = tempDir('flume-shell-pty-');
  env = { FLUME_SHELL_HISTORY: path.join(work.path, 'history') };
  master = await startMaster();
  node = new SimulatedNode(master.address, 'physTab');
  node.set('webtab01', 'ACTIVE', 1);
  node.start();
  await waitFor(() => node.answered > 0, 30_000, 'the master to answer a heartbeat');
});

after(async () => {
  for (const s of shells) await s.stop();
  node?.stop();
  await master?.stop();
  work?.remove();
});

function openShell(...args: string[]): PtyShell {
  const shell = new PtyShell(args, env);
  shells.push(shell);
  return shell;
}

async function mappings(): Promise<string> {
  const run = await runShell(['-c', master.address, '-e', 'getmappings'], { env });
  assert.equal(run.code, 0, describeRun(run));
  return run.stdout;
}

test('prompt, TAB completion of commands, master commands and node names, history, Ctrl-C', async () => {
  const prompt = `[flume ${master.address}] `;
  const sh = openShell('-c', master.address);
  await sh.expect(/type 'help' for the commands/);
  await sh.expect(new RegExp(escapeRegExp(prompt)));

  // A command name: "getnodest" + TAB runs as getnodestatus.
  let mark = sh.mark();
  await sh.complete('getnodest', mark);
  await sh.expect(/getnodestatus $/, mark);
  sh.type(KEY.ENTER);
  await sh.expect(/Master knows about 1 nodes\n\tphysTab --> [A-Z]+\n/, mark);

  // Node names come from the master (the simulated node is not configured anywhere else).
  mark = sh.mark();
  await sh.complete('exec ma', mark);
  await sh.expect(/exec map $/, mark);
  await sh.complete('physT', mark);
  await sh.expect(/exec map physTab $/, mark);
  await sh.complete('webt', mark);
  await sh.expect(/exec map physTab webtab01 $/, mark);
  sh.type(KEY.ENTER);
  await sh.expect(/Command succeeded/, mark);
  assert.match(await mappings(), /^physTab\s+--> \[webtab01\]$/m, 'the completed names reached the master');

  // Several candidates: TAB completes their common part, TAB again lists them.
  mark = sh.mark();
  await sh.complete('waitF', mark);
  await sh.expect(/waitForNodes$/, mark);
  sh.type(KEY.TAB);
  await sh.expect(/waitForNodesActive\s+waitForNodesDone/, mark);
  sh.type(`Active 0 ghost${KEY.ENTER}`);
  await sh.expect(/Waiting without limit for nodes \[ghost\]/, mark);
  // Ctrl-C interrupts the wait and the shell goes on.
  sh.type(KEY.CTRL_C);
  await sh.expect(/waitForNodesActive: interrupted\n/, mark);
  await sh.expect(new RegExp(`${escapeRegExp(prompt)}$`), mark);

  // History in the session: UP recalls the last line (the interrupted wait), UP again the map.
  mark = sh.mark();
  sh.type(`exec unmap physTab webtab01${KEY.ENTER}`);
  await sh.expect(/Command succeeded/, mark);
  mark = sh.mark();
  sh.type(`${KEY.UP}${KEY.UP}${KEY.UP}`);
  await sh.expect(/exec map physTab webtab01 ?$/, mark);
  sh.type(KEY.ENTER);
  await sh.expect(/Command succeeded/, mark);
  assert.match(await mappings(), /^physTab\s+--> \[webtab01\]$/m, 'the recalled line ran again');

  // A syntax error shows the column.
  mark = sh.mark();
  sh.type(`exec config x 'tail${KEY.ENTER}`);
  await sh.expect(/syntax error at column 15: unterminated 'literal string'/, mark);

  // A trailing backslash continues the command on a '... ' line.
  mark = sh.mark();
  sh.type(`getmappings \\${KEY.ENTER}`);
  await sh.expect(/\n\.\.\. $/, mark);
  sh.type(`physTab${KEY.ENTER}`);
  await sh.expect(/^Master has the following mappings for physical node physTab$/m, mark);

  sh.type(`quit${KEY.ENTER}`);
  const exit = await sh.proc.exited;
  assert.equal(exit.code, 0, sh.screen());

  const history = fs.readFileSync(env.FLUME_SHELL_HISTORY, 'utf8').split('\n');
  for (const line of ['getnodestatus', 'exec map physTab webtab01', 'exec unmap physTab webtab01', 'quit']) {
    assert.ok(history.includes(line), `history file has ${JSON.stringify(line)}:\n${history.join('\n')}`);
  }
});

test('history persists across sessions; Ctrl-D leaves', async () => {
  assert.ok(fs.existsSync(env.FLUME_SHELL_HISTORY), 'the first test wrote the history file');
  await runShell(['-c', master.address, '-e', 'exec unmapAll'], { env });
  const sh = openShell('-c', master.address);
  await sh.expect(/\[flume [^\]]+\] $/);
  // The newest entries: quit, the continued getmappings (two lines), the config with a syntax
  // error, then the map.
  const mark = sh.mark();
  sh.type(`${KEY.UP}${KEY.UP}${KEY.UP}${KEY.UP}`);
  await sh.expect(/exec config x 'tail$/, mark);
  sh.type(KEY.UP);
  await sh.expect(/exec map physTab webtab01 ?$/, mark);
  sh.type(KEY.ENTER);
  await sh.expect(/Command succeeded/, mark);
  assert.match(await mappings(), /^physTab\s+--> \[webtab01\]$/m);
  sh.type(KEY.CTRL_D);
  const exit = await sh.proc.exited;
  assert.equal(exit.code, 0, sh.screen());
});

test('a master that does not answer at start: the session stays open, disconnected, until connect', async () => {
  const dead = `127.0.0.1:${await freePort()}`;
  const sh = openShell('-c', dead);
  await sh.expect(new RegExp(`cannot connect to the master at ${escapeRegExp(dead)}`));
  await sh.expect(/\[flume \(disconnected\)\] $/);
  let mark = sh.mark();
  sh.type(`getconfigs${KEY.ENTER}`);
  await sh.expect(/not connected to a master/, mark);
  mark = sh.mark();
  sh.type(`connect ${master.address}${KEY.ENTER}`);
  await sh.expect(new RegExp(`\\[flume ${escapeRegExp(master.address)}\\] $`), mark);
  sh.type(`exit${KEY.ENTER}`);
  assert.equal((await sh.proc.exited).code, 0, sh.screen());
});

test('Ctrl-C during a sourced file stops the whole file', async () => {
  const file = path.join(work.path, 'interrupted.fsh');
  fs.writeFileSync(file, `waitForNodesActive 0 ghost\nexec config afterCtrlC 'syslogTcp(5300)' null\n`);
  const sh = openShell('-c', master.address);
  await sh.expect(/\[flume [^\]]+\] $/);
  const mark = sh.mark();
  sh.type(`source ${file}${KEY.ENTER}`);
  await sh.expect(/Waiting without limit for nodes \[ghost\]/, mark);
  sh.type(KEY.CTRL_C);
  await sh.expect(/waitForNodesActive: interrupted\n.*interrupted\.fsh:1: stopped at the first failure/, mark);
  sh.type(`getconfigs${KEY.ENTER}`);
  await sh.expect(/Master has no logical node configurations\.|NODE\s/, mark);
  assert.doesNotMatch(sh.screen(mark), /afterCtrlC/);
  sh.type(`quit${KEY.ENTER}`);
  assert.equal((await sh.proc.exited).code, 0, sh.screen());
});

test('-q: no banner and no prompt on the terminal either', async () => {
  const sh = openShell('-q', '-c', master.address);
  sh.type(`getconfigs${KEY.ENTER}`);
  await sh.expect(/Master has no logical node configurations\.|NODE\s/);
  sh.type(`quit${KEY.ENTER}`);
  await sh.proc.exited;
  assert.doesNotMatch(sh.screen(), /\[flume |type 'help'/);
});
