/**
 * Automatic chains: which collectors an agent using `autoE2EChain` / `autoDFOChain` /
 * `autoBEChain` sends to.
 *
 * Collectors register themselves: a logical node whose source is a collector source reports the
 * `host:port` it listens on in its heartbeat status (`LogicalNodeStatus.listen`). A collector is
 * live while its logical node is ACTIVE, still configured and mapped to the physical node that
 * reports it, and that physical node is neither LOST nor DECOMMISSIONED. Its flow is the flow of
 * its logical node's config.
 *
 * An agent's chain is the (up to) `CHAIN_LENGTH` live collectors of its flow with the highest
 * rendezvous score `hash(agent, collector)`: every agent ranks the collectors in its own
 * pseudo-random order, so first choices spread evenly, and when a collector joins or leaves only
 * the agents that ranked it in their top `CHAIN_LENGTH` see their list change (the others keep
 * theirs, stream untouched). The version is a hash of the list itself.
 *
 * Several masters: the chain is a pure function of the shared state (configs, mappings) and of
 * the node status every master already merges (`NodeTable.list`, fed by master/store/zk-status.ts
 * across masters), and the version is derived from the list, not counted. So every master
 * answers the same list and version for the same agent without writing anything more to
 * ZooKeeper. (Two masters may disagree for at most one status publish interval, the same window
 * in which they may disagree on a node being LOST; a node that switches master then sees one
 * extra version change, never a wrong collector for long.)
 */
import { createHash } from 'node:crypto';
import { NodeStateCode } from '../proto/messages';
import { logicalNodesOf, type NodeRecord } from './nodes';
import type { MasterState } from './store/types';

/** How many collectors an automatic chain names at most. */
export const CHAIN_LENGTH = 3;
/** The flow of a logical node without one in its config. */
export const DEFAULT_FLOW = 'default';

export interface LiveCollector {
  /** host:port it listens on. */
  address: string;
  flow: string;
  logical: string;
  physical: string;
}

export interface Chain {
  collectors: string[];
  /** Changes whenever `collectors` does; the same on every master. */
  version: number;
}

/** 64-bit rendezvous score of (agent, collector), as a bigint (no ties in practice). */
function score(agent: string, collector: string): bigint {
  return createHash('sha1').update(agent).update('\0').update(collector).digest().readBigUInt64BE(0);
}

/** A positive 48-bit version from the list (0 stays "no chain yet" on the node side). */
function chainVersion(collectors: readonly string[]): number {
  const h = createHash('sha1').update(collectors.join(',')).digest();
  return h.readUIntBE(0, 6) || 1;
}

/** The top `length` of `addresses` for `agent` by rendezvous hashing, best first. */
export function rank(agent: string, addresses: readonly string[], length = CHAIN_LENGTH): string[] {
  return addresses
    .map((address) => ({ address, s: score(agent, address) }))
    .sort((a, b) => (a.s > b.s ? -1 : a.s < b.s ? 1 : a.address < b.address ? -1 : 1))
    .slice(0, length)
    .map((x) => x.address);
}

/** The live collectors, from the merged node status and the shared state; sorted by address. */
export function liveCollectors(state: Readonly<MasterState>, nodes: readonly NodeRecord[]): LiveCollector[] {
  const out = new Map<string, LiveCollector>();
  for (const node of nodes) {
    if (node.state === NodeStateCode.LOST || node.state === NodeStateCode.DECOMMISSIONED) continue;
    const mapped = logicalNodesOf(state, node.physical);
    for (const l of node.logical) {
      if (!l.listen || l.state !== NodeStateCode.ACTIVE) continue;
      const config = state.configs[l.name];
      if (!config || !mapped.includes(l.name) || state.decommissioned.includes(l.name)) continue;
      // One address, one collector: a stale record of a moved logical node must not count twice.
      out.set(l.listen, { address: l.listen, flow: config.flow || DEFAULT_FLOW, logical: l.name, physical: node.physical });
    }
  }
  return [...out.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/**
 * Answers GetChain. The live collector set is recomputed at most every `refreshMs` (and when
 * the state revision changes), since every auto-chain agent asks about once per heartbeat.
 */
export class ChainTable {
  private revision = -1;
  private computedAt = 0;
  private byFlow = new Map<string, string[]>();

  constructor(
    private readonly source: () => { revision: number; state: Readonly<MasterState>; nodes: () => NodeRecord[] },
    private readonly refreshMs = 500,
  ) {}

  /** The chain of `agent` (a logical node) in `flow` (default: the flow of its own config). */
  chain(agent: string, flow: string | undefined, now: number): Chain {
    const { revision, state, nodes } = this.source();
    if (revision !== this.revision || now - this.computedAt >= this.refreshMs) {
      const byFlow = new Map<string, string[]>();
      for (const c of liveCollectors(state, nodes())) {
        const list = byFlow.get(c.flow) ?? [];
        list.push(c.address);
        byFlow.set(c.flow, list);
      }
      this.byFlow = byFlow;
      this.revision = revision;
      this.computedAt = now;
    }
    const f = flow || state.configs[agent]?.flow || DEFAULT_FLOW;
    const collectors = rank(agent, this.byFlow.get(f) ?? []);
    return { collectors, version: chainVersion(collectors) };
  }
}
