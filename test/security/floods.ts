/**
 * Hostile clients for the flood tests (test/security, test/tiers/h2-floods): idle connections, a
 * PING flood, an oversized header block, a slowloris, and the memory and metrics of the process
 * under attack. Each returns when what it waits for happened; nothing here sleeps for a fixed time.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type * as http2 from 'node:http2';
import { httpGet, rssMb } from '../harness/procs';

/** Samples a process's RSS every 100 ms until stopped; `peak` is the highest seen. */
export class RssProbe {
  peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
  }

  sample(): number {
    const now = rssMb(this.pid);
    this.peak = Math.max(this.peak, now);
    return now;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** The sum of a metric's series in a /metrics text whose labels include `labels`. */
export function metricIn(body: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of body.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** GETs `url`/metrics with the run's read-only certificate; throws unless it answers 200 within 5 s. */
export async function scrape(url: string): Promise<string> {
  const answer = await httpGet(`${url}/metrics`, 5_000);
  if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}`);
  return answer.body;
}

/**
 * Opens `count` TCP connections to `port` that send nothing, 250 at a time (a larger burst
 * overflows the listen backlog, and a connection the kernel dropped there looks open forever to
 * a client that never sends). Resolves once all are open or refused; `closed` resolves when the
 * server has closed every one, or after `deadlineMs` (then it reports how many were still open).
 */
export async function idleConnections(port: number, count: number, deadlineMs: number): Promise<{ closed: Promise<number> }> {
  const sockets: net.Socket[] = [];
  const closed: Array<Promise<void>> = [];
  for (let i = 0; i < count; i += 250) {
    const opened: Array<Promise<void>> = [];
    for (let j = i; j < Math.min(count, i + 250); j++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('data', () => undefined);
      sockets.push(s);
      opened.push(new Promise((resolve) => s.once('connect', () => resolve()).once('close', () => resolve())));
      closed.push(new Promise((resolve) => s.once('close', () => resolve())));
    }
    await Promise.all(opened);
  }
  const all = Promise.all(closed).then(() => 0);
  const deadline = new Promise<number>((resolve) =>
    setTimeout(() => {
      const open = sockets.filter((s) => !s.destroyed).length;
      for (const s of sockets) s.destroy();
      resolve(open);
    }, deadlineMs).unref(),
  );
  return { closed: Promise.race([all, deadline]) };
}

function drainedOrClosed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** A TLS connection to `port` without a client certificate (the server's is checked against `ca` only). */
export function noCertificate(port: number, ca: Buffer): (ready: () => void) => net.Socket {
  return (ready) => tls.connect({ port, host: '127.0.0.1', ca, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }, ready);
}

/**
 * A connection made by `connect` (which calls `ready` once it may write) that speaks HTTP/2 and
 * sends `megabytes` of PING frames, never reading an answer. Resolves 'closed' when the server
 * cuts it, 'open' at the deadline.
 */
export function pingFlood(connect: (ready: () => void) => net.Socket, megabytes: number, deadlineMs: number): Promise<'closed' | 'open'> {
  return new Promise((resolve) => {
    const socket = connect(() => void flood());
    socket.pause();
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('open');
    }, deadlineMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
    const flood = async (): Promise<void> => {
      socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))]));
      const ping = frame(6, 0, 0, Buffer.alloc(8, 7));
      const chunk = Buffer.concat(Array.from({ length: 4096 }, () => ping));
      for (let sent = 0; sent < megabytes * 1024 * 1024 && !socket.destroyed; sent += chunk.length) {
        if (!socket.write(chunk)) await drainedOrClosed(socket);
      }
    };
  });
}

/**
 * A gRPC request to `path` with a 32 KB header (twice the servers' limit, and under the 64 KB a
 * Node client refuses to send at all), on `session`. Resolves with what became of it:
 * `response <grpc-status or :status>`, `error <code>` or `closed <RST_STREAM code>`.
 */
export function oversizedHeaders(session: http2.ClientHttp2Session, path: string): Promise<string> {
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', 'x-big': 'b'.repeat(32 * 1024) });
    req.on('response', (h) => resolve(`response ${String(h['grpc-status'] ?? h[':status'])}`));
    req.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    req.on('close', () => resolve(`closed ${req.rstCode}`));
    req.end();
  });
}

/**
 * A slowloris on an HTTPS port: a request's headers sent one byte every `everyMs`, never finished.
 * Resolves with what the server answered (maybe nothing) once it closes the connection.
 */
export function slowloris(port: number, options: tls.ConnectionOptions, everyMs: number, deadlineMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ port, host: '127.0.0.1', ...options, checkServerIdentity: () => undefined });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    let timer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => socket.destroy(), deadlineMs);
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(deadline);
      resolve(answer || '(closed without an answer)');
    });
    socket.on('secureConnect', () => {
      socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
      timer = setInterval(() => socket.write('X'), everyMs);
    });
  });
}

/** One raw HTTPS request (`head` ends with a blank line); resolves with the answer once the server closes. */
export function rawRequest(port: number, options: tls.ConnectionOptions, head: string, deadlineMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ port, host: '127.0.0.1', ...options, checkServerIdentity: () => undefined });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    const deadline = setTimeout(() => socket.destroy(), deadlineMs);
    socket.on('close', () => {
      clearTimeout(deadline);
      resolve(answer);
    });
    socket.on('secureConnect', () => socket.write(head));
  });
}
