/**
 * Builds a logical node's components from its spec through the registry: the source, and the
 * sink tree (decorators, fan-out, failover, wrappers). Each component gets its own context: a
 * child logger and counters named by its path in the tree, e.g. `sink.0.batch` or `sink.roll.escapedFile`.
 */
import type { ComponentContext, Sink, Source } from '../core/component';
import { resolveOrThrow, type Registry } from '../core/registry';
import type { Call, LogicalNodeSpec, SinkSpec } from '../core/spec/ast';
import { FailoverSink } from '../core/sinks/failover';
import { FanOutSink } from '../core/sinks/fanout';

/** Makes the context of the component at `path` (e.g. `sink.0.batch`). */
export type ContextFactory = (path: string, tags?: Readonly<Record<string, string>>) => ComponentContext;

export function buildSource(registry: Registry, call: Call, makeContext: ContextFactory): Source {
  const { def, args } = resolveOrThrow(registry, 'source', call);
  return def.create(args, makeContext(`source.${call.name}`));
}

/** Builds a sink tree; throws on an unknown component or a bad argument (validate first). */
export function buildSink(
  registry: Registry,
  spec: SinkSpec,
  makeContext: ContextFactory,
  prefix = 'sink',
  tags?: Readonly<Record<string, string>>,
): Sink {
  switch (spec.kind) {
    case 'sink': {
      const { def, args } = resolveOrThrow(registry, 'sink', spec.call);
      return def.create(args, makeContext(`${prefix}.${spec.call.name}`, tags));
    }
    case 'decorated': {
      const { def, args } = resolveOrThrow(registry, 'decorator', spec.decorator);
      const path = `${prefix}.${spec.decorator.name}`;
      const inner = buildSink(registry, spec.sink, makeContext, path, tags);
      return def.create(args, makeContext(path, tags), inner);
    }
    case 'fanout':
      return new FanOutSink(spec.sinks.map((s, i) => buildSink(registry, s, makeContext, `${prefix}.${i}`, tags)));
    case 'failover': {
      const primary = buildSink(registry, spec.primary, makeContext, `${prefix}.primary`, tags);
      const backup = buildSink(registry, spec.backup, makeContext, `${prefix}.backup`, tags);
      return new FailoverSink(primary, backup, makeContext(`${prefix}.failover`, tags));
    }
    case 'wrapper': {
      const { def, args } = resolveOrThrow(registry, 'wrapper', spec.call);
      const path = `${prefix}.${spec.call.name}`;
      return def.create(args, makeContext(path, tags), (bodyTags) =>
        buildSink(registry, spec.body, makeContext, path, { ...tags, ...bodyTags }),
      );
    }
  }
}

/** Whether a component of the spec declares that it needs a durable channel. */
export function needsDurableChannel(registry: Registry, spec: LogicalNodeSpec): boolean {
  const wants = (kind: 'source' | 'sink' | 'decorator' | 'wrapper', name: string): boolean =>
    registry.lookup(kind, name)?.durableChannel === true;
  const walk = (sink: SinkSpec): boolean => {
    switch (sink.kind) {
      case 'sink':
        return wants('sink', sink.call.name);
      case 'decorated':
        return wants('decorator', sink.decorator.name) || walk(sink.sink);
      case 'fanout':
        return sink.sinks.some(walk);
      case 'failover':
        return walk(sink.primary) || walk(sink.backup);
      case 'wrapper':
        return wants('wrapper', sink.call.name) || walk(sink.body);
    }
  };
  return wants('source', spec.source.name) || walk(spec.sink);
}
