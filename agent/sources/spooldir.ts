/**
 * `spooldir(dir)`: a spooling directory. Writers move complete files into `dir`; each file is
 * read once, one event per line, and renamed `NAME.COMPLETED` once every line is put. Files are
 * taken oldest first (modification time, then name). Names starting with `.` and names ending
 * in `.COMPLETED` are left alone.
 *
 * `close()` finishes the file being read (so it is renamed and never read twice), then stops.
 * A file that cannot be read is reported and skipped until it changes; a crash while a file is
 * being read makes the next run read that file again from its start.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import { ERRORS } from '../../core/metrics';
import type { SourceDef } from '../../core/registry';
import { EventBatcher } from './batcher';
import { MAX_EVENT_ARG, notEmpty, positiveInteger, Pause, Rejects, SOURCE_DEFAULTS } from './common';
import { pumpLines } from './lines';

const COMPLETED_SUFFIX = '.COMPLETED';

export interface SpoolDirOptions {
  dir: string;
  maxEventBytes: number;
  pollMs: number;
}

export class SpoolDirSource implements Source {
  private readonly opts: SpoolDirOptions;
  private batcher: EventBatcher | null = null;
  private readonly rejects: Rejects;
  private closing = false;
  private running: Promise<void> = Promise.resolve();
  private readonly pause = new Pause();
  /** Files that failed, with the mtime they failed at: retried once they change. */
  private readonly failed = new Map<string, number>();

  constructor(
    private readonly ctx: ComponentContext,
    options: Partial<SpoolDirOptions> & { dir: string },
  ) {
    this.opts = { maxEventBytes: SOURCE_DEFAULTS.maxEventBytes, pollMs: 250, ...options };
    this.rejects = new Rejects(ctx);
  }

  async open(out: SourceOutput): Promise<void> {
    await fs.promises.access(this.opts.dir, fs.constants.R_OK | fs.constants.W_OK);
    this.batcher = new EventBatcher(out, this.ctx, { maxEvents: SOURCE_DEFAULTS.batchEvents, lingerMs: 0 });
    this.running = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.closing) {
      let did = false;
      try {
        for (const file of await this.pending()) {
          if (this.closing) break;
          await this.consume(file);
          did = true;
        }
      } catch (err) {
        this.ctx.counters.add(ERRORS, 1);
        this.ctx.logger.error('Listing the spool directory failed.', { dir: this.opts.dir, error: String(err) });
      }
      if (!did && !this.closing) await this.idle();
    }
  }

  private async pending(): Promise<string[]> {
    const entries = await fs.promises.readdir(this.opts.dir, { withFileTypes: true });
    const files: Array<{ full: string; mtime: number; name: string }> = [];
    for (const e of entries) {
      if (!e.isFile() || e.name.startsWith('.') || e.name.endsWith(COMPLETED_SUFFIX)) continue;
      const full = path.join(this.opts.dir, e.name);
      const st = await fs.promises.stat(full).catch(() => null);
      if (st === null) continue;
      if (this.failed.get(full) === st.mtimeMs) continue;
      files.push({ full, mtime: st.mtimeMs, name: e.name });
    }
    files.sort((a, b) => a.mtime - b.mtime || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return files.map((f) => f.full);
  }

  private async consume(file: string): Promise<void> {
    const batcher = this.batcher!;
    let mtime = 0;
    try {
      const fh = await fs.promises.open(file, 'r');
      mtime = (await fh.stat()).mtimeMs;
      const lines = await pumpLines(fh.createReadStream({ highWaterMark: 1024 * 1024 }), batcher, this.ctx, this.rejects, {
        maxEventBytes: this.opts.maxEventBytes,
        what: file,
      });
      await batcher.flush();
      await fs.promises.rename(file, file + COMPLETED_SUFFIX);
      this.failed.delete(file);
      this.ctx.logger.info('Spooled file done.', { file, lines });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.failed.set(file, mtime);
      this.ctx.counters.add(ERRORS, 1);
      this.ctx.logger.error('Spooling a file failed; it is left in place.', { file, error: String(err) });
    }
  }

  private idle(): Promise<void> {
    return this.pause.sleep(this.opts.pollMs);
  }

  async close(): Promise<void> {
    this.closing = true;
    this.pause.wake();
    await this.running;
    await this.batcher?.close();
  }
}

export const def: SourceDef = {
  kind: 'source',
  name: 'spooldir',
  aliases: ['spoolDir'],
  doc: 'Reads each file moved into a directory once, one event per line, then renames it NAME.COMPLETED.',
  args: [
    { name: 'dir', type: 'string', required: true, check: notEmpty, doc: "the spooling directory (under the node's node.read_paths)" },
    MAX_EVENT_ARG,
    { name: 'pollMs', type: 'number', default: 250, check: positiveInteger, doc: 'how often to look for new files' },
  ],
  hostAccess: (args) => [{ kind: 'read', path: args.string('dir') }],
  create: (args, ctx) =>
    new SpoolDirSource(ctx, { dir: args.string('dir'), maxEventBytes: args.number('maxEventBytes'), pollMs: args.number('pollMs') }),
};
