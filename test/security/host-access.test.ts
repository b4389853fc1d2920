/**
 * A master command alone cannot make a node run a program or read a file its own site config
 * does not allow (issue 14, item 5), with a real master, real nodes and the real shell:
 * - by default a node refuses `exec("touch F")`: the master takes the config, the node reports
 *   the logical node ERROR with a reason naming node.allow_exec, and F is never created;
 * - a node whose site config lists `["echo allowed"]` runs exactly that, and refuses another command;
 * - a node with node.read_paths set refuses `text`/`tail` of files outside it, `..` and symlinks included;
 * - a node writes files (text, collectorSink, escapedFile, customdfs) only under node.write_paths,
 *   by default its data dir alone; a template that climbs out after an escape is refused too;
 * - standalone, the refusal is a line:col problem and exit status 1.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnFlume, tempDir, waitFor, type Proc } from '../harness/procs';
import { describeRun, runShell, startMaster, type RunningMaster, type ShellRun } from '../shell/helpers';

let master: RunningMaster;
let work: ReturnType<typeof tempDir>;
const nodes: Proc[] = [];

before(async () => {
  work = tempDir('flume-host-access-');
  master = await startMaster();
});

after(async () => {
  for (const n of nodes) await n.stop();
  await master?.stop();
  work?.remove();
});

const file = (...parts: string[]): string => path.join(work.path, ...parts);

function node(name: string, env: Record<string, string> = {}): Proc {
  const p = spawnFlume('node', ['--role', 'agent', '--master', master.address, '-n', name, '--data', file('data', name)], {
    env,
    label: name,
  });
  nodes.push(p);
  return p;
}

async function sh(line: string): Promise<ShellRun> {
  const run = await runShell(['-q', '-c', master.address, '-e', line], { env: { FLUME_SHELL_HISTORY: file('history') } });
  assert.equal(run.code, 0, describeRun(run));
  return run;
}

/** Waits until getnodestatus shows `logical` in `state`, and returns its line. */
async function statusLine(logical: string, state: string, detail: RegExp): Promise<string> {
  let last = '';
  return waitFor(
    async () => {
      last = (await sh('getnodestatus')).stdout;
      // A multi-line reason continues on lines that do not start with a tab.
      const line = last
        .replace(/\n(?!\t|$)/g, ' ')
        .split('\n')
        .find((l) => l.startsWith(`\t\t${logical} --> `));
      return line !== undefined && line.includes(`--> ${state}`) && detail.test(line) ? line : undefined;
    },
    60_000,
    `${logical} ${state} matching ${detail}`,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nlast getnodestatus:\n${last}`);
  });
}

test('by default a node refuses a program a master sends it, says why in its status, and runs nothing', async () => {
  node('plain');
  const marker = file('pwned');
  await sh(`exec config evil 'exec("touch ${marker}")' 'null'`);
  await sh('exec map plain evil');
  const line = await statusLine('evil', 'ERROR', /node\.allow_exec = false/);
  assert.match(line, /1:1: exec: this node does not run programs/);
  for (const source of [`execPeriodic("touch ${marker}", 100)`, `execStream("touch ${marker}")`]) {
    await sh(`exec config evil '${source}' 'null'`);
    await statusLine('evil', 'ERROR', new RegExp(`${source.slice(0, source.indexOf('('))}: this node does not run programs`));
  }
  assert.equal(fs.existsSync(marker), false, 'the command ran');
});

test('a node that lists commands runs exactly those and refuses any other', async () => {
  const out = file('allowed.out');
  const allowed = `echo allowed >> ${out}`;
  node('lister', { FLUME_NODE_ALLOW_EXEC: JSON.stringify([allowed]) });
  await sh(`exec config listed 'execStream("${allowed}")' 'null'`);
  await sh('exec map lister listed');
  await waitFor(() => fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('allowed'), 60_000, 'the allowed command to run');
  const marker = file('other');
  await sh(`exec config listed 'exec("${allowed}; touch ${marker}")' 'null'`);
  await statusLine('listed', 'ERROR', /is not one of the commands its site config's node\.allow_exec lists/);
  assert.equal(fs.existsSync(marker), false);
});

test('a node with node.read_paths refuses to read files outside them, through .. or a symlink too', async () => {
  const logs = file('logs');
  fs.mkdirSync(logs, { recursive: true });
  fs.writeFileSync(file('secret'), 'top secret\n');
  fs.symlinkSync(file('secret'), path.join(logs, 'link'));
  fs.writeFileSync(path.join(logs, 'app.log'), 'fine\n');
  node('reader', { FLUME_NODE_READ_PATHS: logs });
  await sh('exec map reader read');
  const escape = (t: string): string => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  for (const [kind, target] of [
    ['text', file('secret')],
    ['tail', `${logs}/../secret`],
    ['text', `${logs}/link`],
    ['tailDir', work.path],
  ]) {
    await sh(`exec config read '${kind}("${target}")' 'null'`);
    // Each reason names its path: a match is this config's refusal, not the previous one's.
    await statusLine(
      'read',
      'ERROR',
      new RegExp(
        `${kind}: this node does not read ${escape(JSON.stringify(target))}: it is outside the directories its site config's node\\.read_paths allows`,
      ),
    );
  }
  await sh(`exec config read 'tail("${logs}/app.log")' 'null'`);
  await statusLine('read', 'ACTIVE', /.*/);
});

test('sinks write only under node.write_paths (by default the data dir): a config writing elsewhere is refused and writes nothing', async () => {
  const input = file('write-input.txt');
  fs.writeFileSync(input, 'one\ntwo\n');
  const escape = (t: string): string => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const refusedLine = (kind: string, target: string): RegExp =>
    new RegExp(
      `${kind}: this node does not write ${escape(JSON.stringify(target))}: it is outside the directories its site config's node\\.write_paths allows`,
    );

  // The default: no node.write_paths (the test harness sets one for its nodes; unset it here).
  node('writer', { FLUME_NODE_WRITE_PATHS: undefined as unknown as string });
  await sh('exec map writer written');
  const outside = file('elsewhere', 'out.txt');
  await sh(`exec config written 'text("${input}")' 'text("${outside}")'`);
  await statusLine('written', 'ERROR', refusedLine('text', outside));
  const inside = file('data', 'writer', 'out.txt');
  await sh(`exec config written 'text("${input}")' 'text("${inside}")'`);
  await statusLine('written', 'ACTIVE', /.*/);
  await waitFor(() => fs.existsSync(inside) && fs.readFileSync(inside, 'utf8').includes('two'), 60_000, 'the lines in the data dir');

  // A collector that lists its storage root.
  const store = file('store');
  node('storer', { FLUME_NODE_WRITE_PATHS: store });
  await sh('exec map storer stored');
  for (const [kind, args, target] of [
    ['collectorSink', `"file://${file('other')}/%Y/", "x-"`, `file://${file('other')}/%Y/x-`],
    ['escapedFile', `"${store}/", "../x-%{host}"`, `${store}/../x-%{host}`],
    ['collectorSink', `"${store}/%{host}/../../", "x-"`, `${store}/%{host}/../../x-`],
    ['customdfs', `"/etc/flume-%{host}"`, '/etc/flume-%{host}'],
  ]) {
    await sh(`exec config stored 'text("${input}")' '${kind}(${args})'`);
    await statusLine('stored', 'ERROR', refusedLine(kind, target));
  }
  await sh(`exec config stored 'text("${input}")' 'collectorSink("file://${store}/%Y/", "x-", 100)'`);
  await statusLine('stored', 'ACTIVE', /.*/);
  await waitFor(() => fs.existsSync(store) && fs.readdirSync(store).some((d) => /^\d{4}$/.test(d)), 60_000, 'storage under the root');
  for (const gone of [outside, file('other'), file('x-'), file('x-writer')])
    assert.equal(fs.existsSync(gone), false, `${gone} was written`);
});

test('standalone, a refused program is a line:col problem and the node exits 1 without running it', async () => {
  const marker = file('standalone-pwned');
  const p = spawnFlume('node', [
    '--standalone',
    '-n',
    'solo',
    '-c',
    `solo : exec("touch ${marker}") | null ;`,
    '--data',
    file('data', 'solo'),
  ]);
  nodes.push(p);
  const status = await p.exited;
  assert.equal(status.code, 1);
  assert.match(p.tail(), /config:1:8: exec: this node does not run programs: its site config has node\.allow_exec = false/);
  assert.equal(fs.existsSync(marker), false);
});
