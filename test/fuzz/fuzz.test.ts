/**
 * Runs every fuzz target (test/fuzz/targets.ts): first the corpus of inputs that once failed
 * (test/fuzz/corpus/<target>/*.json), then FLUME_FUZZ_RUNS random cases each (a few hundred
 * in `npm test`; `npm run fuzz` sets it high). A failing input is shrunk by fast-check and
 * written to the corpus, so the next run replays it first; commit it with the fix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { REPO_ROOT } from '../harness/procs';
import { type FuzzInput, TARGETS } from './targets';

const RUNS = Number(process.env.FLUME_FUZZ_RUNS ?? 300);
const CORPUS = path.join(REPO_ROOT, 'test', 'fuzz', 'corpus');

function corpus(target: string): Array<{ file: string; input: FuzzInput }> {
  const dir = path.join(CORPUS, target);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: f, input: JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as FuzzInput }));
}

function keep(target: string, input: FuzzInput): string {
  const text = JSON.stringify(input);
  const file = path.join(CORPUS, target, `${crypto.createHash('sha256').update(text).digest('hex').slice(0, 16)}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text + '\n');
  return file;
}

for (const target of TARGETS) {
  test(`fuzz ${target.name}: ${RUNS} random and mutated inputs, and the corpus, end in the parser's own errors`, () => {
    for (const { file, input } of corpus(target.name)) {
      assert.doesNotThrow(() => target.check(input), `corpus ${target.name}/${file}`);
    }
    const started = Date.now();
    const result = fc.check(
      fc.property(target.arbitrary, (input) => target.check(input)),
      { numRuns: RUNS },
    );
    if (result.failed) {
      const input = result.counterexample![0];
      const file = keep(target.name, input);
      assert.fail(
        `${target.name} failed on ${JSON.stringify(input)} (kept in ${path.relative(REPO_ROOT, file)}):\n${String(result.errorInstance)}`,
      );
    }
    if (RUNS >= 10_000) console.log(`fuzz ${target.name} runs=${result.numRuns} ms=${Date.now() - started}`);
  });
}
