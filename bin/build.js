#!/usr/bin/env node
/**
 * Compile once. dist/ is rebuilt only when a TypeScript source or tsconfig.json is newer than
 * the last build (dist/.tsbuildinfo, touched after every successful build) or a compiled file is
 * missing, so `npm run cluster` and the bin/ commands start in about a second once built instead
 * of running tsc (40-70 s here) every time.
 *
 *   node bin/build.js            build if stale: what `npm install` (prepare), `npm run cluster`
 *                                and every bin/flume-* command do first
 *   node bin/build.js --force    always run tsc
 *
 * Why mtimes and not `tsc --incremental` alone: tsc is incremental too (tsconfig.json keeps its
 * state in dist/.tsbuildinfo, so a rebuild after an edit checks what changed), but even a no-op
 * incremental run loads the compiler and reads every file: 3-4 s of CPU, 10-17 s on a busy
 * machine; and it does not rewrite the output of a file whose content did not change. Reading
 * ~230 mtimes takes a few milliseconds.
 *
 * One build at a time: a build holds the lock directory dist/.build-lock (with its pid); another
 * process that finds it waits for it, then checks again. A lock left by a dead process is taken
 * over. FLUME_BUILD=never skips the check: the test runner sets it, because tests run the dist
 * they were compiled with and a process a test starts must not begin a compile.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const TSCONFIG = path.join(ROOT, 'tsconfig.json');
const BUILD_INFO = path.join(DIST, '.tsbuildinfo');
const LOCK = path.join(DIST, '.build-lock');
const LOCK_WAIT_MS = 10 * 60_000;

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Why dist/ is out of date ('' when it is not): the first stale file found, and how many. */
function staleness() {
  const config = JSON.parse(fs.readFileSync(TSCONFIG, 'utf8'));
  const built = mtime(BUILD_INFO);
  if (built === undefined) return { why: 'no build yet', missing: true };
  if (mtime(TSCONFIG) > built) return { why: 'tsconfig.json changed', missing: false };
  let first = '';
  let count = 0;
  let missing = false;
  const walk = (dir) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(full);
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const rel = path.relative(ROOT, full);
        const out = mtime(path.join(DIST, rel.slice(0, -3) + '.js'));
        if (out === undefined || mtime(full) > built) {
          count++;
          missing ||= out === undefined;
          first ||= rel;
        }
      }
    }
  };
  for (const dir of config.include ?? []) walk(path.join(ROOT, dir));
  if (count === 0) return { why: '', missing: false };
  return { why: `${first}${count > 1 ? ` and ${count - 1} more` : ''} changed since the last build`, missing };
}

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Takes the build lock, waiting while a live process holds it; true if it had to wait. */
function lock() {
  fs.mkdirSync(DIST, { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  let waited = false;
  for (;;) {
    try {
      fs.mkdirSync(LOCK);
      fs.writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
      return waited;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    const pid = Number(fs.readFileSync(path.join(LOCK, 'pid'), { encoding: 'utf8', flag: 'a+' }) || 0);
    if (pid > 0 && !alive(pid)) {
      fs.rmSync(LOCK, { recursive: true, force: true });
      continue;
    }
    if (!waited) process.stderr.write(`flume: another build is running (pid ${pid || '?'}); waiting for it\n`);
    waited = true;
    if (Date.now() > deadline)
      throw new Error(`the build lock ${LOCK} is still held after ${LOCK_WAIT_MS / 1000} s; remove it if no build runs`);
    sleepSync(200);
  }
}

function tsc() {
  let compiler;
  try {
    compiler = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
  } catch {
    return { ok: false, message: 'TypeScript is not installed: run `npm install` first' };
  }
  const r = spawnSync(process.execPath, [compiler, '-p', ROOT], { stdio: ['ignore', 'inherit', 'inherit'] });
  return { ok: r.status === 0, message: r.status === 0 ? '' : `tsc exited with ${r.status ?? r.signal}` };
}

/**
 * Builds dist/ if it is stale (or always, with force). Returns true when dist/ can be run;
 * prints what it does on stderr, nothing when dist/ is up to date.
 */
function ensureBuilt({ force = false } = {}) {
  if (!force && process.env.FLUME_BUILD === 'never') return true;
  let state = force ? { why: 'asked to', missing: false } : staleness();
  if (state.why === '') return true;
  const waited = lock();
  try {
    // Another process built meanwhile: dist/ may be up to date now.
    if (waited && !force) state = staleness();
    if (state.why === '') return true;
    // A missing output with an up-to-date .tsbuildinfo would not be emitted again.
    if (state.missing) fs.rmSync(BUILD_INFO, { force: true });
    const started = Date.now();
    process.stderr.write(`flume: compiling TypeScript into dist/ (${state.why})...\n`);
    const result = tsc();
    if (!result.ok) {
      process.stderr.write(`flume: the build failed: ${result.message}\n`);
      return fs.existsSync(path.join(DIST, 'node', 'cli.js'));
    }
    fs.utimesSync(BUILD_INFO, new Date(), new Date());
    process.stderr.write(`flume: built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return true;
  } finally {
    fs.rmSync(LOCK, { recursive: true, force: true });
  }
}

module.exports = { ensureBuilt, staleness };

if (require.main === module) {
  process.exitCode = ensureBuilt({ force: process.argv.includes('--force') }) ? 0 : 1;
}
