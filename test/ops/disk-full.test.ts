/**
 * An agent's disk fills while its collector is down, with real processes: a tail agent and a
 * syslog (TCP) agent each have their data dir on a 16 MB tmpfs (needs root; CI runs as root).
 * Their WALs fill the disk; the sources then hold their input back (the tail stops reading, the
 * syslog source stops reading its client's socket, so the client's writes stall) instead of
 * dropping it. The tail agent is stopped (SIGTERM) and killed (-9) on the full disk and opens
 * again each time. Once the collector starts, both agents drain by themselves and every line
 * arrives exactly once.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { freePort, rssMb, spawnFlume, tempDir, waitFor, type Proc } from '../harness/procs';
import { metric } from '../harness/scene';
import { storageLines } from '../harness/storage';
import { type Tmpfs, mountTmpfs, tmpfsSkip } from '../harness/tmpfs';

const skip = tmpfsSkip() ?? false;
const dir = tempDir('flume-disk-full-');
const procs: Proc[] = [];
const mounts: Tmpfs[] = [];
after(async () => {
  for (const p of procs.reverse()) await p.kill9().catch(() => undefined);
  for (const m of mounts) m.unmount();
  dir.remove();
});
const file = (...parts: string[]): string => path.join(dir.path, ...parts);

function standalone(name: string, spec: string, data: string, extra: string[] = []): Proc {
  const p = spawnFlume('node', ['--standalone', '-n', name, '-c', `${name} : ${spec} ;`, '--data', data, '--http-port', '0', ...extra], {
    env: { FLUME_LOG_LEVEL: 'info' },
    label: name,
  });
  procs.push(p);
  return p;
}

const running = /standalone node running/;
const held = /holding input back/;

const PAD = 'x'.repeat(120);
const TAIL_LINES = 150_000;
const SYSLOG_LINES = 200_000;
const tailLine = (n: number): string => `tail ${String(n).padStart(7, '0')} ${PAD}`;
const syslogLine = (n: number): string => `<13>Dec  3 18:00:00 client app: syslog ${String(n).padStart(7, '0')} ${PAD}\n`;

/** Sends the syslog lines over one connection, writing only as fast as the socket takes them. */
function syslogClient(port: number): { sent: () => number; done: Promise<void> } {
  let sent = 0;
  const socket = net.connect(port, '127.0.0.1');
  const done = new Promise<void>((resolve, reject) => {
    socket.on('error', reject);
    socket.once('connect', async () => {
      while (sent < SYSLOG_LINES) {
        const chunk: string[] = [];
        for (let i = 0; i < 500 && sent < SYSLOG_LINES; i++) chunk.push(syslogLine(++sent));
        if (!socket.write(chunk.join(''))) await new Promise((r) => socket.once('drain', r));
      }
      socket.end(() => resolve());
    });
  });
  return { sent: () => sent, done };
}

/** The stored lines, read again when a writer renamed a file under the reader. */
function linesNow(storage: string): string[] {
  for (;;) {
    try {
      return storageLines(storage);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** Numbers of the stored lines of `kind`, and how many were stored twice. */
function stored(storage: string, kind: string): { numbers: Set<number>; duplicates: number } {
  const numbers = new Set<number>();
  let duplicates = 0;
  const re = new RegExp(`${kind} (\\d{7}) `);
  for (const line of linesNow(storage)) {
    const m = re.exec(line);
    if (!m) continue;
    const k = Number(m[1]);
    if (numbers.has(k)) duplicates++;
    numbers.add(k);
  }
  return { numbers, duplicates };
}

test(
  'agents whose disk fills hold their clients back, open again on the full disk after SIGTERM and kill -9, and drain every line exactly once',
  { skip, timeout: 120_000 },
  async (t) => {
    const started = Date.now();
    const tailDisk = mountTmpfs(file('tail-data'), '16m');
    const syslogDisk = mountTmpfs(file('syslog-data'), '16m');
    mounts.push(tailDisk, syslogDisk);
    const [collectorPort, syslogPort] = [await freePort(), await freePort()];
    const storage = file('storage');
    const input = file('app.log');
    const lines: string[] = [];
    for (let n = 1; n <= TAIL_LINES; n++) lines.push(tailLine(n));
    fs.writeFileSync(input, lines.join('\n') + '\n');

    const to = `"127.0.0.1:${collectorPort}"`;
    const tailSpec = `tail("${input}") | agentE2EChain(${to})`;
    const tailAgentProc = (): Proc => standalone('tailagent', tailSpec, tailDisk.path);
    let tailAgent = tailAgentProc();
    const syslogAgent = standalone('syslogagent', `syslogTcp(${syslogPort}) | agentDFOChain(${to})`, syslogDisk.path);
    await Promise.all([tailAgent.waitForLine(running), syslogAgent.waitForLine(running)]);
    const client = syslogClient(syslogPort);
    let clientDone = false;
    void client.done.then(
      () => (clientDone = true),
      () => undefined,
    );

    // The WALs fill the disks; the sources hold back.
    await Promise.all([tailAgent.waitForLine(held, 40_000), syslogAgent.waitForLine(held, 40_000)]);
    const heldAt = Date.now();
    for (const d of [tailDisk, syslogDisk]) assert.ok(d.freeBytes() < 3 * 1024 * 1024, `the disk is full: ${d.freeBytes()} bytes free`);
    const sentWhenFull = client.sent();
    const tailReceived = await metric(tailAgent, 'flume_events_received_total', 'component="source"');
    assert.ok(!clientDone && sentWhenFull < SYSLOG_LINES, `the syslog client is held back: ${sentWhenFull} of ${SYSLOG_LINES} written`);
    assert.ok(tailReceived < TAIL_LINES, `the tail stopped reading: ${tailReceived} of ${TAIL_LINES} lines read`);
    t.diagnostic(
      `disks full after ${heldAt - started} ms; RSS while held: tail agent ${Math.round(rssMb(tailAgent.pid))} MB, syslog agent ${Math.round(rssMb(syslogAgent.pid))} MB`,
    );

    // The tail agent stops cleanly and opens again on the full disk, then survives kill -9 there.
    assert.equal((await tailAgent.stop(30_000)).code, 0, tailAgent.tail());
    tailAgent = tailAgentProc();
    await tailAgent.waitForLine(running);
    await tailAgent.waitForLine(/WAL opened/);
    await tailAgent.kill9();
    tailAgent = tailAgentProc();
    await tailAgent.waitForLine(running);
    await tailAgent.waitForLine(/WAL opened/);

    // The collector comes: everything drains by itself.
    t.diagnostic(`tail agent stopped and killed on the full disk and reopened by ${Date.now() - started} ms`);
    const collector = standalone(
      'collector',
      `collectorSource(${collectorPort}) | collectorSink("${storage}/", "data-", 1000)`,
      file('coll'),
    );
    await collector.waitForLine(/collector source listening/);
    const resumeFrom = Date.now();
    await Promise.all([tailAgent.waitForLine(/input resumes/, 30_000), syslogAgent.waitForLine(/input resumes/, 30_000)]);
    const resumedMs = Date.now() - resumeFrom;
    await client.done;
    let storedLines = 0;
    await waitFor(
      () => {
        storedLines = linesNow(storage).length;
        return storedLines >= TAIL_LINES + SYSLOG_LINES ? storedLines : null;
      },
      60_000,
      'every line stored',
      1_000,
    ).catch((err: Error) => {
      const counts = ['tail', 'syslog'].map((k) => `${k} ${stored(storage, k).numbers.size}`).join(', ');
      throw new Error(
        `${err.message}: ${storedLines} lines (${counts})\n${tailAgent.tail(15)}\n${syslogAgent.tail(15)}\n${collector.tail(15)}`,
      );
    });
    const drainedMs = Date.now() - resumeFrom;
    t.diagnostic(`sources resumed ${resumedMs} ms after the collector listened; all stored after ${drainedMs} ms`);
    for (const [p, d] of [
      [tailAgent, tailDisk],
      [syslogAgent, syslogDisk],
    ] as const) {
      await waitFor(async () => (await metric(p, 'flume_channel_fill_batches')) === 0, 30_000, `${p.label} drained its WAL`);
      await waitFor(() => d.freeBytes() > 8 * 1024 * 1024, 30_000, `${p.label}'s disk has room again`).catch((err: Error) => {
        const files = fs.readdirSync(d.path, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
        const sizes = files.map(
          (e) => `${path.join(e.parentPath, e.name).slice(d.path.length)} ${fs.statSync(path.join(e.parentPath, e.name)).size}`,
        );
        throw new Error(`${err.message}: ${d.freeBytes()} bytes free; files:\n${sizes.join('\n')}\n${p.tail(15)}`);
      });
    }
    assert.equal(await metric(syslogAgent, 'flume_events_rejected_total', 'component="source"'), 0, 'the syslog source dropped nothing');
    for (const p of [tailAgent, syslogAgent, collector]) assert.equal((await p.stop(30_000)).code, 0, p.tail());

    for (const [kind, total] of [
      ['tail', TAIL_LINES],
      ['syslog', SYSLOG_LINES],
    ] as const) {
      const { numbers, duplicates } = stored(storage, kind);
      assert.equal(duplicates, 0, `no ${kind} line stored twice`);
      for (let n = 1; n <= total; n++) if (!numbers.has(n)) assert.fail(`${kind} line ${n} lost (${numbers.size} of ${total} stored)`);
    }
    t.diagnostic(
      `sources resumed ${resumedMs} ms after the collector listened; all stored after ${drainedMs} ms; whole test ${Date.now() - started} ms`,
    );
  },
);
