/**
 * The full catalog a flume-node runs: sources (agent/sources), local sinks and wrappers
 * (core/sinks), storage writers (collector/writers) and decorators (core/decorators).
 * Adding a component: one file in its folder, one line in that folder's index.
 */
import { DECORATORS } from '../core/decorators';
import { FlumeError } from '../core/errors';
import { type ComponentDef, Registry, type SourceDef } from '../core/registry';
import { SINKS, WRAPPERS } from '../core/sinks';
import { WRITERS } from '../collector/writers';

/**
 * The sources' index (`agent/sources/index.ts` exporting `SOURCES: readonly SourceDef[]`), loaded
 * at run time so that this module builds while the sources are written; none if it is missing.
 */
function sourceDefs(): readonly SourceDef[] {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('../agent/sources') as { SOURCES?: readonly SourceDef[] };
    if (!mod.SOURCES) throw new FlumeError('agent/sources/index does not export SOURCES');
    return mod.SOURCES;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String(err).includes('agent/sources')) return [];
    throw err;
  }
}

/** A registry holding every built-in component, plus `extra` (tests add their own). */
export function defaultRegistry(extra: readonly ComponentDef[] = []): Registry {
  return new Registry()
    .registerAll(sourceDefs())
    .registerAll(SINKS)
    .registerAll(WRITERS)
    .registerAll(WRAPPERS)
    .registerAll(DECORATORS)
    .registerAll(extra);
}
