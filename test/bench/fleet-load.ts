/**
 * One load process of the fleet bench (fleet.bench.ts forks several): `count` simulated physical
 * nodes, each a real node/master-client MasterClient with its own TLS connection and control
 * stream and its own certificate (fleet-certs.ts: the master binds a node's status to it),
 * reporting every logical node it is told to run as ACTIVE.
 *
 * IPC to the parent:
 *   {t: 'desired', node, version, at}   a node was told a new config (at: ms since epoch, fractional)
 *   {t: 'stat', healthy: {master: n}, down, breaks}  every 100 ms: nodes per master they stream to,
 *                                     and without one; outages begun so far, by reason
 * From the parent: {t: 'stop'}; {t: 'lag0'}, {t: 'lag'}, {t: 'mark', at} and {t: 'trace'} as fleet-process.ts says.
 *
 * argv: as fleet-process.ts says.
 */
import * as grpc from '@grpc/grpc-js';
import { Writable } from 'node:stream';
import * as winston from 'winston';
import { MASTER_ROLES } from '../../core/tls';
import { serverRoleCheck } from '../../core/tls/context';
import { MasterClient } from '../../node/master-client';
import { simName } from './fleet-certs';
import { FailoverTraces, lagMessage, loadArgs, mastersOf, ramp } from './fleet-process';

const args = loadArgs();
const { masters, first, count, ca, key, certs } = args;

/** A reason to count: grpc-js's connect errors without their preamble and date, numbers as N. */
const short = (reason: string): string =>
  reason
    .replace(/^No connection established\. Last error: (Error: )?/, 'connect: ')
    .replace(/ \(\d{4}-\d\d-\d\dT[^)]*\)$/, '')
    .replace(/\d+/g, 'N')
    .slice(0, 60);
/** Why streams broke, by the first words of the reason (the clients' outage log lines, counted). */
const breaks = new Map<string, number>();
const logger = winston.createLogger({
  level: 'warn',
  transports: [
    new winston.transports.Stream({
      stream: new Writable({
        objectMode: true,
        write(info: { error?: unknown }, _encoding, done): void {
          const why = short(String(info.error ?? ''));
          if (why) breaks.set(why, (breaks.get(why) ?? 0) + 1);
          done();
        },
      }),
    }),
  ],
});
const clients: MasterClient[] = [];

const traces = new FailoverTraces((k) => clients[k]?.master ?? '');

function startOne(i: number): void {
  const physical = simName(i);
  // As node/master-client does: the server must hold a master certificate of the CA (no hostname).
  const credentials = grpc.credentials.createSsl(ca, key, Buffer.from(certs[i - first]), {
    checkServerIdentity: serverRoleCheck(MASTER_ROLES),
  });
  const client = new MasterClient({ masters: mastersOf(masters, i), physical, role: 'agent', logger, credentials });
  client.on('desired', (desired) => {
    const at = performance.timeOrigin + performance.now();
    for (const [name, d] of desired) {
      client.reportState(name, 'ACTIVE', d.version);
      process.send?.({ t: 'desired', node: name, version: d.version, at });
    }
  });
  client.on('broken', ({ reason }) => traces.broken(i - first, short(reason)));
  client.on('master', () => traces.back(i - first));
  client.start();
  clients.push(client);
}

const stats = setInterval(() => {
  const healthy: Record<string, number> = {};
  let down = 0;
  for (const c of clients) {
    const m = c.master;
    if (m) healthy[m] = (healthy[m] ?? 0) + 1;
    else down++;
  }
  process.send?.({ t: 'stat', healthy, down: down + (count - clients.length), breaks: Object.fromEntries(breaks) });
}, 100);

process.on('message', (m: { t: string; at?: number }) => {
  if (lagMessage(m) || traces.message(m, clients.length)) return;
  if (m.t !== 'stop') return;
  clearInterval(stats);
  void Promise.all(clients.map((c) => c.stop())).then(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));

void ramp(args, startOne);
