/**
 * deploy/local-ha.sh for real: a three-server ZooKeeper ensemble, three masters, two collectors
 * and three agents on loopback. With it up, getnodestatus through EACH master lists all five
 * nodes ACTIVE and the generated lines reach storage (per agent lines 1..k, each once); `stop` ends every
 * process whose pid the script recorded.
 *
 * Skipped (with the reason) while `flume-node --master` mode is not built, or the tier's
 * components (collectorSource, autoE2EChain) are not in the node catalog.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { ComponentKind } from '../../core/registry';
import { defaultRegistry } from '../../node/components';
import { REPO_ROOT, waitFor } from '../harness/procs';
import { storageLines } from '../harness/storage';
import { requireZooKeeper } from '../harness/zk';

const run = promisify(execFile);
const SCRIPT = path.join(REPO_ROOT, 'deploy', 'local-ha.sh');
const NODES = ['agent1', 'agent2', 'agent3', 'coll1', 'coll2'];

/** Why the test cannot run yet, or undefined. */
function notBuiltReason(dir: string): string | undefined {
  // The flow local-ha.sh configures needs the tier's components in the node catalog.
  const registry = defaultRegistry();
  const missing = [
    ['source', 'collectorSource'],
    ['sink', 'autoE2EChain'],
  ].filter(([kind, name]) => registry.lookup(kind as ComponentKind, name) === undefined);
  if (missing.length > 0)
    return `the agent/collector tier components are not registered yet (${missing.map(([, n]) => n).join(', ')}); local-ha.sh's flow needs them`;
  const probe = spawnSync(
    process.execPath,
    [path.join(REPO_ROOT, 'bin', 'flume-node.js'), '--role', 'agent', '--master', 'x', '-n', 'probe', '--data', dir],
    {
      encoding: 'utf8',
      timeout: 10_000,
      killSignal: 'SIGKILL',
    },
  );
  return /not built yet/.test(`${probe.stdout}${probe.stderr}`)
    ? 'flume-node --master mode is not built yet (node/master-client.ts runMasterMode); local-ha.sh needs it'
    : undefined;
}

/** `\tNAME --> STATE` lines of getnodestatus: physical node → state. */
function nodeStates(text: string): Map<string, string> {
  const states = new Map<string, string>();
  for (const m of text.matchAll(/^\t([^\t\s]+) --> (\w+)/gm)) states.set(m[1], m[2]);
  return states;
}

function readPids(runDir: string): Map<string, number> {
  const pids = new Map<string, number>();
  for (const f of fs.readdirSync(runDir).filter((f) => f.endsWith('.pid')))
    pids.set(f.slice(0, -4), Number(fs.readFileSync(path.join(runDir, f), 'utf8')));
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test(
  'local-ha.sh starts an HA cluster whose every master sees all nodes ACTIVE, and stop ends every process',
  { timeout: 280_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-local-ha-'));
    const reason = notBuiltReason(path.join(dir, 'probe'));
    if (reason !== undefined) {
      fs.rmSync(dir, { recursive: true, force: true });
      t.skip(reason);
      return;
    }
    requireZooKeeper();
    const env = { ...process.env, FLUME_HA_DIR: dir, FLUME_HA_TIMEOUT: '90', FLUME_HA_GRACE: '15' };
    const runDir = path.join(dir, 'run');
    let pids = new Map<string, number>();
    t.after(async () => {
      // Whatever happened: the script's own stop, then KILL any pid it recorded that still lives.
      await run('bash', [SCRIPT, 'stop'], { env, timeout: 120_000 }).catch(() => undefined);
      if (fs.existsSync(runDir)) for (const [k, v] of readPids(runDir)) pids.set(k, v);
      for (const pid of pids.values()) if (alive(pid)) process.kill(pid, 'SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const started = await run('bash', [SCRIPT, 'start'], { env, timeout: 150_000 }).catch(
      (err: { stdout?: string; stderr?: string; message: string }) => {
        assert.fail(`local-ha.sh start failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
      },
    );
    assert.match(started.stdout, /12 of 12 processes running/);
    pids = readPids(runDir);
    assert.deepEqual([...pids.keys()].sort(), [
      'agent1',
      'agent2',
      'agent3',
      'coll1',
      'coll2',
      'gen',
      'master1',
      'master2',
      'master3',
      'zk1',
      'zk2',
      'zk3',
    ]);

    // The script made its CA and the operator's admin certificate on first start (mutual TLS by default).
    const certs = path.join(dir, 'certs');
    assert.ok(fs.existsSync(path.join(certs, 'ca.crt')), 'local-ha.sh created its CA');
    const operatorTls = [
      '--ca',
      path.join(certs, 'ca.crt'),
      '--cert',
      path.join(certs, 'admin-operator.crt'),
      '--key',
      path.join(certs, 'admin-operator.key'),
    ];
    const ports = fs.readFileSync(path.join(dir, 'ports.env'), 'utf8');
    const masterPorts = /^MASTER_PORTS='([\d ]+)'$/m.exec(ports)![1].split(' ');
    assert.equal(masterPorts.length, 3);
    for (const port of masterPorts) {
      let last = '';
      await waitFor(
        async () => {
          const out = await run(
            process.execPath,
            [path.join(REPO_ROOT, 'bin', 'flume-shell.js'), ...operatorTls, '-c', `127.0.0.1:${port}`, '-e', 'getnodestatus'],
            { timeout: 30_000 },
          ).then(
            (r) => r.stdout,
            () => '',
          );
          last = out;
          const states = nodeStates(out);
          return NODES.every((n) => states.get(n) === 'ACTIVE') ? states : undefined;
        },
        60_000,
        `all five nodes ACTIVE through the master on port ${port}`,
      ).catch((err: Error) => {
        assert.fail(`${err.message}; last getnodestatus:\n${last}`);
      });
    }

    // The flow works: lines of every agent land in storage.
    const storage = path.join(dir, 'data');
    await waitFor(
      () => {
        const lines = storageLines(storage);
        return ['agent1', 'agent2', 'agent3'].every((a) => lines.some((l) => l.includes(` ${a} line `))) || undefined;
      },
      60_000,
      'lines of every agent in storage',
    );

    const stopped = await run('bash', [SCRIPT, 'stop'], { env, timeout: 100_000 });
    assert.match(stopped.stdout, /all stopped/);
    const survivors = [...pids].filter(([, pid]) => alive(pid));
    assert.deepEqual(survivors, [], 'every recorded process has ended');
    assert.deepEqual(
      fs.readdirSync(runDir).filter((f) => f.endsWith('.pid')),
      [],
      'pid files removed',
    );

    // What reached storage: per agent, lines 1..k, each once (none lost in the middle, no duplicate).
    const lines = storageLines(storage);
    for (const agent of ['agent1', 'agent2', 'agent3']) {
      const numbers = lines
        .map((l) => new RegExp(` ${agent} line (\\d+)$`).exec(l))
        .filter((m) => m !== null)
        .map((m) => Number(m[1]));
      numbers.sort((a, b) => a - b);
      const generated = fs.readFileSync(path.join(dir, 'gen', `${agent}.log`), 'utf8').split('\n').length - 1;
      t.diagnostic(`${agent}: ${numbers.length} lines stored of ${generated} generated`);
      assert.ok(numbers.length > 0, `${agent} has lines in storage`);
      const wrong = numbers.filter((n, i) => n !== i + 1);
      assert.deepEqual(wrong.slice(0, 10), [], `${agent}: stored lines are 1..${numbers.length}, each once (first out of place shown)`);
    }
  },
);
