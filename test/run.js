#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js, benchmarks excluded) with node's test
// runner. Arguments filter the files by substring: `node test/run.js wal spec`.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', 'dist');
const filters = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && full !== path.join(root, 'test', 'bench')) walk(full);
    } else if (entry.name.endsWith('.test.js')) {
      const rel = path.relative(root, full);
      if (filters.length === 0 || filters.some((f) => rel.includes(f))) files.push(full);
    }
  }
})(root);
files.sort();
if (files.length === 0) {
  console.error(`no test files under ${root}${filters.length ? ` matching ${filters.join(', ')}` : ''}; run "npm run build" first`);
  process.exit(1);
}
const concurrency = process.env.FLUME_TEST_CONCURRENCY ?? '2';
// The tests run the dist they were compiled with: a bin/ process a test starts never compiles.
const env = { ...process.env, FLUME_BUILD: 'never' };
const result = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files], {
  stdio: 'inherit',
  env,
});
process.exit(result.status ?? 1);
