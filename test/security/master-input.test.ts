/**
 * What a client can make a master do with its input, with a real master, shell and node binary:
 * - a master started without --host listens on loopback only; `--host 0.0.0.0` opens it;
 * - `exec save` and `exec load` stay inside the master's data dir, and a refused load does not
 *   echo the file it was pointed at;
 * - a spec nested 5000 deep is refused with line:col naming the limit, by `flume-node validate`,
 *   by the master (nothing is stored, so no node ever sees it) and as the shell shows it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, spawnFlume, tempDir, type Proc } from '../harness/procs';
import { describeRun, runShell, startMaster } from '../shell/helpers';

const work = tempDir('flume-master-input-');
const procs: Proc[] = [];
after(async () => {
  for (const p of procs) await p.stop();
  work.remove();
});

/** Whether a TCP connection to host:port is accepted. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** An IPv4 address of this machine other than loopback, if it has one. */
function outsideAddress(): string | undefined {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

async function startOn(extra: string[]): Promise<{ proc: Proc; port: number; httpPort: number }> {
  const [port, httpPort] = [await freePort(), await freePort()];
  const data = fs.mkdtempSync(path.join(work.path, 'm-'));
  const proc = spawnFlume('master', ['start', '--port', String(port), '--http-port', String(httpPort), '--data', data, ...extra]);
  procs.push(proc);
  await proc.waitForLine(/Master started\./, 60_000);
  return { proc, port, httpPort };
}

test('a master listens on loopback unless told otherwise', async (t) => {
  const outside = outsideAddress();
  const plain = await startOn([]);
  assert.equal(await connects('127.0.0.1', plain.port), true);
  assert.equal(await connects('127.0.0.1', plain.httpPort), true);
  if (outside === undefined) {
    t.diagnostic('this machine has no address but loopback: the "not on other interfaces" half is not checked');
    return;
  }
  assert.equal(await connects(outside, plain.port), false, `gRPC port open on ${outside}`);
  assert.equal(await connects(outside, plain.httpPort), false, `HTTP port open on ${outside}`);
  const open = await startOn(['--host', '0.0.0.0']);
  assert.equal(await connects(outside, open.port), true);
  assert.equal(await connects(outside, open.httpPort), true);
});

test("save and load stay inside the master's data dir; a refused load echoes nothing of the file", async () => {
  const master = await startMaster();
  try {
    const sh = (line: string) =>
      runShell(['-q', '-c', master.address, '-e', line], { env: { FLUME_SHELL_HISTORY: path.join(work.path, 'history') } });
    const secret = path.join(work.path, 'secret.flume');
    fs.writeFileSync(secret, 'root:x:0:0:hidden words\n');
    const elsewhere = path.join(work.path, 'written-by-save.flume');
    for (const [line, target] of [
      [`exec save '${elsewhere}'`, elsewhere],
      [`exec save '../escape.flume'`, '../escape.flume'],
      [`exec load '${secret}'`, secret],
      ['exec load /etc/passwd', '/etc/passwd'],
      [`exec load '../../../../../../etc/passwd'`, '../../../../../../etc/passwd'],
    ]) {
      const run = await sh(line);
      const said = run.stdout + run.stderr;
      assert.notEqual(run.code, 0, describeRun(run));
      assert.ok(said.includes(`${JSON.stringify(target)} is outside the master's data dir`), `${line}:\n${said}`);
      assert.doesNotMatch(said, /root:|hidden words|\/bin\/(ba)?sh/, `${line} echoed the file:\n${said}`);
    }
    assert.equal(fs.existsSync(elsewhere), false);
    assert.equal(fs.existsSync(path.join(path.dirname(master.dataDir), 'escape.flume')), false);
    const inside = await sh('exec save specs/all.flume');
    assert.equal(inside.code, 0, describeRun(inside));
    assert.ok(fs.existsSync(path.join(master.dataDir, 'specs', 'all.flume')));
  } finally {
    await master.stop();
  }
});

const DEPTH = 5000;
const deepSink = `${'['.repeat(DEPTH)}null${']'.repeat(DEPTH)}`;
const LIMIT_ERROR = /1:\d+: sinks nested deeper than 100 levels \(the limit\)/;

test(`a spec nested ${DEPTH} deep is refused with line:col by flume-node validate, the master and the shell`, async () => {
  const specFile = path.join(work.path, 'deep.flume');
  fs.writeFileSync(specFile, `deep : synth(1) | ${deepSink} ;\n`);
  const validate = spawnFlume('node', ['validate', specFile]);
  procs.push(validate);
  assert.equal((await validate.exited).code, 1, validate.tail());
  assert.match(validate.tail(), new RegExp(`${specFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${LIMIT_ERROR.source}`));
  assert.doesNotMatch(validate.tail(), /Maximum call stack/);

  const master = await startMaster();
  try {
    const sh = (line: string) =>
      runShell(['-q', '-c', master.address, '-e', line], { env: { FLUME_SHELL_HISTORY: path.join(work.path, 'history') } });
    for (const line of [`exec config deep 'synth(1)' '${deepSink}'`, `exec multiconfig 'deep : synth(1) | ${deepSink} ;'`]) {
      const run = await sh(line);
      assert.notEqual(run.code, 0, describeRun(run));
      assert.match(run.stdout + run.stderr, LIMIT_ERROR);
      assert.doesNotMatch(run.stdout + run.stderr, /Maximum call stack/);
    }
    const configs = await sh('getconfigs');
    assert.equal(configs.code, 0, describeRun(configs));
    assert.doesNotMatch(configs.stdout, /^deep\s/m, 'the master stored the deep spec');
    // The master is still answering, and takes a sane spec.
    const sane = await sh(`exec config deep 'synth(1)' '${'['.repeat(50)}null${']'.repeat(50)}'`);
    assert.equal(sane.code, 0, describeRun(sane));
  } finally {
    await master.stop();
  }
});
