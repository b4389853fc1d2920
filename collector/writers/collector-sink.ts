/**
 * Flume OG's `collectorSink(dir, prefix[, millis[, format]])`: the collector's storage writer.
 * It is `collector(millis) { escapedFile(dir, "<prefix>%{rolltag}", format) }`: files bucketed by
 * the escapes of `dir` and `prefix`, one generation of files per roll period, each written as
 * `.tmp` and renamed when its roll closes. A roll close is also when batches become durable, so
 * that is when their ids reach the node's ledger (end-to-end acks) and the stored-id index.
 */
import type { ComponentContext } from '../../core/component';
import type { ArgValue, SinkDef } from '../../core/registry';
import { RollSink } from '../../core/sinks/roll';
import { EscapedFileSink, localPath } from './escaped-file';
import { FORMAT_NAMES, getFormat } from '../../core/sinks/output-formats';
import { joinedTemplate } from '../../core/host-access';
import { compileTemplate } from '../../core/spec/escapes';

const COLLECTOR_SINK_DEFAULTS = { millis: 30_000, format: 'raw' } as const;

function checkPathTemplate(v: ArgValue): string | null {
  try {
    compileTemplate(localPath(String(v)));
    return null;
  } catch (err) {
    return `is not a valid path template: ${(err as Error).message}`;
  }
}

function collectorSink(dir: string, prefix: string, millis: number, format: string, ctx: ComponentContext): RollSink {
  const fmt = getFormat(format);
  return new RollSink(
    millis,
    (tags) => new EscapedFileSink(dir, `${prefix}%{rolltag}`, fmt, { ...ctx, tags: { ...ctx.tags, ...tags } }),
    ctx,
  );
}

export const collectorSinkDef: SinkDef = {
  kind: 'sink',
  name: 'collectorSink',
  doc: 'The collector storage writer: files under dir named prefix + rolltag, rolled every millis, written as .tmp and renamed.',
  args: [
    {
      name: 'dir',
      type: 'string',
      required: true,
      doc: "directory template (a path or file:// URL, under the node's node.write_paths), e.g. file:///logs/%Y-%m-%d/",
      check: checkPathTemplate,
    },
    { name: 'prefix', type: 'string', required: true, doc: 'file name prefix template, e.g. web-%{host}-', check: checkPathTemplate },
    {
      name: 'millis',
      type: 'number',
      default: COLLECTOR_SINK_DEFAULTS.millis,
      doc: 'roll period in milliseconds',
      check: (v) => ((v as number) > 0 ? null : 'must be a positive number of milliseconds'),
    },
    { name: 'format', type: 'identifier', default: COLLECTOR_SINK_DEFAULTS.format, oneOf: FORMAT_NAMES, doc: 'output format' },
  ],
  hostAccess: (args) => [{ kind: 'write', path: joinedTemplate(args.string('dir'), args.string('prefix')) }],
  create: (args, ctx) => collectorSink(args.string('dir'), args.string('prefix'), args.number('millis'), args.string('format'), ctx),
};
