/**
 * A lean load process for the fleet bench (`BENCH_FLEET_CLIENT=lean`, the default of
 * `master-fleet`): the same IPC and argv as fleet-load.ts, but each simulated node is a bare
 * node:http2 session instead of a MasterClient on grpc-js.
 *
 * WHY. The fleet bench runs the simulated fleet on the masters' own 2 cores. A MasterClient
 * (grpc-js channel, resolver, subchannel, call stack) costs its process more CPU per status than
 * the master spends handling it, so at 10,000 nodes the load processes took more of the machine
 * than the master, stamped statuses that then waited in their own queues, and were slow to answer
 * the master's handshakes: the bench measured the simulator. A lean node puts on the wire what a
 * MasterClient does, and costs what the wire costs:
 *   - its own mutual-TLS connection with its own certificate (fleet-certs.ts), the master
 *     checked by role as MasterClient does; an HTTP/2 PING every 10 s (MasterClient's keepalive);
 *   - one `flume.Master/Control` stream, gRPC-framed NodeReports at the directive's heartbeat,
 *     `sent_at_ms` stamped as the report is written; its logical nodes reported ACTIVE at the
 *     version it was told, a report sent at once after a change (MasterClient's reportSoon);
 *   - every NodeDirective decoded; a new config version is told to the parent as `desired`;
 *   - failover as MasterClient's: a broken stream or refused connection opens a new session to
 *     the master node/master-rotation.ts chooses (MasterClient's own MasterRotation: another at
 *     random after a stream that worked, a round backoff of 0.5 s doubling to 10 s after a round
 *     of failures), node i starting with master i mod M as fleet-load.ts does; a stream without
 *     a first answer is given up after MasterClient's longest wait, which is its wait for a
 *     master whose host takes TCP connections (node/reachable.ts), as every master here does
 *     until it is killed, and then its connections are refused at once; one TLS context, made
 *     once, as a grpc-js channel's is.
 * So `master-fleet-failover` times the masters taking over and MasterClient's rotation, without
 * grpc-js's client cost per node, which on these 2 cores starved the load processes
 * (BENCH_FLEET_CLIENT=grpc runs MasterClients).
 *
 * argv and the parent's `lag0`, `lag`, `mark` and `trace`: as fleet-process.ts says.
 *
 * FLEET_PROBE=1: the process is the bench's probe, one node that also pings its master every
 * PROBE_PING_MS and keeps the round trips (Node times them); `lag` is also answered with
 * {t: 'pings', pings}, the round trips since `lag0`. Its process does nothing else, so a round trip is
 * the master's and the network's: how soon the master reads a node's frame and answers it.
 */
import * as http2 from 'node:http2';
import * as tls from 'node:tls';
import { MASTER_ROLES } from '../../core/tls';
import { serverRoleCheck } from '../../core/tls/context';
import { MASTER_CLIENT_DEFAULTS, OPEN_WAIT_MAX_FACTOR } from '../../node/master-client';
import { MasterRotation } from '../../node/master-rotation';
import { messageType } from '../../proto';
import { simName } from './fleet-certs';
import { FailoverTraces, lagMessage, loadArgs, mastersOf, ramp } from './fleet-process';

const args = loadArgs();
const { masters, first, count, ca, key, certs } = args;
const PING_MS = 10_000;
/** MasterClient's longest wait for a first answer, see the header. */
const OPEN_WAIT_MS = MASTER_CLIENT_DEFAULTS.callTimeoutMs * OPEN_WAIT_MAX_FACTOR;
const PROBE = process.env.FLEET_PROBE === '1';
const PROBE_PING_MS = 100;
let pings: number[] = [];
const ACTIVE = 3;

const reportType = messageType('NodeReport');
const directiveType = messageType('NodeDirective');
const checkServerIdentity = serverRoleCheck(MASTER_ROLES);
const breaks = new Map<string, number>();
const startedAt = Date.now();

interface DirectiveIn {
  logical: string[];
  configs: Array<{ logical: string; version: number | { toNumber(): number } }>;
  heartbeatMs: number;
}

class LeanNode {
  private session?: http2.ClientHttp2Session;
  private stream?: http2.ClientHttp2Stream;
  /** The report after its 5-byte gRPC prefix and 9-byte sent_at_ms: what changes only with `versions`. */
  private template = Buffer.alloc(0);
  private readonly versions = new Map<string, number>();
  private heartbeatMs = 1_000;
  private beat?: NodeJS.Timeout;
  private ping?: NodeJS.Timeout;
  private pending = Buffer.alloc(0);
  streaming = false;
  private stopped = false;
  private context?: tls.SecureContext;
  /** The masters in this node's order: node i starts with master i mod M. */
  private readonly masters: string[];
  private readonly rotation: MasterRotation;
  private openTimer?: NodeJS.Timeout;
  /** The master of the open session. */
  address = '';

  constructor(private readonly i: number) {
    this.masters = mastersOf(masters, i);
    this.rotation = new MasterRotation(this.masters);
    this.encode();
  }

  open(): void {
    if (this.stopped) return;
    this.context ??= tls.createSecureContext({ ca, key, cert: certs[this.i - first] });
    this.address = this.masters[this.rotation.current];
    const session = http2.connect(`https://${this.address}`, { secureContext: this.context, servername: 'flume', checkServerIdentity });
    this.session = session;
    this.openTimer = setTimeout(() => this.broken(session, `no answer within ${OPEN_WAIT_MS} ms`), OPEN_WAIT_MS);
    session.on('error', (err) => this.broken(session, err.message));
    session.on('close', () => this.broken(session, 'session closed'));
    const stream = session.request(
      { ':method': 'POST', ':path': '/flume.Master/Control', 'content-type': 'application/grpc', te: 'trailers' },
      { endStream: false },
    );
    this.stream = stream;
    stream.on('data', (chunk: Buffer) => this.data(chunk));
    stream.on('error', (err) => this.broken(session, err.message));
    stream.on('close', () => this.broken(session, 'stream closed'));
    this.ping = PROBE
      ? setInterval(() => session.ping((err, ms) => err || pings.push(ms)), PROBE_PING_MS)
      : setInterval(() => session.ping(() => undefined), PING_MS);
    this.send();
  }

  stop(): void {
    this.stopped = true;
    this.session?.destroy();
  }

  private broken(session: http2.ClientHttp2Session, why: string): void {
    if (session !== this.session) return;
    const wasStreaming = this.streaming;
    this.session = undefined;
    this.stream = undefined;
    this.streaming = false;
    this.pending = Buffer.alloc(0);
    clearTimeout(this.beat);
    clearTimeout(this.openTimer);
    clearInterval(this.ping);
    session.destroy();
    if (this.stopped) return;
    const reason = why.replace(/\d+/g, 'N').slice(0, 60);
    breaks.set(reason, (breaks.get(reason) ?? 0) + 1);
    traces.broken(this.i - first, reason);
    setTimeout(() => this.open(), this.rotation.failed(why, wasStreaming));
  }

  private encode(): void {
    const logical = [...this.versions].map(([name, v]) => ({ name, state: ACTIVE, configVersion: v }));
    const status = { physical: simName(this.i), host: 'h', role: 'agent', logical, startedAt };
    const whole = reportType.encode(reportType.fromObject({ sentAtMs: 1, status, chains: [] })).finish();
    this.template = Buffer.from(whole.subarray(9));
  }

  private send(): void {
    clearTimeout(this.beat);
    const stream = this.stream;
    if (!stream) return;
    const framed = Buffer.allocUnsafe(5 + 9 + this.template.length);
    framed[0] = 0;
    framed.writeUInt32BE(9 + this.template.length, 1);
    framed[5] = 0x09;
    framed.writeDoubleLE(performance.timeOrigin + performance.now(), 6);
    this.template.copy(framed, 14);
    stream.write(framed);
    this.beat = setTimeout(() => this.send(), this.heartbeatMs);
  }

  /** gRPC frames of NodeDirectives, possibly split across chunks. */
  private data(chunk: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1);
      if (buf.length < 5 + len) break;
      this.directive(buf.subarray(5, 5 + len));
      buf = buf.subarray(5 + len);
    }
    this.pending = buf.length ? Buffer.from(buf) : Buffer.alloc(0);
  }

  private directive(bytes: Buffer): void {
    const at = performance.timeOrigin + performance.now();
    if (!this.streaming) {
      clearTimeout(this.openTimer);
      this.rotation.answered();
      this.streaming = true;
      traces.back(this.i - first);
    }
    const d = directiveType.decode(bytes) as unknown as DirectiveIn;
    if (d.heartbeatMs > 0) this.heartbeatMs = d.heartbeatMs;
    const told = new Map<string, number>();
    for (const c of d.configs) {
      const version = typeof c.version === 'number' ? c.version : c.version.toNumber();
      if (version > 0 && d.logical.includes(c.logical)) told.set(c.logical, version);
    }
    let changed = told.size !== this.versions.size;
    for (const [name, version] of told) {
      if (this.versions.get(name) === version) continue;
      changed = true;
      process.send?.({ t: 'desired', node: name, version, at });
    }
    if (!changed) return;
    this.versions.clear();
    for (const [name, version] of told) this.versions.set(name, version);
    this.encode();
    setImmediate(() => this.send());
  }
}

const nodes: LeanNode[] = [];
const traces = new FailoverTraces((k) => (nodes[k]?.streaming ? nodes[k].address : ''));

const stats = setInterval(() => {
  const healthy: Record<string, number> = {};
  let on = 0;
  for (const n of nodes) {
    if (!n.streaming) continue;
    healthy[n.address] = (healthy[n.address] ?? 0) + 1;
    on++;
  }
  process.send?.({ t: 'stat', healthy, down: count - on, breaks: Object.fromEntries(breaks) });
}, 100);

process.on('message', (m: { t: string }) => {
  if (m.t === 'lag0') pings = [];
  if (m.t === 'lag' && PROBE) process.send?.({ t: 'pings', pings });
  if (lagMessage(m) || traces.message(m, nodes.length)) return;
  if (m.t === 'stop') {
    clearInterval(stats);
    for (const n of nodes) n.stop();
    setTimeout(() => process.exit(0), 200);
  }
});
process.on('disconnect', () => process.exit(0));

void ramp(args, (i) => {
  const node = new LeanNode(i);
  nodes.push(node);
  node.open();
});
