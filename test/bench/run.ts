/**
 * `npm run bench [-- NAME...]`: runs every benchmark file (dist/test/bench/*.bench.js), each in
 * a process of its own so that peak RSS figures are its own. A NAME picks the files whose name
 * contains it; a NAME that matches no file is passed to every file as a scenario filter.
 * Each scenario prints one line: `bench NAME events/s=N MB/s=N rss_mb=N [p50_ms=N p99_ms=N]` (the
 * pipeline scenarios print agent_rss_mb and collector_rss_mb, each process's peak, for rss_mb).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const names = process.argv.slice(2);
const files = fs
  .readdirSync(__dirname)
  .filter((f) => f.endsWith('.bench.js'))
  .sort();
const picked = names.length === 0 ? files : files.filter((f) => names.some((n) => f.includes(n)));
const scenarioFilter = picked.length === 0 ? names.join(',') : '';
let failed = 0;
for (const file of picked.length > 0 ? picked : files) {
  const script =
    `require(${JSON.stringify(path.join(__dirname, file))}).run(${JSON.stringify(scenarioFilter)})` +
    '.then(() => process.exit(0), (e) => { console.error(e); process.exit(1); })';
  const result = spawnSync(process.execPath, ['-e', script], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed++;
    console.error(`bench file ${file} failed (exit ${result.status ?? result.signal})`);
  }
}
process.exit(failed > 0 ? 1 : 0);
