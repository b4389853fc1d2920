import * as fs from 'node:fs';
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
