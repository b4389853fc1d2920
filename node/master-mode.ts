/**
 * `flume-node --master h:p[,h:p...]`: what the master pushes down the control stream drives the
 * logical node manager. Every desired set is applied by diff (only changed nodes are closed and
 * reopened), each logical node's state goes back up within a few ms, and the last desired set
 * is applied again every few seconds so that a node that failed to open is retried.
 */
import { MasterChainSource } from './chains';
import { MasterClient } from './master-client';
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
  const client = new MasterClient({
    masters: options.masters,
    physical: rt.physicalNode,
    role: options.role,
    logger: rt.logger,
    host: rt.host,
    heartbeatMs: options.heartbeatMs,
    tls: rt.tls,
  });
  const chains = new MasterChainSource(client, rt.logger);
  rt.manager.useChains(chains);
  let desired: DesiredSet = new Map();
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
    const result = await rt.manager.apply(desired);
    if (result.opened.length + result.closed.length + result.failed.length + result.refused.length > 0) {
      log.info('Configuration applied', {
        opened: result.opened,
        closed: result.closed,
        failed: result.failed.map((f) => `${f.name}: ${f.error}`),
        refused: result.refused.map((r) => `${r.name}: ${r.reason}`),
      });
    }
    report();
  };

  client.on('desired', (set) => {
    desired = set;
    void apply().catch((err: Error) => log.error('Applying the configuration failed', { error: err.message }));
  });
  const timer = setInterval(() => {
    void apply().catch((err: Error) => log.error('Applying the configuration failed', { error: err.message }));
  }, REAPPLY_MS);
  timer.unref();
  rt.onStop.push(async () => {
    clearInterval(timer);
    chains.stop();
    await client.stop();
  });
  client.start();
  chains.start();
  log.info('Master mode started', { masters: options.masters, role: options.role, physicalNode: rt.physicalNode });
  return null;
}
