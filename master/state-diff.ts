/**
 * Which physical nodes a committed change can concern: the master's control streams push a
 * directive after each commit only to those, not to the whole fleet (one config change to one
 * node must not cost a reply per connected node).
 *
 * A physical node's directive is a function of its logical nodes (`logicalNodesOf`: its mapping,
 * else the implicit one of its own name unless decommissioned) and of their config versions. So a
 * change from `prev` to `next` concerns:
 * - every physical node whose mapping differs;
 * - every physical node named in `decommissioned` on one side only (its implicit logical node);
 * - for every logical node whose config version differs (added, changed or removed): the physical
 *   node of that name (its implicit logical node) and every physical node `next` maps it to.
 *   (One `prev` mapped it to and `next` does not has a different mapping, so is in the first set.)
 * Chains are not covered here: they depend on node status too; the caller rechecks those streams.
 *
 * Cost: when the new view says which keys it touched since the view last indexed
 * (StateView.touched), a look at those keys only; otherwise one pass over the configs and mappings
 * of both states, without allocating for entries that are the same. The logical → physical index
 * is rebuilt only when a mapping changed.
 */
import type { MasterState, StateView } from './store/types';

export class ChangeIndex {
  /** logical node → the physical nodes the indexed state maps it to. */
  private byLogical = new Map<string, string[]>();

  private state: Readonly<MasterState>;
  private revision: number;

  constructor(view: StateView) {
    this.state = view.state;
    this.revision = view.revision;
    this.index();
  }

  /** The physical nodes whose directive the change from the last view to `view` may change; then `view` becomes the last. */
  advance(view: StateView): Set<string> {
    const prev = this.state;
    const next = view.state;
    const touched = view.touched?.from === this.revision ? view.touched : undefined;
    this.revision = view.revision;
    const out = new Set<string>();
    if (next === prev) return out;
    let mappingsChanged = false;
    const mappingDiffers = (p: string): void => {
      if (Object.hasOwn(next.mappings, p) ? !sameList(prev.mappings[p], next.mappings[p]) : Object.hasOwn(prev.mappings, p)) {
        out.add(p);
        mappingsChanged = true;
      }
    };
    if (touched) for (const p of touched.mappings) mappingDiffers(p);
    else if (next.mappings !== prev.mappings) {
      for (const p in next.mappings) mappingDiffers(p);
      for (const p in prev.mappings) if (!Object.hasOwn(next.mappings, p)) mappingDiffers(p);
    }
    if (!sameList(prev.decommissioned, next.decommissioned)) {
      const before = new Set(prev.decommissioned);
      const after = new Set(next.decommissioned);
      for (const n of after) if (!before.has(n)) out.add(n);
      for (const n of before) if (!after.has(n)) out.add(n);
    }
    this.state = next;
    if (mappingsChanged) this.index();
    const versionDiffers = (l: string): void => {
      if (prev.configs[l]?.version !== next.configs[l]?.version) this.logicalChanged(l, out);
    };
    if (touched) for (const l of touched.configs) versionDiffers(l);
    else if (next.configs !== prev.configs) {
      for (const l in next.configs) versionDiffers(l);
      for (const l in prev.configs) if (!Object.hasOwn(next.configs, l)) this.logicalChanged(l, out);
    }
    return out;
  }

  private logicalChanged(logical: string, out: Set<string>): void {
    out.add(logical);
    const mapped = this.byLogical.get(logical);
    if (mapped) for (const p of mapped) out.add(p);
  }

  private index(): void {
    this.byLogical = new Map();
    for (const p in this.state.mappings) {
      for (const l of this.state.mappings[p]) {
        const list = this.byLogical.get(l);
        if (list) list.push(p);
        else this.byLogical.set(l, [p]);
      }
    }
  }
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
