/**
 * Sources into a memory channel, events counted by a consumer that takes and commits batches:
 *
 *   source-syslog-tcp   syslogTcp fed by 4 concurrent connections on loopback (a separate sender
 *                       process; two connections newline-framed, two octet-counted), RFC 5424
 *                       messages of ~170 bytes with a 100-byte MSG
 *   source-tail         tail of a file that a writer grows meanwhile, 100-byte lines
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { batchOf, inTransaction } from '../../core/channel';
import type { ComponentContext, SourceOutput } from '../../core/component';
import { silentLogger } from '../../core/logger';
import { MemoryChannel } from '../../core/memory-channel';
import { SyslogTcpSource } from '../../agent/sources/syslog-tcp';
import { TailSource } from '../../agent/sources/tail';
import { report, wanted } from './util';

const SYSLOG_EVENTS = Number(process.env.FLUME_BENCH_SYSLOG_EVENTS ?? 2_000_000);
const TAIL_LINES = Number(process.env.FLUME_BENCH_TAIL_LINES ?? 3_000_000);
const BODY = 100;

interface Rig {
  ctx: ComponentContext;
  out: SourceOutput;
  counted(): number;
  stop(): Promise<void>;
}

function rig(dataDir: string): Rig {
  const channel = new MemoryChannel('bench', { capacityBytes: 64 * 1024 * 1024 });
  let seq = 1;
  let count = 0;
  let stopped = false;
  const consumer = (async () => {
    while (!stopped) {
      await inTransaction(channel, async (tx) => {
        const b = await tx.take(20);
        if (b) count += b.count;
      });
    }
  })();
  return {
    ctx: {
      logger: silentLogger(),
      logicalNode: 'bench',
      physicalNode: 'bench',
      host: 'bench-host',
      dataDir,
      counters: { add: () => undefined },
    },
    out: { origin: 'bench', nextSeq: () => seq++, put: (bytes) => inTransaction(channel, (tx) => tx.put(batchOf(bytes))) },
    counted: () => count,
    stop: async () => {
      stopped = true;
      await consumer;
      await channel.stop();
    },
  };
}

async function until(cond: () => boolean, what: string, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`bench timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The sender process: 4 connections, each writing its share of messages as fast as TCP takes them. */
const SENDER = `
const net = require('net');
const [port, total] = process.argv.slice(1).map(Number);
const per = Math.floor(total / 4);
const body = 'x'.repeat(${BODY - 12});
function block(conn, octet) {
  const parts = [];
  for (let i = 0; i < 5000; i++) {
    const msg = '<134>1 2026-11-22T04:10:15.331047+00:00 web01.example.com app 4242 ID47 - ' + String(i).padStart(11, '0') + ' ' + body;
    parts.push(octet ? Buffer.byteLength(msg) + ' ' + msg : msg + '\\n');
  }
  return Buffer.from(parts.join(''));
}
let open = 4;
for (let c = 0; c < 4; c++) {
  const buf = block(c, c % 2 === 1);
  const s = net.connect(port, '127.0.0.1', () => {
    let sent = 0;
    const pump = () => {
      while (sent < per) {
        sent += 5000;
        if (!s.write(buf)) return s.once('drain', pump);
      }
      s.end();
    };
    pump();
  });
  s.on('close', () => { if (--open === 0) process.exit(0); });
  s.on('error', (e) => { console.error(e); process.exit(1); });
}
`;

async function syslogTcp(dataDir: string): Promise<void> {
  const r = rig(dataDir);
  const source = new SyslogTcpSource(r.ctx, { port: 0 });
  await source.open(r.out);
  const total = Math.floor(SYSLOG_EVENTS / 20_000) * 20_000;
  const t0 = process.hrtime.bigint();
  const sender = spawn(process.execPath, ['-e', SENDER, String(source.port), String(total)], { stdio: ['ignore', 'inherit', 'inherit'] });
  try {
    await until(() => r.counted() >= total, `${total} syslog events (counted ${r.counted()})`);
  } finally {
    if (sender.exitCode === null && sender.pid !== undefined) process.kill(sender.pid, 'SIGKILL');
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await source.close();
  await r.stop();
  if (r.counted() !== total) throw new Error(`source-syslog-tcp: counted ${r.counted()} events, sent ${total}`);
  report('source-syslog-tcp', { events: total, bytes: total * BODY, seconds, extra: { connections: 4 } });
}

async function tail(dataDir: string): Promise<void> {
  const r = rig(path.join(dataDir, 'state'));
  const file = path.join(dataDir, 'growing.log');
  fs.writeFileSync(file, '');
  const perChunk = 10_000;
  const chunk = Buffer.from(
    Array.from({ length: perChunk }, (_, i) => String(i).padStart(11, '0') + ' ' + 'y'.repeat(BODY - 13)).join('\n') + '\n',
  );
  const source = new TailSource(r.ctx, { file, pollMs: 10 });
  const t0 = process.hrtime.bigint();
  await source.open(r.out);
  const total = Math.floor(TAIL_LINES / perChunk) * perChunk;
  // The writer grows the file while the source reads it.
  const fd = fs.openSync(file, 'a');
  for (let written = 0; written < total; written += perChunk) {
    fs.writeSync(fd, chunk);
    if ((written / perChunk) % 4 === 3) await new Promise((res) => setImmediate(res));
  }
  fs.closeSync(fd);
  await until(() => r.counted() >= total, `${total} lines (counted ${r.counted()})`);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await source.close();
  await r.stop();
  if (r.counted() !== total) throw new Error(`source-tail: counted ${r.counted()} lines, wrote ${total}`);
  report('source-tail', { events: total, bytes: total * BODY, seconds });
}

export async function run(filter?: string): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sources-bench-'));
  try {
    if (wanted(filter, 'source-syslog-tcp')) await syslogTcp(dataDir);
    if (wanted(filter, 'source-tail')) await tail(dataDir);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) void run(process.argv[2]);
