import * as fs from 'node:fs';
import * as net from 'node:net';
/** What every benchmark prints, in one format. */
export interface BenchFigures {
  events: number;
  bytes: number;
  seconds: number;
  p50Ms?: number;
  p99Ms?: number;
  extra?: Record<string, number | string>;
}

export function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/** Peak RSS (VmHWM) of another process on this machine; 0 once it is gone. */
export function peakRssMbOf(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

export function report(name: string, f: BenchFigures): void {
  const parts = [
    `bench ${name}`,
    `events/s=${Math.round(f.events / f.seconds)}`,
    `MB/s=${(f.bytes / f.seconds / 1e6).toFixed(1)}`,
    `rss_mb=${peakRssMb()}`,
  ];
  if (f.p50Ms !== undefined) parts.push(`p50_ms=${f.p50Ms.toFixed(2)}`);
  if (f.p99Ms !== undefined) parts.push(`p99_ms=${f.p99Ms.toFixed(2)}`);
  for (const [k, v] of Object.entries(f.extra ?? {})) parts.push(`${k}=${v}`);
  console.log(parts.join(' '));
}

/**
 * True when `scenario` should run under the filter given to `run()` (empty: everything): a part
 * of its name, or `=NAME` for that scenario alone (`=pipeline-e2e` without -tls and -latency).
 */
export function wanted(filter: string | undefined, scenario: string): boolean {
  if (!filter) return true;
  return filter.split(',').some((f) => (f.startsWith('=') ? scenario === f.slice(1) : scenario.includes(f)));
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The last zxid a ZooKeeper server applied (its low 32 bits: the count of writes in this epoch). */
export async function zxid(port: number): Promise<number> {
  const answer = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end('srvr'));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
  const m = /Zxid: 0x([0-9a-f]+)/.exec(answer);
  if (!m) throw new Error(`no Zxid in srvr: ${answer}`);
  return Number(BigInt(`0x${m[1]}`) & 0xffffffffn);
}

/** CPU seconds (user + system) a process has used. */
export function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
