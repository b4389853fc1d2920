/**
 * `flume-node --master h:p[,h:p...]`: what the master pushes down the control stream drives the
 * logical node manager. Every desired set is applied by diff (only changed nodes are closed and
 * reopened), each logical node's state goes back up within a few ms, and the last desired set
 * is applied again every few seconds so that a node that failed to open is retried.
 *
 * Last known config (node/last-config.ts): every desired set and chain version the master sends
 * is saved in the data dir. At start the saved set is applied at once, before any master has
 * answered, so a node restarted during a master outage runs its flows (its sources listen, its
 * WAL drains to the collectors it knew). The first master that answers reconciles: its set is
 * applied by the same diff, so flows whose config did not change keep running untouched, and its
 * versions win over the saved ones, older or not.
 */
import { MasterChainSource } from './chains';
import { LastConfigFile } from './last-config';
import { type DesiredLogicalNode, MasterClient } from './master-client';
import type { NodeRuntime } from './cli';
import { type DesiredSet, reportedState } from './manager';

export interface MasterModeOptions {
  masters: string[];
  role: string;
  heartbeatMs?: number;
}

/** How often the last desired set is applied again and states are refreshed. */
const REAPPLY_MS = 2_000;

/** Starts master mode; resolves to null (run on) once the control stream is being opened. */
export async function runMasterMode(rt: NodeRuntime, options: MasterModeOptions): Promise<number | null> {
  const log = rt.logger.child({ component: 'master-mode' });
  const saved = new LastConfigFile(rt.dataRoot, rt.logger);
  const lastKnown = saved.hasNodes ? new Map<string, DesiredLogicalNode>(Object.entries(saved.config.nodes)) : undefined;
  const client = new MasterClient({
    masters: options.masters,
    physical: rt.physicalNode,
    role: options.role,
    logger: rt.logger,
    host: rt.host,
    heartbeatMs: options.heartbeatMs,
    tls: rt.tls,
    ...(lastKnown ? { lastKnown } : {}),
  });
  const chains = new MasterChainSource(client, rt.logger, {
    known: saved.config.chains,
    onChange: (chain) => void saved.saveChain(chain),
  });
  rt.manager.useChains(chains);
  let desired: DesiredSet = lastKnown ?? new Map();
  /** False until a master's set has been applied: until then `desired` is the last known config. */
  let confirmed = lastKnown === undefined;
  let known = new Set<string>();

  const report = (): void => {
    const running = new Set<string>();
    for (const s of rt.manager.status()) {
      running.add(s.name);
      client.reportState(s.name, reportedState(s.state), s.version, s.error ?? '');
    }
    for (const name of known) if (!running.has(name)) client.forget(name);
    known = running;
  };

  const apply = async (): Promise<void> => {
    const result = await rt.manager.apply(desired, { lastKnown: !confirmed });
    if (result.opened.length + result.closed.length + result.failed.length + result.refused.length > 0) {
      log.info('Configuration applied', {
        opened: result.opened,
        closed: result.closed,
        failed: result.failed.map((f) => `${f.name}: ${f.error}`),
        refused: result.refused.map((r) => `${r.name}: ${r.reason}`),
        ...(confirmed ? {} : { from: 'last known config' }),
      });
    }
    report();
  };
  const applyLogged = (): void => {
    void apply().catch((err: Error) => log.error('Applying the configuration failed', { error: err.message }));
  };

  client.on('desired', (set) => {
    if (!confirmed) {
      log.info('A master answered; its configuration replaces the last known one.', {
        unchanged: [...set].filter(([name, d]) => sameConfig(lastKnown?.get(name), d)).map(([name]) => name),
      });
    }
    desired = set;
    confirmed = true;
    void saved.saveNodes(set);
    applyLogged();
  });
  const timer = setInterval(applyLogged, REAPPLY_MS);
  timer.unref();
  rt.onStop.push(async () => {
    clearInterval(timer);
    chains.stop();
    await client.stop();
    await saved.flushed();
  });
  if (lastKnown) {
    log.info('Running the last known configuration until a master answers.', {
      nodes: [...lastKnown].map(([n, d]) => `${n}@${d.version}`).join(','),
      savedAt: new Date(saved.config.savedAt).toISOString(),
    });
    applyLogged();
  }
  client.start();
  chains.start();
  log.info('Master mode started', { masters: options.masters, role: options.role, physicalNode: rt.physicalNode });
  return null;
}

function sameConfig(a: DesiredLogicalNode | undefined, b: DesiredLogicalNode): boolean {
  return a !== undefined && a.version === b.version && a.source === b.source && a.sink === b.sink && a.flow === b.flow;
}
