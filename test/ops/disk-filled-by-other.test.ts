/**
 * Nodes whose data dirs are on a disk that something else filled to 0 bytes free, with real
 * processes (a 16 MB tmpfs; needs root, CI runs as root): the WAL's floor (core/wal/disk-space.ts)
 * is gone, so every small file a node writes at the start (lock, sequence block, WAL checkpoint
 * and segment, tail position) meets ENOSPC. The collector (its storage elsewhere) opens and
 * listens there; the agent opens anyway, on its first start and when restarted there, says the
 * disk is full (a log line and /status), holds its tail back, and resumes by itself when the
 * other file is deleted; every line arrives exactly once.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { freePort, httpGet, type Proc, statusBase, tempDir, waitFor } from '../harness/procs';
import { Scene } from '../harness/scene';
import { storageLines } from '../harness/storage';
import { type Tmpfs, mountTmpfs, tmpfsSkip } from '../harness/tmpfs';

const skip = tmpfsSkip() ?? false;
// The mount point is outside the scene's dir, unmounted (lazily) before that dir is removed.
const mnt = tempDir('flume-disk-other-mnt-');
let disk: Tmpfs | null = null;
after(() => {
  disk?.unmount();
  mnt.remove();
});
const scene = new Scene('flume-disk-other-');
const file = (...parts: string[]): string => scene.file(...parts);

const line = (n: number): string => `other ${String(n).padStart(6, '0')} ${'y'.repeat(60)}`;
const appendLines = (input: string, from: number, to: number): void => {
  const out: string[] = [];
  for (let n = from; n <= to; n++) out.push(line(n));
  fs.appendFileSync(input, out.join('\n') + '\n');
};

/** Fills the file system of `dir` to 0 bytes free with `dir/filler`. */
function fill(dir: string, t: Tmpfs): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'a');
  try {
    for (const size of [1024 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 0x61);
      for (;;) {
        try {
          fs.writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  assert.equal(t.freeBytes(), 0, 'the disk is full');
  return filler;
}

/** The stored line numbers, read again when a writer renamed a file under the reader. */
function stored(root: string): number[] {
  for (;;) {
    try {
      return storageLines(root)
        .map((l) => /other (\d{6}) /.exec(l)?.[1])
        .filter((n): n is string => n !== undefined)
        .map(Number)
        .sort((a, b) => a - b);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

interface NodeStatus {
  state: string;
  channel: { diskFull?: boolean } | null;
}
async function nodeStatus(p: Proc): Promise<NodeStatus | undefined> {
  const body = JSON.parse((await httpGet(`${await statusBase(p)}/status`)).body) as { nodes: NodeStatus[] };
  return body.nodes[0];
}

/** Waits until the agent says its disk is full, in its log and in /status, and holds its input back. */
async function heldOnFullDisk(agent: Proc, from: number): Promise<void> {
  await agent.waitForLine(/standalone node running/, 30_000, from);
  await agent.waitForLine(/warn .*WAL disk full: puts are refused/, 30_000, from);
  await agent.waitForLine(/holding input back/, 30_000, from);
  await waitFor(async () => (await nodeStatus(agent))?.channel?.diskFull === true, 30_000, '/status to show the disk full').catch(
    async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await nodeStatus(agent))}\n${agent.tail(20)}`);
    },
  );
}

test(
  'an agent on a disk another file filled to 0 bytes opens, says so, holds its tail back and resumes when the file goes (first start and restart)',
  { skip, timeout: 120_000 },
  async (t) => {
    disk = mountTmpfs(path.join(mnt.path, 'disk'), '16m');
    const collPort = await freePort();
    const out = file('out');
    const input = file('app.log');
    appendLines(input, 1, 2_000);
    const data = path.join(disk.path, 'agent');
    const start = (): Proc =>
      scene.standalone('agent', `tail("${input}") | agentDFOSink("127.0.0.1", ${collPort})`, { data, env: { FLUME_LOG_LEVEL: 'info' } });

    // First start: nothing of the nodes on the disk yet, and not a byte free.
    let filler = fill(disk.path, disk);
    const collector = scene.standalone('coll', `collectorSource(${collPort}) | collectorSink("${out}/", "data-", 500)`, {
      data: path.join(disk.path, 'coll'),
    });
    await collector.waitForLine(/collector source listening/);
    let agent = start();
    await heldOnFullDisk(agent, 0);
    assert.deepEqual(stored(out), [], 'nothing was read while the disk was full');
    fs.unlinkSync(filler);
    await agent.waitForLine(/WAL disk has room again/, 30_000);
    await agent.waitForLine(/input resumes/, 30_000);
    await waitFor(() => stored(out).length >= 2_000, 60_000, 'the first lines stored');
    await waitFor(async () => (await nodeStatus(agent))?.channel?.diskFull === false, 30_000, '/status to show room again');
    assert.equal((await agent.stop(30_000)).code, 0, agent.tail());

    // Restart on a full disk: the node's files are there, the disk has no byte for them.
    appendLines(input, 2_001, 4_000);
    filler = fill(disk.path, disk);
    agent = start();
    await heldOnFullDisk(agent, 0);
    fs.unlinkSync(filler);
    await agent.waitForLine(/input resumes/, 30_000);
    await waitFor(() => stored(out).length >= 4_000, 60_000, 'every line stored').catch((err: Error) => {
      throw new Error(`${err.message}: ${stored(out).length} of 4000\n${agent.tail(20)}`);
    });
    assert.deepEqual(
      stored(out),
      Array.from({ length: 4_000 }, (_, i) => i + 1),
      'every line exactly once',
    );
    for (const p of [agent, collector]) assert.equal((await p.stop(30_000)).code, 0, p.tail());
    t.diagnostic('opened twice on a disk with 0 bytes free; resumed both times when the other file went');
  },
);
