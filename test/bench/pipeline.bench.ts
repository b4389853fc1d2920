/**
 * The whole pipeline with real processes, side by side with the peer to beat.
 *
 *   pipeline-e2e   flume-node agent `tail(input) | agentE2ESink(collector)` → flume-node collector
 *                  `collectorSource | collectorSink(dir)`, WAL channels on both tiers; the clock
 *                  runs from the agent's start until every line is end-to-end acked.
 *   pipeline-dfo   the same with agentDFOSink, until every line is written by the collector.
 *   rsyslog-relp   ../shared/peer-rsyslog/run.sh relp (RELPWIN=4096, BSYNC=on) on the same input,
 *                  when rsyslog is installed; the pipeline lines then print ratio=ours/rsyslog.
 *
 * Input: FLUME_BENCH_LINES (default 1,000,000) numbered 100-byte lines, the peer's format.
 * Each line checks the count stored; rss_mb is the agent's peak and collector_rss_mb the
 * collector's.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { wanted } from './util';

const ROOT = path.join(__dirname, '..', '..', '..');
const LINES = Number(process.env.FLUME_BENCH_LINES ?? 1_000_000);
const PEER = path.join(ROOT, '..', 'shared', 'peer-rsyslog', 'run.sh');

function makeInput(file: string): void {
  const filler = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz01'.slice(0, 88);
  const fd = fs.openSync(file, 'w');
  const chunk: string[] = [];
  for (let i = 1; i <= LINES; i++) {
    chunk.push(`${String(i).padStart(10, '0')} ${filler}\n`);
    if (chunk.length === 10_000) {
      fs.writeSync(fd, chunk.join(''));
      chunk.length = 0;
    }
  }
  if (chunk.length > 0) fs.writeSync(fd, chunk.join(''));
  fs.closeSync(fd);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function status(port: number): Promise<{ nodes: Array<{ counters: Record<string, Record<string, number>> }> } | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/status', timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch {
          resolve(null);
        }
      });
    });
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
  });
}

async function driverEvents(port: number): Promise<number> {
  const s = await status(port);
  return Number(s?.nodes[0]?.counters?.driver?.events_accepted ?? 0);
}

function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

function node(name: string, spec: string, data: string, httpPort: number): ChildProcess {
  return spawn(process.execPath, [path.join(ROOT, 'bin', 'flume-node.js'), '--standalone', '-n', name, '-c', spec, '--data', data, '--http-port', String(httpPort)], {
    stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, FLUME_LOG_LEVEL: 'warn' },
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await done;
  clearTimeout(timer);
}

async function pipeline(mode: 'E2E' | 'DFO', input: string, work: string, peerRate: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(work, `${mode}-`));
  const [collectorPort, cHttp, aHttp] = [await freePort(), await freePort(), await freePort()];
  const collector = node('coll', `coll : collectorSource(${collectorPort}) | collectorSink("${dir}/out/", "data-", 60000) ;`, path.join(dir, 'c'), cHttp);
  while ((await status(cHttp)) === null) await new Promise((r) => setTimeout(r, 100));
  const began = process.hrtime.bigint();
  const agent = node('agent', `agent : tail("${input}") | agent${mode}Sink("127.0.0.1", ${collectorPort}) ;`, path.join(dir, 'a'), aHttp);
  const deadline = Date.now() + 600_000;
  let done = 0;
  for (;;) {
    done = mode === 'E2E' ? await driverEvents(aHttp) : await driverEvents(cHttp);
    if (done >= LINES || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  const agentRss = peakRssMb(agent.pid!);
  const collectorRss = peakRssMb(collector.pid!);
  await stop(agent);
  await stop(collector);
  const stored = spawnSync('sh', ['-c', `cat "${dir}"/out/* | wc -l`], { encoding: 'utf8' }).stdout.trim();
  const rate = LINES / seconds;
  const parts = [`bench pipeline-${mode.toLowerCase()}`, `events/s=${Math.round(rate)}`, `MB/s=${((LINES * 100) / seconds / 1e6).toFixed(1)}`,
    `rss_mb=${agentRss}`, `collector_rss_mb=${collectorRss}`, `lines=${LINES}`, `stored=${stored}`];
  if (done < LINES) parts.push(`INCOMPLETE=${done}`);
  if (peerRate > 0) parts.push(`ratio=${(rate / peerRate).toFixed(2)}`);
  console.log(parts.join(' '));
  fs.rmSync(dir, { recursive: true, force: true });
}

function peer(): number {
  const has = spawnSync('sh', ['-c', 'command -v rsyslogd'], { encoding: 'utf8' }).status === 0;
  if (!has || !fs.existsSync(PEER)) {
    console.log('bench rsyslog-relp skipped: rsyslog or ../shared/peer-rsyslog is missing (apt-get install -y rsyslog rsyslog-relp)');
    return 0;
  }
  const r = spawnSync('bash', [PEER, 'relp', String(LINES)], { encoding: 'utf8', env: { ...process.env, RELPWIN: '4096', BSYNC: 'on' } });
  const m = /rate=(\d+) events\/s\s+([\d.]+) MB\/s/.exec(r.stdout);
  const rss = /maxrss A=([\d.]+) MiB B=([\d.]+) MiB/.exec(r.stdout);
  const ok = /dup=0 missing=0/.test(r.stdout);
  if (!m) {
    console.log(`bench rsyslog-relp failed: ${r.stdout.slice(-400)}${r.stderr.slice(-400)}`);
    return 0;
  }
  console.log(`bench rsyslog-relp events/s=${m[1]} MB/s=${m[2]} rss_mb=${rss ? Math.round(Number(rss[1])) : 0} collector_rss_mb=${rss ? Math.round(Number(rss[2])) : 0} complete=${ok}`);
  return Number(m[1]);
}

export async function run(filter?: string): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-pipeline-'));
  try {
    const input = path.join(work, 'input.log');
    makeInput(input);
    const peerRate = wanted(filter, 'rsyslog-relp') ? peer() : 0;
    if (wanted(filter, 'pipeline-e2e')) await pipeline('E2E', input, work, peerRate);
    if (wanted(filter, 'pipeline-dfo')) await pipeline('DFO', input, work, peerRate);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
