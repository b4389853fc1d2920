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
 *
 * A source declares what it needs with `hostAccess` in its def (core/registry.ts); the node's
 * registry checks each against its policy when a logical node is validated, so a refused config
 * never starts and the logical node reports the refusal, with line:column, as its ERROR. The
 * master's registry has no policy: it cannot know what each node allows.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One thing a component would do to its host. */
export type HostAccess = { kind: 'exec'; command: string } | { kind: 'read'; path: string };

export interface HostAccessPolicy {
  /** true: any command; false: none; a list: exactly these command lines. */
  readonly allowExec: boolean | readonly string[];
  /** Directories under which sources may read files (absolute). */
  readonly readPaths: readonly string[];
}

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
  const target = resolveExisting(path.resolve(access.path));
  for (const dir of policy.readPaths) {
    const root = resolveExisting(path.resolve(dir));
    if (target === root || target.startsWith(root.endsWith(path.sep) ? root : root + path.sep)) return null;
  }
  return `this node does not read ${JSON.stringify(access.path)}: it is outside the directories its site config's node.read_paths allows (${policy.readPaths.join(', ')})`;
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
