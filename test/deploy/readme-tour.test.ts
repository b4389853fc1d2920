/**
 * The README's tour, pasted: every command of its "A five-minute tour" section runs as written
 * (`npx flume-X` as `node bin/flume-X.js`, the fixed ports swapped for free ones, the master's
 * via FLUME_MASTER_PORT / FLUME_MASTER_HTTP_PORT) in a fresh directory holding the files the
 * tour names, and the lines the tour tails arrive in the collector's storage, each once.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { freePort, Proc, REPO_ROOT, tempDir, waitFor } from '../harness/procs';
import { storageLines } from '../harness/storage';

/** The indented command lines of the section, block by block, comments and blank lines dropped. */
function tourBlocks(): string[][] {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## A five-minute tour'), readme.indexOf('\n## ', readme.indexOf('## A five-minute tour')));
  const blocks: string[][] = [];
  let block: string[] | undefined;
  for (const line of section.split('\n')) {
    if (/^ {4}\S/.test(line)) {
      if (!block) blocks.push((block = []));
      block.push(line.trim().replace(/\s+#\s.*$/, ''));
    } else if (line.trim() !== '') block = undefined;
  }
  return blocks;
}

const dir = tempDir('flume-readme-');
const procs: Proc[] = [];
after(async () => {
  await Promise.all(procs.reverse().map((p) => p.stop()));
  dir.remove();
});

test("the README's tour works as pasted and moves lines to storage", async () => {
  const [masterPort, httpPort, collectorPort] = [await freePort(), await freePort(), await freePort()];
  const ports: Record<string, number> = { 35873: masterPort, 35871: httpPort, 35853: collectorPort };
  const asRun = (cmd: string): string =>
    cmd
      .replace(/\bnpx (flume-\w+)/g, (_, bin: string) => `${JSON.stringify(process.execPath)} ${path.join(REPO_ROOT, 'bin', bin)}.js`)
      .replace(/\b(35873|35871|35853)\b/g, (p) => String(ports[p]));
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    FLUME_MASTER_PORT: String(masterPort),
    FLUME_MASTER_HTTP_PORT: String(httpPort),
  };
  for (const k of Object.keys(env)) if (k.startsWith('FLUME_TLS_') || k === 'FLUME_ADMIN_TOKEN_FILE') delete env[k];
  fs.symlinkSync(path.join(REPO_ROOT, 'package.json'), path.join(dir.path, 'package.json'));
  fs.symlinkSync(path.join(REPO_ROOT, 'deploy'), path.join(dir.path, 'deploy'));
  const run = (cmd: string): string => {
    const r = spawnSync('bash', ['-c', `set -e; ${asRun(cmd)}`], { cwd: dir.path, env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `${cmd}\nexited ${r.status}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const background = (cmd: string): Proc => {
    const p = new Proc('bash', ['-c', `exec ${asRun(cmd)}`], { cwd: dir.path, env, label: cmd.split(' ').slice(0, 3).join(' ') });
    procs.push(p);
    return p;
  };

  const blocks = tourBlocks();
  const find = (pattern: RegExp): string[] => {
    const b = blocks.find((lines) => lines.some((l) => pattern.test(l)));
    assert.ok(b, `the tour has no command matching ${pattern}`);
    return b;
  };
  // Certificates: the block's export carries into every later command, as in the user's terminal.
  const certs = find(/flume-certs init/);
  const exported = run(`${certs.join('\n')}\nenv | grep ^FLUME_TLS_`);
  for (const line of exported.trim().split('\n')) env[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
  assert.ok(env.FLUME_TLS_DIR, 'the certificate block exports FLUME_TLS_DIR');

  const master = background(find(/flume-master start/)[0]);
  await master.waitForLine(/Master started/, 30_000);
  for (const cmd of find(/flume-node --role collector/)) background(cmd);

  const standalone = find(/--standalone/)[0];
  assert.match(run(standalone), /"name": "flume-ts"/, 'the standalone flow prints package.json');

  const shell = find(/flume-shell -c .* -e/);
  for (const cmd of shell.filter((c) => c.includes(' -e '))) run(cmd);
  fs.mkdirSync(path.join(dir.path, 'data'), { recursive: true });
  fs.writeFileSync(path.join(dir.path, 'data', 'app.log'), '');
  const inside = find(/^exec config /);
  for (const command of inside) run(`npx flume-shell -c 127.0.0.1:35873 -e ${shellQuote(command)}`);

  const lines = Array.from({ length: 1000 }, (_, i) => `tour line ${i}`);
  fs.appendFileSync(path.join(dir.path, 'data', 'app.log'), lines.join('\n') + '\n');
  const storage = path.join(dir.path, 'data', 'collector1', 'logs');
  const stored = await waitFor(
    () => {
      const got = storageLines(storage).filter((l) => l.includes('tour line'));
      return got.length >= lines.length ? got : undefined;
    },
    60_000,
    'the tailed lines in data/collector1/logs/',
  );
  assert.equal(stored.length, lines.length, 'each line stored once');
  assert.equal(new Set(stored.map((l) => l.slice(l.indexOf('tour line')))).size, lines.length);
});

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
