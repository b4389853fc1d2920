/** `flume-node components`: the reference of every registered component, as Markdown. */
import type { ArgSchema, ComponentDef, ComponentKind, Registry } from '../core/registry';

const TITLES: Record<ComponentKind, string> = {
  source: 'Sources',
  sink: 'Sinks',
  decorator: 'Decorators (`{ name(args) => sink }` or `name(args) sink`)',
  wrapper: 'Wrappers (`name(args) { sink }`)',
};

function signature(def: ComponentDef): string {
  if (def.args.length === 0) return def.name;
  const parts = def.args.map((a) => {
    const s = a.rest ? `${a.name}...` : a.name;
    return a.required ? s : `[${s}]`;
  });
  return `${def.name}(${parts.join(', ')})`;
}

function argType(a: ArgSchema): string {
  return a.oneOf ? a.oneOf.join(' \\| ') : a.type;
}

function argRow(a: ArgSchema): string {
  const req = a.required
    ? 'required'
    : a.default !== undefined
      ? `default ${JSON.stringify(a.default)}`
      : a.rest
        ? 'zero or more'
        : 'optional';
  return `| \`${a.name}\` | ${argType(a)} | ${req} | ${a.doc.replace(/\|/g, '\\|')} |`;
}

export function componentReference(registry: Registry): string {
  const out: string[] = ['# flume-node components', ''];
  out.push('Fan-out `[ a, b ]` and failover `< primary ? backup >` combine sinks; see the spec language.', '');
  for (const kind of ['source', 'sink', 'decorator', 'wrapper'] as const) {
    const defs = registry.list(kind).sort((a, b) => a.name.localeCompare(b.name));
    out.push(`## ${TITLES[kind]}`, '');
    if (defs.length === 0) out.push('(none registered)', '');
    for (const def of defs) {
      out.push(`### \`${signature(def)}\``, '');
      out.push(def.doc);
      if (def.aliases?.length) out.push('', `Also: ${def.aliases.map((a) => `\`${a}\``).join(', ')}.`);
      out.push('');
      if (def.args.length > 0) {
        out.push('| argument | type | | |', '|---|---|---|---|', ...def.args.map(argRow), '');
      }
    }
  }
  return out.join('\n');
}
