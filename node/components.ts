/**
 * The full catalog a flume-node runs: sources (agent/sources), local sinks and wrappers
 * (core/sinks), storage writers (collector/writers), decorators (core/decorators) and the tier
 * components (collector/source: collectorSource; agent/sinks: agent sinks and chains).
 * Adding a component: one file in its folder, one line in that folder's index.
 */
import { AGENT_SINKS } from '../agent/sinks';
import { SOURCES } from '../agent/sources';
import { COLLECTOR_SOURCES } from '../collector/source';
import { DECORATORS } from '../core/decorators';
import { DEFAULT_HOST_ACCESS, type HostAccessPolicy } from '../core/host-access';
import { type ComponentDef, Registry } from '../core/registry';
import { SINKS, WRAPPERS } from '../core/sinks';
import { WRITERS } from '../collector/writers';

/**
 * A registry holding every built-in component, plus `extra` (plugins, tests). `policy` is what
 * the node lets configs do to its host (core/host-access.ts); null for a registry that only
 * checks specs (the master's, `validate`).
 */
export function defaultRegistry(extra: readonly ComponentDef[] = [], policy: HostAccessPolicy | null = DEFAULT_HOST_ACCESS): Registry {
  return new Registry(policy)
    .registerAll(SOURCES)
    .registerAll(SINKS)
    .registerAll(WRITERS)
    .registerAll(WRAPPERS)
    .registerAll(DECORATORS)
    .registerAll(COLLECTOR_SOURCES)
    .registerAll(AGENT_SINKS)
    .registerAll(extra);
}
