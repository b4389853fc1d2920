/**
 * `tail(file[, startFromEnd=false])`: follows a growing file, one event per line, across
 * rotation and truncation, and across restarts.
 *
 * This is the source and its spec definition; the following itself (rotation, truncation, the
 * saved position, a batch left pending by a crash) is TailFollower's, in tail-follower.ts, which
 * `tailDir` and `multitail` run too.
 */
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import type { SourceDef } from '../../core/registry';
import { MAX_EVENT_ARG, notEmpty, positiveInteger, Rejects, SOURCE_DEFAULTS } from './common';
import type { FileIdentity } from './offset-store';
import { TailFollower, type TailOptions } from './tail-follower';

export class TailSource implements Source {
  private follower: TailFollower | null = null;
  private readonly rejects: Rejects;

  constructor(
    private readonly ctx: ComponentContext,
    private readonly options: Partial<TailOptions> & { file: string },
  ) {
    this.rejects = new Rejects(ctx);
  }

  async open(out: SourceOutput): Promise<void> {
    this.follower = new TailFollower(this.ctx, out, this.options, this.rejects);
    void this.follower.start();
    await this.follower.ready;
  }

  async close(): Promise<void> {
    await this.follower?.stop();
  }

  /** Identity of the file being read (0/0 before it exists): lets tests pace rotations. */
  get following(): FileIdentity {
    return this.follower?.identity ?? { dev: 0, ino: 0, birth: 0 };
  }
}

export const def: SourceDef = {
  kind: 'source',
  name: 'tail',
  doc: 'Follows a file across rotation and truncation, one event per line; its position survives restarts.',
  args: [
    { name: 'file', type: 'string', required: true, check: notEmpty, doc: "the file to follow (under the node's node.read_paths)" },
    { name: 'startFromEnd', type: 'boolean', default: false, doc: 'with no saved position, start at the end of the file' },
    MAX_EVENT_ARG,
    {
      name: 'pollMs',
      type: 'number',
      default: SOURCE_DEFAULTS.pollMs,
      check: positiveInteger,
      doc: 'how often to look for more once caught up',
    },
  ],
  hostAccess: (args) => [{ kind: 'read', path: args.string('file') }],
  create: (args, ctx) =>
    new TailSource(ctx, {
      file: args.string('file'),
      startFromEnd: args.boolean('startFromEnd'),
      maxEventBytes: args.number('maxEventBytes'),
      pollMs: args.number('pollMs'),
    }),
};
