/**
 * What one node's TLS connection and control stream cost a server, by layer (issue 17): N
 * connections (CONN_COST_N, default 2,000), each with one open bidi stream carrying a NodeReport
 * a second, against
 *   bare    a node:http2 secure server (TLS + HTTP/2 only),
 *   grpc    a grpc-js server with the master's options (limitOptions, keepalive, session hook),
 *   master  the real master (startMaster, embedded store, TLS), in the measured process.
 * The server runs in its own process (--expose-gc); after every stream has its answer and a few
 * seconds of reports it is collected twice and reports RSS, heap and external memory; the growth
 * over the empty server divided by N is the cost per connection. `cpu_ms_per_conn`: the CPU time
 * of the server and of the client process while the connections open (50 at a time: TLS
 * handshake, HTTP/2 session, the stream and its first report and answer), divided by N.
 *
 *   node dist/test/bench/conn-cost.js MODE [JSON]   (JSON: {"tls": {...}, "settings": {...},
 *        "grpc": {...}, "env": {...}} merged into the server's options / environment)
 *   CONN_COST_SETTLE_MS: how long the streams report before the server is measured (default 5 s);
 *   CONN_COST_EXECARGV: Node options for the server process (`--trace-gc-nvp`).
 */
import * as grpc from '@grpc/grpc-js';
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as v8 from 'node:v8';
import { applyServerWindow, limitOptions } from '../../core/grpc/tuning';
import { silentLogger } from '../../core/logger';
import { TlsContext } from '../../core/tls';
import { MASTER_PORT_LIMIT_DEFAULTS } from '../../core/limits';
import { CONTROL_KEEPALIVE } from '../../master/control-stream';
import { MASTER_DEFAULTS, startMaster } from '../../master/master';
import { messageType } from '../../proto';
import { TestCerts } from '../harness/tls';
import { fleetCerts, readFleetCerts, simName } from './fleet-certs';

const N = Number(process.env.CONN_COST_N ?? 2_000);
const SETTLE_MS = Number(process.env.CONN_COST_SETTLE_MS ?? 5_000);

interface Extra {
  tls?: Record<string, unknown>;
  settings?: http2.Settings;
  h2?: Record<string, unknown>;
  grpc?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Files {
  ca: string;
  cert: string;
  key: string;
}

function mem(): Record<string, number> {
  const g = (globalThis as { gc?: () => void }).gc;
  g?.();
  g?.();
  const m = process.memoryUsage();
  const mb = (b: number): number => Math.round((b / 1048576) * 10) / 10;
  return { rss: mb(m.rss), heap: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers) };
}

function cpuMs(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1000;
}

// -- server ------------------------------------------------------------------------------------

async function server(mode: string, files: Files, extra: Extra, n: number): Promise<number> {
  const tlsOpts = { ca: fs.readFileSync(files.ca), cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key) };
  if (mode === 'tcp' || mode === 'tls') {
    const onSocket = (sock: net.Socket): void => {
      sock.on('data', () => undefined);
      sock.write('x');
    };
    const s =
      mode === 'tcp'
        ? net.createServer(onSocket)
        : tls.createServer({ ...tlsOpts, minVersion: 'TLSv1.2', requestCert: true, rejectUnauthorized: false, ...extra.tls }, onSocket);
    s.maxConnections = n + 1000;
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as { port: number }).port;
  }
  if (mode === 'bare') {
    const s = http2.createSecureServer({
      ...tlsOpts,
      minVersion: 'TLSv1.2',
      requestCert: true,
      rejectUnauthorized: false,
      settings: extra.settings,
      ...extra.h2,
      ...extra.tls,
    });
    s.on('stream', (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.on('data', () => undefined);
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as { port: number }).port;
  }
  const ctx = TlsContext.load(files);
  if (mode === 'grpc') {
    const s = new grpc.Server({
      'grpc.keepalive_time_ms': CONTROL_KEEPALIVE.serverTimeMs,
      'grpc.keepalive_timeout_ms': CONTROL_KEEPALIVE.serverTimeoutMs,
      ...limitOptions({}),
      ...extra.grpc,
    });
    const raw = (b: Buffer): Buffer => b;
    const def = {
      Control: {
        path: '/flume.Master/Control',
        requestStream: true,
        responseStream: true,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      },
    };
    s.addService(def as unknown as grpc.ServiceDefinition, {
      Control: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.write(Buffer.alloc(8));
        call.on('data', () => undefined);
        call.on('error', () => undefined);
      },
    });
    const hook = applyServerWindow(s, { tuning: { raiseWindow: false, maxConnections: n + 1000 } });
    class Creds extends grpc.ServerCredentials {
      _equals(other: grpc.ServerCredentials): boolean {
        return other === this;
      }
    }
    const creds = extra.tls
      ? new Creds({ requestCert: true, rejectUnauthorized: false }, { ...ctx.contextOptions(), ...extra.tls })
      : ctx.serverCredentials();
    const port = await new Promise<number>((res, rej) => s.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? rej(e) : res(p))));
    hook();
    return port;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conn-cost-'));
  const m = await startMaster(
    { ...MASTER_DEFAULTS, port: 0, httpPort: 0, data: dir, tls: ctx, limits: { ...MASTER_PORT_LIMIT_DEFAULTS, maxConnections: n + 1000 } },
    silentLogger(),
  );
  return m.grpcPort;
}

// -- client ------------------------------------------------------------------------------------

const reportType = messageType('NodeReport');
function report(i: number): Buffer {
  const status = { physical: simName(i), host: 'h', role: 'agent', logical: [], startedAt: 1 };
  const body = Buffer.from(reportType.encode(reportType.fromObject({ sentAtMs: Date.now(), status, chains: [] })).finish());
  const framed = Buffer.alloc(5 + body.length);
  framed.writeUInt32BE(body.length, 1);
  body.copy(framed, 5);
  return framed;
}

async function client(mode: string, port: number, n: number, ca: string, key: string, certsFile: string): Promise<void> {
  const caB = fs.readFileSync(ca);
  const keyB = fs.readFileSync(key);
  const certs = readFleetCerts(certsFile, 0, n);
  const streams: Array<{ write(b: Buffer): void }> = [];
  const open = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      if (mode === 'tcp' || mode === 'tls') {
        const sock =
          mode === 'tcp'
            ? net.connect(port, '127.0.0.1')
            : tls.connect({
                port,
                host: '127.0.0.1',
                ca: caB,
                key: keyB,
                cert: certs[i],
                servername: 'flume',
                checkServerIdentity: () => undefined,
              });
        sock.once('data', () => resolve());
        sock.on('error', reject);
        streams[i] = sock;
        return;
      }
      const s = http2.connect(`https://127.0.0.1:${port}`, {
        ca: caB,
        key: keyB,
        cert: certs[i],
        servername: 'flume',
        checkServerIdentity: () => undefined,
      });
      s.on('error', reject);
      const st = s.request(
        { ':method': 'POST', ':path': '/flume.Master/Control', 'content-type': 'application/grpc', te: 'trailers' },
        { endStream: false },
      );
      st.on('response', () => resolve());
      st.on('data', () => undefined);
      st.on('error', reject);
      st.write(report(i));
      streams[i] = st;
    });
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => open(i + k)));
  process.send!({ t: 'open', figures: { cpuMs: cpuMs(process.cpuUsage(cpu0)) } });
  let k = 0;
  setInterval(() => {
    // Every stream a report a second, in 20 slices.
    for (let j = 0; j < Math.ceil(n / 20); j++, k = (k + 1) % n) streams[k].write(report(k));
  }, 50);
}

// -- parent ------------------------------------------------------------------------------------

/** Sends `t` to a conn-cost process (not for `port` and `open`, which it sends unasked) and resolves with the figures of its answer. */
function ask(p: ChildProcess, t: string): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    const on = (m: { t: string; figures?: Record<string, number>; port?: number }): void => {
      if (m.t !== t) return;
      p.off('message', on);
      resolve(m.figures ?? { port: m.port! });
    };
    p.on('message', on);
    if (t !== 'port' && t !== 'open') p.send({ t });
  });
}

async function parent(mode: string, extraJson: string): Promise<void> {
  const extra = JSON.parse(extraJson || '{}') as Extra;
  const certs = fleetCerts(N);
  const files = TestCerts.shared().files('master', 'cost');
  const script = __filename;
  const srv = fork(script, ['server', mode, JSON.stringify(files), extraJson || '{}', String(N)], {
    execArgv: ['--expose-gc', ...(process.env.CONN_COST_EXECARGV ?? '').split(' ').filter(Boolean)],
    env: { ...process.env, ...extra.env },
  });
  const { port } = await ask(srv, 'port');
  await new Promise((r) => setTimeout(r, 1000));
  const base = await ask(srv, 'mem');
  const cpuBefore = (await ask(srv, 'cpu')).cpuMs;
  const cli = fork(script, ['client', mode, String(port), String(N), certs.ca, certs.key, certs.certsFile]);
  const t0 = Date.now();
  const clientCpuMs = (await ask(cli, 'open')).cpuMs;
  const openS = (Date.now() - t0) / 1000;
  const serverCpuMs = (await ask(srv, 'cpu')).cpuMs - cpuBefore;
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const after = await ask(srv, 'mem');
  const per = (k: string): number => Math.round((((after[k] - base[k]) * 1024 * 1024) / N / 1024) * 10) / 10;
  console.log(
    `conn-cost mode=${mode} n=${N} extra=${extraJson || '{}'} open_s=${openS.toFixed(1)} base_rss_mb=${base.rss} rss_mb=${after.rss}` +
      ` kb_per_conn: rss=${per('rss')} heap=${per('heap')} external=${per('external')} arrayBuffers=${per('arrayBuffers')}` +
      ` cpu_ms_per_conn: server=${(serverCpuMs / N).toFixed(2)} client=${(clientCpuMs / N).toFixed(2)}`,
  );
  if (process.env.CONN_COST_SNAPSHOT) await ask(srv, 'snap');
  cli.kill('SIGKILL');
  srv.kill('SIGKILL');
}

const [role, a1, a2, a3, a4, a5, a6] = process.argv.slice(2);
if (role === 'server') {
  void server(a1, JSON.parse(a2) as Files, JSON.parse(a3) as Extra, Number(a4)).then((port) => process.send!({ t: 'port', port }));
  process.on('message', (m: { t: string }) => {
    if (m.t === 'mem') process.send!({ t: 'mem', figures: mem() });
    if (m.t === 'cpu') process.send!({ t: 'cpu', figures: { cpuMs: cpuMs(process.cpuUsage()) } });
    if (m.t === 'snap') {
      v8.writeHeapSnapshot(process.env.CONN_COST_SNAPSHOT);
      process.send!({ t: 'snap', figures: {} });
    }
  });
} else if (role === 'client') {
  void client(a1, Number(a2), Number(a3), a4, a5, a6);
} else if (require.main === module) {
  void parent(role ?? 'bare', a1);
}
