/**
 * `tailDir(dir[, regex=".*"[, startFromEnd=false]])`: tails every file in `dir` whose name matches `regex` (a
 * JavaScript regular expression, tested against the name, not the path), each as `tail` does:
 * rotation, truncation, a position per file kept across restarts. New matching files are picked
 * up within `pollMs`, read from their beginning (`startFromEnd` applies only to the files there at
 * open); a file whose name disappears is read to its end and dropped.
 *
 * A file is followed once per run even if it is renamed to another matching name (it is known by
 * device + inode + creation time). Across a restart, though, a rotated file under a new matching name has no saved
 * position and would be read again: make the pattern match live names only (`\.log$`, not
 * `\.log`), as with Flume OG's tailDir.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import { ERRORS } from '../../core/metrics';
import type { SourceDef } from '../../core/registry';
import { MAX_EVENT_ARG, notEmpty, positiveInteger, Rejects, SOURCE_DEFAULTS } from './common';
import { identityKey, identityOf } from './offset-store';
import { TailFollower } from './tail-follower';

export interface TailDirOptions {
  dir: string;
  regex: string;
  /** Files already there at open (and without a saved position) are read from their end. */
  startFromEnd: boolean;
  maxEventBytes: number;
  pollMs: number;
}

export class TailDirSource implements Source {
  private readonly opts: TailDirOptions;
  private readonly pattern: RegExp;
  private readonly followers = new Map<string, TailFollower>();
  /** Files (identityKey) read to their end in this run and still in the directory. */
  private readonly finished = new Set<string>();
  private readonly rejects: Rejects;
  private out: SourceOutput | null = null;
  private timer: NodeJS.Timeout | null = null;
  private scanning: Promise<void> = Promise.resolve();
  private closing = false;

  constructor(
    private readonly ctx: ComponentContext,
    options: Partial<TailDirOptions> & { dir: string },
  ) {
    this.opts = {
      regex: '.*',
      startFromEnd: false,
      maxEventBytes: SOURCE_DEFAULTS.maxEventBytes,
      pollMs: SOURCE_DEFAULTS.pollMs,
      ...options,
    };
    this.pattern = new RegExp(this.opts.regex);
    this.rejects = new Rejects(ctx);
  }

  /** Names of the files being followed, for tests and /status. */
  get following(): string[] {
    return [...this.followers.keys()].map((f) => path.basename(f)).sort();
  }

  async open(out: SourceOutput): Promise<void> {
    await fs.promises.access(this.opts.dir, fs.constants.R_OK);
    this.out = out;
    await this.scan(this.opts.startFromEnd);
    this.schedule();
  }

  private schedule(): void {
    if (this.closing) return;
    this.timer = setTimeout(() => {
      this.scanning = this.scan().finally(() => this.schedule());
    }, this.opts.pollMs);
  }

  private async scan(fromEnd = false): Promise<void> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.opts.dir);
    } catch (err) {
      this.ctx.counters.add(ERRORS, 1);
      this.ctx.logger.error('Listing the directory failed.', { dir: this.opts.dir, error: String(err) });
      return;
    }
    const active = new Set<string>();
    for (const f of this.followers.values()) active.add(identityKey(f.identity));
    const present = new Set<string>();
    for (const name of names.sort()) {
      if (this.closing) return;
      const full = path.join(this.opts.dir, name);
      if (!this.pattern.test(name)) continue;
      const st = await fs.promises.stat(full).catch(() => null);
      if (st === null || !st.isFile()) continue;
      const id = identityKey(identityOf(st));
      present.add(id);
      if (this.followers.has(full) || active.has(id) || this.finished.has(id)) continue;
      await this.follow(full, fromEnd);
      active.add(id);
    }
    // Forget finished files that are gone, so that a new file reusing an inode is not skipped.
    for (const id of this.finished) if (!present.has(id)) this.finished.delete(id);
  }

  private async follow(file: string, startFromEnd: boolean): Promise<void> {
    const follower = new TailFollower(
      this.ctx,
      this.out!,
      {
        file,
        startFromEnd,
        maxEventBytes: this.opts.maxEventBytes,
        pollMs: this.opts.pollMs,
        stopWhenGone: true,
        onFileDone: (id) => this.finished.add(identityKey(id)),
      },
      this.rejects,
    );
    this.followers.set(file, follower);
    this.ctx.logger.info('Following a new file.', { file });
    void follower.start().then(async () => {
      if (this.closing) return;
      await follower.stop();
      this.followers.delete(file);
    });
    await follower.ready;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    await this.scanning;
    await Promise.all([...this.followers.values()].map((f) => f.stop()));
    this.followers.clear();
  }
}

export const def: SourceDef = {
  kind: 'source',
  name: 'tailDir',
  doc: 'Tails every file of a directory whose name matches a regex, as tail does for one.',
  args: [
    { name: 'dir', type: 'string', required: true, check: notEmpty, doc: "the directory to watch (under the node's node.read_paths)" },
    {
      name: 'regex',
      type: 'string',
      default: '.*',
      doc: 'JavaScript regex the file names must match',
      check: (v) => {
        try {
          new RegExp(String(v));
          return null;
        } catch (err) {
          return `is not a valid regex: ${(err as Error).message}`;
        }
      },
    },
    { name: 'startFromEnd', type: 'boolean', default: false, doc: 'read the files there at open from their end' },
    MAX_EVENT_ARG,
    {
      name: 'pollMs',
      type: 'number',
      default: SOURCE_DEFAULTS.pollMs,
      check: positiveInteger,
      doc: 'how often to look for new files and lines',
    },
  ],
  hostAccess: (args) => [{ kind: 'read', path: args.string('dir') }],
  create: (args, ctx) =>
    new TailDirSource(ctx, {
      dir: args.string('dir'),
      regex: args.string('regex'),
      startFromEnd: args.boolean('startFromEnd'),
      maxEventBytes: args.number('maxEventBytes'),
      pollMs: args.number('pollMs'),
    }),
};
