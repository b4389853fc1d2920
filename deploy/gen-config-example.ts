/**
 * Writes deploy/flume.conf.example from the site config schema (core/site-config.ts), so the
 * example cannot drift from what the binaries accept. `--check` only compares and exits 1 if the
 * file differs (test/deploy/deploy-files.test.ts does the same); `--reference` prints the Markdown
 * reference of every key instead (for README.md).
 *
 *     npx tsc -p . && node dist/deploy/gen-config-example.js [--check | --reference] [FILE]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeSiteConfig, exampleSiteConfig } from '../core/site-config-schema';

/** deploy/flume.conf.example in the source tree (this file runs from dist/deploy/). */
export const EXAMPLE_FILE = path.resolve(__dirname, '..', '..', 'deploy', 'flume.conf.example');

function main(args: string[]): number {
  if (args.includes('--reference')) {
    process.stdout.write(describeSiteConfig());
    return 0;
  }
  const check = args.includes('--check');
  const file = args.find((a) => a !== '--check') ?? EXAMPLE_FILE;
  const text = exampleSiteConfig();
  if (check) {
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (current === text) return 0;
    console.error(`${file} is out of date; regenerate it: node dist/deploy/gen-config-example.js`);
    return 1;
  }
  fs.writeFileSync(file, text);
  console.log(`wrote ${file}`);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
