/**
 * What WAL damage costs is counted where an operator looks, all real processes: an agent holds a
 * backlog in its WAL (no collector yet) and is stopped; a byte in the middle of one of its records
 * is flipped (bit rot, a bad sector). The agent restarts, drops that record and delivers the rest,
 * and its /metrics and /status say how many batches, events and bytes were lost.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { freePort, httpGet, nodeMetric, statusBase, waitFor, type Proc } from '../harness/procs';
import { Scene } from '../harness/scene';
import { storageLines } from '../harness/storage';

const scene = new Scene('flume-wal-loss-');
const file = (...parts: string[]): string => scene.file(...parts);
const standalone = (name: string, spec: string): Proc => scene.standalone(name, spec);

const line = (n: number): string => `walloss ${String(n).padStart(5, '0')}`;
const CHUNKS = 3;
const PER_CHUNK = 100;

test(
  'a damaged record in an agent WAL: the rest is delivered, and the loss shows in /metrics and /status',
  { timeout: 60_000 },
  async () => {
    const port = await freePort();
    const log = file('app.log');
    fs.writeFileSync(log, '');
    const spec = `tail("${log}") | agentDFOChain("127.0.0.1:${port}")`;
    // No collector yet: every batch waits in the agent's WAL, one record per chunk of lines.
    let agent = standalone('walloss', spec);
    await agent.waitForLine(/logical node opened/);
    const accepted = async (): Promise<number> => (await nodeMetric(agent, 'flume_events_accepted_total', 'component="channel"')) ?? 0;
    for (let c = 0; c < CHUNKS; c++) {
      const lines = Array.from({ length: PER_CHUNK }, (_, i) => line(c * PER_CHUNK + i + 1));
      fs.appendFileSync(log, `${lines.join('\n')}\n`);
      await waitFor(async () => (await accepted()) >= (c + 1) * PER_CHUNK, 20_000, `chunk ${c + 1} in the WAL`);
    }
    // Committed is durable: kill -9 (a clean stop would wait for the collector that is not there).
    await agent.kill9();

    // Flip a byte in the payload of the second record (magic, length, crc at 0..12; count at 28).
    const walDir = file('data', 'walloss', 'walloss', 'wal');
    const seg = fs
      .readdirSync(walDir)
      .filter((n) => n.startsWith('seg-'))
      .map((n) => path.join(walDir, n))
      .find((f) => fs.statSync(f).size > 0)!;
    const bytes = fs.readFileSync(seg);
    const second = bytes.readUInt32LE(4);
    const length = bytes.readUInt32LE(second + 4);
    const events = bytes.readUInt32LE(second + 28);
    assert.ok(second + length < bytes.length, 'the damaged record is not the last');
    bytes[second + length - 5] ^= 0xff;
    fs.writeFileSync(seg, bytes);

    const collector = standalone('wallosscoll', `collectorSource(${port}) | collectorSink("${file('storage')}/", "data-", 500)`);
    await collector.waitForLine(/collector source listening/);
    agent = standalone('walloss', spec);
    const total = CHUNKS * PER_CHUNK;
    await waitFor(() => storageLines(file('storage')).length >= total - events, 30_000, `${total - events} lines delivered`);

    assert.equal(await nodeMetric(agent, 'flume_wal_recovery_lost_batches_total', 'node="walloss"'), 1);
    assert.equal(await nodeMetric(agent, 'flume_wal_recovery_lost_events_total', 'node="walloss"'), events);
    assert.equal(await nodeMetric(agent, 'flume_wal_recovery_lost_bytes_total', 'node="walloss"'), length);
    const status = JSON.parse((await httpGet(`${await statusBase(agent)}/status`)).body) as {
      nodes: Array<{ name: string; counters: Record<string, Record<string, number>> }>;
    };
    const channel = status.nodes.find((n) => n.name === 'walloss')!.counters.channel;
    assert.deepEqual(
      [channel.wal_recovery_lost_batches, channel.wal_recovery_lost_events, channel.wal_recovery_lost_bytes],
      [1, events, length],
    );

    for (const p of [agent, collector]) assert.equal((await p.stop(20_000)).code, 0);
    const stored = storageLines(file('storage'));
    assert.equal(new Set(stored).size, stored.length, 'no line stored twice');
    assert.equal(stored.length, total - events, 'everything but the damaged record is delivered');
  },
);
