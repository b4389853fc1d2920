/** `multitail(file, file...)`: Flume OG's tail of several files, each as `tail` follows one. */
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import type { SourceDef } from '../../core/registry';
import { notEmpty, Rejects } from './common';
import { TailFollower, type TailOptions } from './tail-follower';

/** Several followers, one per file, each with its own saved position; one rejection count. */
export class MultiTailSource implements Source {
  private readonly followers: TailFollower[] = [];
  private readonly rejects: Rejects;

  constructor(
    private readonly ctx: ComponentContext,
    private readonly files: readonly string[],
    private readonly options: Partial<Omit<TailOptions, 'file'>> = {},
  ) {
    this.rejects = new Rejects(ctx);
  }

  async open(out: SourceOutput): Promise<void> {
    for (const file of this.files) {
      const f = new TailFollower(this.ctx, out, { ...this.options, file }, this.rejects);
      this.followers.push(f);
      void f.start();
      await f.ready;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.followers.map((f) => f.stop()));
  }
}

export const def: SourceDef = {
  kind: 'source',
  name: 'multitail',
  doc: 'tail of several files at once, one event per line, each file with its own saved position.',
  args: [{ name: 'files', type: 'string', rest: true, check: notEmpty, doc: "the files to follow (under the node's node.read_paths)" }],
  hostAccess: (args) => args.list('files').map((f) => ({ kind: 'read', path: String(f) })),
  create: (args, ctx) => new MultiTailSource(ctx, args.list('files').map(String)),
};
