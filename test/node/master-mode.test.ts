/**
 * flume-node under a master: a real `flume-master` and a real `flume-node --master` process.
 * The node runs what the master maps to it, reports it ACTIVE, and applies a new config by
 * diff: the logical node whose spec did not change keeps running, with no gap in its output.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { spawnFlume, tempDir, waitFor, type Proc } from '../harness/procs';
import { AdminClient, startMasterProc, type MasterProc } from '../master/helpers';

const dir = tempDir('flume-master-mode-');
let master: MasterProc;
let admin: AdminClient;
let node: Proc;

const file = (name: string): string => path.join(dir.path, name);
const lines = (name: string): string[] =>
  fs.existsSync(file(name)) ? fs.readFileSync(file(name), 'utf8').split('\n').filter(Boolean) : [];

before(async () => {
  master = await startMasterProc(['--data', file('master'), '--heartbeat-ms', '200']);
  admin = new AdminClient(master.address);
  node = spawnFlume('node', ['--master', master.address, '-n', 'phys1', '--role', 'agent', '--data', file('node')]);
});

after(async () => {
  await node?.stop();
  admin?.close();
  await master?.proc.stop();
  dir.remove();
});

async function execOk(command: string, ...args: string[]): Promise<void> {
  const status = await admin.exec(command, ...args);
  assert.equal(status.state, 2, `${command} ${args.join(' ')} failed: ${status.message}`);
}

async function logicalState(name: string): Promise<string | undefined> {
  const phys = (await admin.nodes()).find((n) => n.physical === 'phys1');
  return phys?.logical.find((l) => l.name === name)?.state as unknown as string | undefined;
}

test('a node runs what its master maps to it and applies a new config by diff', { timeout: 120_000 }, async () => {
  fs.writeFileSync(file('a.log'), '');
  fs.writeFileSync(file('b.log'), '');
  await execOk('spawn', 'phys1', 'lnA');
  await execOk('spawn', 'phys1', 'lnB');
  await execOk('config', 'lnA', `tail("${file('a.log')}")`, `text("${file('outA')}")`);
  await execOk('config', 'lnB', `tail("${file('b.log')}")`, `text("${file('outB')}")`);

  // Lines keep arriving at lnA through the whole reconfiguration.
  let written = 0;
  const writer = setInterval(() => {
    const batch: string[] = [];
    for (let i = 0; i < 50; i++) batch.push(`a-${String(++written).padStart(7, '0')}`);
    fs.appendFileSync(file('a.log'), batch.join('\n') + '\n');
  }, 20);
  try {
    fs.appendFileSync(file('b.log'), 'b-1\nb-2\n');
    await waitFor(() => lines('outB').length === 2, 30_000, 'lnB to copy its lines');
    await waitFor(() => lines('outA').length > 200, 30_000, 'lnA to copy lines');
    await waitFor(async () => (await logicalState('lnA')) !== undefined, 15_000, 'lnA to be reported');
    const nodes = await admin.nodes();
    const phys = nodes.find((n) => n.physical === 'phys1');
    assert.ok(phys, 'the master knows the node');

    const openedA = (): number => (node.output().match(/\[node\.lnA\] logical node opened/g) ?? []).length;
    assert.equal(openedA(), 1);
    await execOk('config', 'lnB', `tail("${file('b.log')}")`, `text("${file('outB2')}")`);
    // Log values are logfmt: the spec's quotes come escaped.
    await waitFor(() => /\[node\.lnB\] logical node opened .*outB2/.test(node.output()), 30_000, 'lnB to be reopened with its new sink');
    fs.appendFileSync(file('b.log'), 'b-3\n');
    await waitFor(() => lines('outB2').includes('b-3'), 30_000, 'lnB to write to its new sink');
    assert.deepEqual([...lines('outB'), ...lines('outB2')], ['b-1', 'b-2', 'b-3'], 'the reopened tail goes on where it was');
    assert.equal(openedA(), 1, 'lnA kept running: its spec did not change');
  } catch (err) {
    throw new Error(`${(err as Error).message}\nnode output:\n${node.tail(30)}`);
  } finally {
    clearInterval(writer);
  }
  await waitFor(() => lines('outA').length === written, 30_000, `lnA to copy all ${written} lines`);
  const out = lines('outA');
  for (let i = 0; i < out.length; i++) assert.equal(out[i], `a-${String(i + 1).padStart(7, '0')}`, `line ${i + 1} of outA`);

  await execOk('unmap', 'phys1', 'lnB');
  await waitFor(() => /\[node\.lnB\] logical node closed/.test(node.output()), 30_000, 'lnB to close when unmapped');
});
