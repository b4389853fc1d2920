/**
 * flume-shell against a real master process: every command through `-e`, scripts through
 * `-s` and `source`, commands piped on stdin. A simulated physical node (heartbeats over the
 * real gRPC Master service) gives getnodestatus and waitForNodes* something to report.
 *
 * Tests in this file share one master and run in order; each builds on what the earlier
 * ones configured only where it says so.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, tempDir } from '../harness/procs';
import { RunningMaster, ShellRun, describeRun, runShell, startMaster } from './helpers';
import { SimulatedNode } from './simulated-node';

let master: RunningMaster;
let work: ReturnType<typeof tempDir>;
let env: Record<string, string>;
const nodes: SimulatedNode[] = [];

before(async () => {
  work = tempDir('flume-shell-test-');
  env = { FLUME_SHELL_HISTORY: path.join(work.path, 'history') };
  master = await startMaster();
});

after(async () => {
  for (const n of nodes) n.stop();
  await master?.stop();
  work?.remove();
});

/** `flume-shell -q -c MASTER -e LINE`: only command output on stdout. */
function sh(line: string): Promise<ShellRun> {
  return runShell(['-q', '-c', master.address, '-e', line], { env });
}

/** `flume-shell -c MASTER -e LINE`, progress lines included. */
function shLoud(line: string): Promise<ShellRun> {
  return runShell(['-c', master.address, '-e', line], { env });
}

function ok(run: ShellRun): ShellRun {
  assert.equal(run.code, 0, describeRun(run));
  return run;
}

function failed(run: ShellRun): ShellRun {
  assert.equal(run.code, 1, describeRun(run));
  return run;
}

async function configs(): Promise<string> {
  return ok(await sh('getconfigs')).stdout;
}

test('a master that is not there: clear error naming the address, non-zero exit', async () => {
  const port = await freePort();
  const run = failed(await runShell(['-c', `127.0.0.1:${port}`, '-e', 'getnodestatus'], { env }));
  assert.match(run.stderr, new RegExp(`cannot connect to the master at 127\\.0\\.0\\.1:${port}`));
  const viaCommand = failed(await runShell(['-e', `connect 127.0.0.1:${port}`], { env }));
  assert.match(viaCommand.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
  const notConnected = failed(await runShell(['-e', 'getconfigs'], { env }));
  assert.match(notConnected.stderr, /not connected to a master: use connect HOST\[:PORT\]/);
});

test('connect, then the getters on an empty master', async () => {
  const run = ok(await runShell(['-e', `connect ${master.address}`], { env }));
  assert.match(
    run.stdout,
    new RegExp(`Connected to Flume master ${master.address.replace(/\./g, '\\.')} \\(id=\\S+, store=embedded, leader\\)`),
  );
  assert.equal(ok(await sh('getnodestatus')).stdout, 'Master knows about 0 nodes\n');
  assert.equal(await configs(), 'Master has no logical node configurations.\n');
  assert.match(ok(await sh('getmappings')).stdout, /^No physical \/ logical node mappings\./);
});

test('exec config waits for the result; getconfigs shows it, with and without a flow', async () => {
  const run = ok(await shLoud(`exec config web01 'syslogTcp(5140)' 'console'`));
  assert.match(run.stdout, /^\[id: \d+\] Execing command : config web01 syslogTcp\(5140\) console$/m);
  assert.match(run.stdout, /^Command succeeded/m);
  ok(await sh(`exec config web02 flowB "syslogTcp(5141)" "{ batch(10) => null }"`));
  const lines = (await configs()).trimEnd().split('\n');
  assert.match(lines[0], /^NODE\s+\tFLOW\s*\tSOURCE\s*\tSINK\s*\tVERSION$/);
  assert.match(lines[1], /^web01\s*\tdefault\s*\tsyslogTcp\(5140\)\s*\tconsole\s*\t\d+$/);
  assert.match(lines[2], /^web02\s*\tflowB\s*\tsyslogTcp\(5141\)\s*\t\{ ?batch\(10\) => null ?\}\s*\t\d+$/);
  assert.equal(lines.length, 3);
});

test('exec of a bad spec fails with the line:column, exits 1 and changes nothing', async () => {
  const before = await configs();
  const run = failed(await sh(`exec config web03 'syslogTcp(5142' 'console'`));
  assert.match(run.stderr, /Command failed: .*\d+:\d+/);
  assert.equal(await configs(), before);
});

test('wrong argument counts and unknown names get a usage line and reach nothing', async () => {
  const before = await configs();
  let run = failed(await sh('exec config web04 console'));
  assert.match(run.stderr, /config takes 3 to 4 arguments, got 2\. Usage: exec config NODE \[FLOW\] 'SOURCE' 'SINK'/);
  run = failed(await sh('exec confg web04 a b'));
  assert.match(run.stderr, /Unknown master command 'confg'\. Did you mean 'config'\?/);
  run = failed(await sh('getnodestats'));
  assert.match(run.stderr, /Unknown command 'getnodestats'\. Did you mean 'getnodestatus'\?/);
  run = failed(await sh('wait soon'));
  assert.match(run.stderr, /MILLIS must be a whole number/);
  assert.equal(await configs(), before);
});

test('multiconfig, map, spawn, getmappings [node], unmap, unmapAll', async () => {
  ok(await sh(`exec multiconfig 'agentA : syslogTcp(5150) | console ; agentB : syslogTcp(5151) | null ;'`));
  assert.match(await configs(), /^agentA\s*\tdefault\s*\tsyslogTcp\(5150\)\s*\tconsole/m);
  ok(await sh('exec map phys1 agentA'));
  ok(await sh('exec spawn phys1 agentB'));
  ok(await sh('exec map phys2 web01'));
  let out = ok(await sh('getmappings')).stdout;
  assert.match(out, /^Master has the following mappings\n\nPhysical Node\s+--> Logical Node\(s\)\n/);
  assert.match(out, /^phys1\s+--> \[agentA, agentB\]$/m);
  assert.match(out, /^phys2\s+--> \[web01\]$/m);
  out = ok(await sh('getmappings phys2')).stdout;
  assert.match(out, /^Master has the following mappings for physical node phys2\n/);
  assert.doesNotMatch(out, /phys1/);
  ok(await sh('exec unmap phys1 agentB'));
  assert.match(ok(await sh('getmappings phys1')).stdout, /^phys1\s+--> \[agentA\]$/m);
  const bad = failed(await sh('exec unmap phys1 agentB'));
  assert.match(bad.stderr, /Command failed: .*agentB/);
  ok(await sh('exec unmapAll'));
  assert.match(ok(await sh('getmappings')).stdout, /^No physical \/ logical node mappings\./);
});

test('submit prints the id; wait MILLIS ID reports the outcome; wait alone waits for the newest command', async () => {
  const run = ok(await sh(`submit config web05 'syslogTcp(5160)' null`));
  const m = run.stdout.match(/^\[id: (\d+)\] Submitted command : config web05 syslogTcp\(5160\) null$/m);
  assert.ok(m, describeRun(run));
  const waited = ok(await sh(`wait 30000 ${m[1]}`));
  assert.match(waited.stdout, /^Command succeeded: .*web05/m);
  assert.match(await configs(), /^web05\s/m);
  // A fresh shell has submitted nothing: wait takes the master's newest command (Flume OG).
  const failing = ok(await sh(`submit unconfig nosuchnode`));
  const id = Number(failing.stdout.match(/\[id: (\d+)\]/)![1]);
  assert.ok(id > Number(m[1]));
  assert.match(failed(await sh('wait 0')).stderr, /^Command failed: .*nosuchnode/m);
  assert.match(failed(await sh('wait 1000 999999')).stderr, /Command id 999999 does not exist/);
  const listed = ok(await sh('getcommands 2'))
    .stdout.trimEnd()
    .split('\n');
  assert.match(listed[0], /^ID\s*\tSTATE\s*\tCOMMAND\s*\tMESSAGE$/);
  assert.match(listed[1], new RegExp(`^${m[1]}\\s*\\tSUCCEEDED\\s*\\tconfig web05 syslogTcp\\(5160\\) null\\s*\\t.*web05`));
  assert.match(listed[2], new RegExp(`^${id}\\s*\\tFAILED\\s*\\tunconfig nosuchnode\\s*\\t.*nosuchnode`));
  assert.equal(listed.length, 3);
});

test('decommission, refresh, refreshAll, unconfig, purge, purgeAll', async () => {
  const version = (name: string, text: string): number => Number(text.match(new RegExp(`^${name}\\s.*\\t(\\d+)$`, 'm'))![1]);
  const v1 = version('web01', await configs());
  ok(await sh('exec refresh web01'));
  const v2 = version('web01', await configs());
  assert.ok(v2 > v1, `refresh must raise the version (${v1} -> ${v2})`);
  ok(await sh('exec refreshAll'));
  assert.ok(version('web01', await configs()) > v2);
  ok(await sh('exec unconfig web05'));
  assert.doesNotMatch(await configs(), /^web05\s/m);
  ok(await sh('exec map phys3 web02'));
  ok(await sh('exec decommission web02'));
  assert.doesNotMatch(await configs(), /^web02\s/m);
  assert.match(ok(await sh('getmappings')).stdout, /^No physical \/ logical node mappings\./);
  ok(await sh('exec purge phys3'));
  ok(await sh('exec purgeAll'));
});

test('save and load a spec file on the master', async () => {
  const file = path.join(master.dataDir, 'saved.flume'); // save and load stay inside the master's data dir
  ok(await sh(`exec save '${file}'`));
  const saved = fs.readFileSync(file, 'utf8');
  assert.match(saved, /^web01 : syslogTcp\(5140\) \| console ;$/m);
  ok(await sh('exec unconfig web01'));
  assert.doesNotMatch(await configs(), /^web01\s/m);
  ok(await sh(`exec load '${file}'`));
  assert.match(await configs(), /^web01\s*\tdefault\s*\tsyslogTcp\(5140\)\s*\tconsole/m);
});

test('getnodestatus and waitForNodesActive / waitForNodesDone follow a heartbeating node', async () => {
  const node = new SimulatedNode(master.address, 'physA');
  nodes.push(node);
  node.set('logA', 'ACTIVE', 1);
  node.start();
  ok(await sh('waitForNodesActive 30000 logA'));
  const status = ok(await sh('getnodestatus')).stdout;
  assert.match(status, /^Master knows about \d+ nodes$/m);
  assert.match(status, /^\tphysA --> [A-Z]+$/m);
  assert.match(status, /^\t\tlogA --> ACTIVE$/m);
  const timedOut = failed(await sh('waitForNodesActive 300 logA ghost'));
  assert.match(timedOut.stderr, /timed out after 300 ms; not ACTIVE: ghost \(unknown to the master\)/);
  node.set('logA', 'IDLE', 1);
  const done = ok(await sh('waitForNodesDone 30000 logA'));
  assert.match(done.stdout, /Nodes are done/);
});

test('-s runs a script; the first failure stops it with its line number and exit 1', async () => {
  const good = path.join(work.path, 'good.fsh');
  fs.writeFileSync(
    good,
    [
      '# configure two nodes',
      `exec config s1 'syslogTcp(5170)' console   # trailing comment`,
      '',
      `submit config s2 "syslogTcp(5171)" "null"`,
      'wait 30000',
      'getconfigs',
    ].join('\n') + '\n',
  );
  const run = ok(await runShell(['-c', master.address, '-s', good], { env }));
  assert.match(run.stdout, /^s1\s*\tdefault/m);
  assert.match(run.stdout, /^s2\s*\tdefault/m);

  const bad = path.join(work.path, 'bad.fsh');
  fs.writeFileSync(
    bad,
    [
      `exec config s3 'syslogTcp(5172)' console`,
      `exec config s4 'syslogTcp(5173' console`,
      `exec config s5 'syslogTcp(5174)' console`,
    ].join('\n') + '\n',
  );
  const stopped = failed(await runShell(['-c', master.address, '-s', bad], { env }));
  assert.match(stopped.stderr, new RegExp(`${bad.replace(/[.]/g, '\\.')}:2: stopped at the first failure`));
  const after = await configs();
  assert.match(after, /^s3\s/m);
  assert.doesNotMatch(after, /^s5\s/m, 'the line after the failure must not run');

  const unterminated = path.join(work.path, 'quote.fsh');
  fs.writeFileSync(unterminated, `getconfigs\nexec config s6 'syslogTcp(5175) console\n`);
  const quoteRun = failed(await runShell(['-c', master.address, '-s', unterminated], { env }));
  assert.match(quoteRun.stderr, /quote\.fsh:2:16: unterminated 'literal string'/);

  const continued = path.join(work.path, 'continued.fsh');
  fs.writeFileSync(
    continued,
    [
      `exec multiconfig 'm1 : syslogTcp(5176) | console ; \\`,
      `                 m2 : syslogTcp(5177) | null ;'`,
      'getconfigs',
      `exec config m3 \\`,
      `  'syslogTcp(5178) console`,
    ].join('\n') + '\n',
  );
  const continuedRun = failed(await runShell(['-q', '-c', master.address, '-s', continued], { env }));
  assert.match(continuedRun.stdout, /^m1\s*\tdefault\s*\tsyslogTcp\(5176\)\s*\tconsole/m);
  assert.match(continuedRun.stdout, /^m2\s*\tdefault\s*\tsyslogTcp\(5177\)\s*\tnull/m);
  assert.match(continuedRun.stderr, /continued\.fsh:5:3: unterminated 'literal string'/);
  assert.match(continuedRun.stderr, /continued\.fsh:4: stopped at the first failure \(exec config m3 \.\.\.\)/);

  const missing = failed(await runShell(['-s', path.join(work.path, 'nope.fsh')], { env }));
  assert.match(missing.stderr, /cannot read script .*nope\.fsh: ENOENT/);
});

test('source FILE runs a file from -e and from a script', async () => {
  const inner = path.join(work.path, 'inner.fsh');
  fs.writeFileSync(inner, `exec config src1 'syslogTcp(5180)' console\n`);
  ok(await sh(`source '${inner}'`));
  assert.match(await configs(), /^src1\s/m);
  const selfSourcing = path.join(work.path, 'loop.fsh');
  fs.writeFileSync(selfSourcing, `source '${selfSourcing}'\n`);
  assert.match(failed(await sh(`source '${selfSourcing}'`)).stderr, /nested more than 16 deep/);
});

test('commands piped on stdin run in order; a failure stops them with <stdin>:LINE', async () => {
  const run = ok(
    await runShell(['-c', master.address], {
      env,
      input: `exec config p1 'syslogTcp(5190)' console\ngetconfigs\n`,
    }),
  );
  assert.match(run.stdout, /^p1\s*\tdefault/m);
  assert.doesNotMatch(run.stdout, /\[flume /, 'no prompt when stdin is not a terminal');
  const stopped = failed(
    await runShell(['-c', master.address], {
      env,
      input: `getconfigs\nexec nosuch\nexec config p2 'syslogTcp(5191)' console\n`,
    }),
  );
  assert.match(stopped.stderr, /<stdin>:2: stopped at the first failure/);
  assert.doesNotMatch(await configs(), /^p2\s/m);
});

test('-q prints only command output; help describes commands', async () => {
  const loud = ok(await shLoud("exec config q1 'syslogTcp(5195)' console"));
  assert.match(loud.stdout, /Connecting to Flume master/);
  const quiet = ok(await sh("exec config q1 'syslogTcp(5195)' null"));
  assert.doesNotMatch(quiet.stdout, /Connecting|Execing/);
  assert.match(quiet.stdout, /^Command succeeded/m);
  const help = ok(await runShell(['-e', 'help'], { env })).stdout;
  for (const name of [
    'connect',
    'getnodestatus',
    'getconfigs',
    'getmappings',
    'exec',
    'submit',
    'wait',
    'waitForNodesActive',
    'waitForNodesDone',
    'getcommands',
    'source',
    'help',
    'quit',
    'config',
    'multiconfig',
    'unconfig',
    'map',
    'spawn',
    'unmap',
    'unmapAll',
    'decommission',
    'refresh',
    'refreshAll',
    'purge',
    'purgeAll',
    'save',
    'load',
  ]) {
    assert.match(help, new RegExp(`^    ${name}\\b`, 'm'), `help lists ${name}`);
  }
  assert.match(ok(await runShell(['-e', 'help exec map'], { env })).stdout, /^Usage: exec map PHYSICAL LOGICAL$/m);
  assert.equal(ok(await runShell(['-e', 'quit'], { env })).stdout, '');
});
