/**
 * What a node lets its configs do to the host it runs on. A master (or whoever can reach it)
 * hands a node its dataflow specs; the node's own site config decides which of them may run a
 * program or read a file, so a command sent to a master cannot alone make a node run `id > F` or
 * ship `/etc/shadow` away.
 *
 * - Programs (`exec`, `execStream`, `execPeriodic`): refused unless `node.allow_exec` is `true`
 *   (any command) or a JSON list of the exact command lines allowed. The whole line is compared,
 *   because it runs under `/bin/sh -c`: allowing a program by name would allow `prog; anything`.
 * - Files read by sources (`text`, `tail`, `multitail`, `tailDir`, `spooldir`): only under the
 *   directories of `node.read_paths`. The default is `/` (any file): tailing whatever the
 *   operator names is what these sources are for, and the sources run with the node's own
 *   rights. Set it (e.g. `/var/log,/srv/app/logs`) on a node whose master is less trusted than
 *   its files. A path is compared after resolving `..` and, for the part that exists, symlinks;
 *   a file swapped for a symlink later is not caught.
 * - Files written by sinks (`text`, `collectorSink`, `escapedFile`, `customdfs` and their
 *   aliases): only under the directories of `node.write_paths`, by default the node's data dir
 *   alone (node/cli.ts fills it in), so a master cannot make a node append to `/etc/cron.d/x`
 *   or `~/.ssh/authorized_keys`. A writer's template is checked by its fixed head, the directory
 *   above its first escape: event values cannot climb out of it (core/spec/path-value.ts), and
 *   template text that could (a segment of only dots and escapes, like `..` or `.%{host}.`, after
 *   the first escape) is refused. A URL of another scheme (s3://) writes no local file.
 *
 * A source declares what it needs with `hostAccess` in its def (core/registry.ts); the node's
 * registry checks each against its policy when a logical node is validated, so a refused config
 * never starts and the logical node reports the refusal, with line:column, as its ERROR. The
 * master's registry has no policy: it cannot know what each node allows.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One thing a component would do to its host. */
export type HostAccess = { kind: 'exec'; command: string } | { kind: 'read'; path: string } | { kind: 'write'; path: string };

export interface HostAccessPolicy {
  /** true: any command; false: none; a list: exactly these command lines. */
  readonly allowExec: boolean | readonly string[];
  /** Directories under which sources may read files (absolute). */
  readonly readPaths: readonly string[];
  /** Directories under which sinks may write files (absolute); undefined: anywhere (a registry built in code, no site config). */
  readonly writePaths?: readonly string[];
}

/** Escapes of a path template (core/spec/escapes.ts), as far as a path check needs them. */
const ESCAPE = /%(\{[^}]*\}|.)/g;
/** A path or file:// URL's scheme, when it names another store. */
const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;

/** What a node allows when its site config says nothing (mirrors the site config's defaults). */
export const DEFAULT_HOST_ACCESS: HostAccessPolicy = { allowExec: false, readPaths: ['/'] };

/** Why `policy` refuses `access`, or null when it allows it. */
export function hostAccessProblem(access: HostAccess, policy: HostAccessPolicy): string | null {
  if (access.kind === 'exec') {
    const allow = policy.allowExec;
    if (allow === true || (Array.isArray(allow) && allow.includes(access.command))) return null;
    return allow === false
      ? 'this node does not run programs: its site config has node.allow_exec = false (set it on the node to allow commands)'
      : `this node does not run ${JSON.stringify(access.command)}: it is not one of the commands its site config's node.allow_exec lists`;
  }
  if (access.kind === 'write') return writeProblem(access.path, policy.writePaths);
  if (isUnder(path.resolve(access.path), policy.readPaths)) return null;
  return `this node does not read ${JSON.stringify(access.path)}: it is outside the directories its site config's node.read_paths allows (${policy.readPaths.join(', ')})`;
}

/** Why a writer may not write under `template` (a path or file:// URL, escapes allowed), or null. */
function writeProblem(template: string, roots: readonly string[] | undefined): string | null {
  if (roots === undefined) return null;
  const local = template.startsWith('file://') ? template.slice('file://'.length) : template;
  if (SCHEME.test(local)) return null;
  const first = local.indexOf('%');
  const head = first < 0 ? local : local.slice(0, local.lastIndexOf('/', first) + 1);
  const climbs = local
    .slice(head.length)
    .split('/')
    .some((segment) => /^\.+$/.test(segment.replace(ESCAPE, '')));
  const refused = `this node does not write ${JSON.stringify(template)}: it is outside the directories its site config's node.write_paths allows (${roots.join(', ')})`;
  if (climbs) return `${refused}: a path segment after the first escape is made only of dots`;
  return isUnder(path.resolve(head === '' ? '.' : head), roots) ? null : refused;
}

/** Whether `p` (absolute) is one of `dirs` or inside one, after resolving symlinks of what exists. */
function isUnder(p: string, dirs: readonly string[]): boolean {
  const target = resolveExisting(p);
  for (const dir of dirs) {
    const root = resolveExisting(path.resolve(dir));
    if (target === root || target.startsWith(root.endsWith(path.sep) ? root : root + path.sep)) return true;
  }
  return false;
}

/** A writer's dir and file templates as one path template (the writer joins them the same way). */
export function joinedTemplate(dir: string, file: string): string {
  return `${dir.replace(/\/+$/, '')}/${file}`;
}

/** `p` with the symlinks of its longest existing prefix resolved. */
function resolveExisting(p: string): string {
  let head = p;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync(head), ...rest.reverse());
    } catch {
      const parent = path.dirname(head);
      if (parent === head) return p;
      rest.push(path.basename(head));
      head = parent;
    }
  }
}
