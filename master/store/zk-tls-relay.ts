/**
 * Mutual TLS to ZooKeeper for a client that speaks plain TCP only.
 *
 * node-zookeeper-client opens its sockets with `net.connect` and takes no socket factory, so the
 * master gives it loopback addresses instead: one relay per ensemble member, listening on
 * 127.0.0.1 on a port the kernel picks, that opens a TLS connection to the member's
 * `secureClientPort` with the master's certificate for each socket it accepts and pipes the two.
 * It is a pipe, not a protocol stack: ZooKeeper's framing, sessions and reconnects are the
 * client's, unchanged; a failed TLS handshake closes the client's socket, which the client takes
 * as a lost connection and retries (on another member).
 *
 * The member's certificate must chain to the cluster CA (`tls.ca`); its name is not checked, as
 * for every flume peer (core/tls/identity.ts): ZooKeeper servers get their certificates from
 * `flume-certs issue` like the masters. The relay listens on loopback only, serves only sockets
 * this process opened (the peer's socket is looked up in /proc/net/tcp and must be one of
 * /proc/self/fd: another local process would otherwise reach ZooKeeper with the master's
 * identity; refusals are logged), and lives as long as the store; the certificates are the
 * TlsContext's current ones (reloaded at SIGHUP) for every new connection.
 *
 * ZooKeeper side (3.5+, Netty; see deploy/README.md): `secureClientPort`,
 * `serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory`,
 * `ssl.keyStore.type=PEM` (key and certificate in one file), `ssl.trustStore.type=PEM` (the CA)
 * and `ssl.clientAuth=need`.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from '../../core/logger';
import { splitHostPort } from '../../core/ports';
import type { TlsContext } from '../../core/tls';

export class ZkTlsRelay {
  private constructor(
    /** The connect string to give the client: the relays' addresses, the chroot kept. */
    readonly connect: string,
    private readonly servers: readonly net.Server[],
    private readonly sockets: Set<net.Socket>,
  ) {}

  /** Starts one relay per member of `connect` (`host:port,...[/chroot]`, the secure ports). */
  static async start(connect: string, context: TlsContext, logger: Logger): Promise<ZkTlsRelay> {
    const slash = connect.indexOf('/');
    const hosts = (slash < 0 ? connect : connect.slice(0, slash)).split(',');
    const chroot = slash < 0 ? '' : connect.slice(slash);
    const sockets = new Set<net.Socket>();
    const servers: net.Server[] = [];
    const local: string[] = [];
    try {
      for (const member of hosts) {
        const { host, port } = splitHostPort(member);
        const server = net.createServer((plain) => {
          if (ownSocket(plain)) return pipe(plain, host, port, context, sockets, logger);
          logger.warn('Refused a connection to the ZooKeeper relay from another process.', { peerPort: plain.remotePort });
          plain.destroy();
        });
        servers.push(server);
        await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
        local.push(`127.0.0.1:${(server.address() as net.AddressInfo).port}`);
      }
    } catch (err) {
      for (const s of servers) s.close();
      throw err;
    }
    logger.info('ZooKeeper over mutual TLS.', { ensemble: hosts.join(','), relays: local.join(',') });
    return new ZkTlsRelay(local.join(',') + chroot, servers, sockets);
  }

  /** Stops listening and closes every piped connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function pipe(plain: net.Socket, host: string, port: number, context: TlsContext, sockets: Set<net.Socket>, logger: Logger): void {
  // The chain is checked (rejectUnauthorized); names are not (see the header).
  const secure = tls.connect({
    host,
    port,
    ...context.contextOptions(),
    servername: net.isIP(host) ? undefined : host,
    checkServerIdentity: () => undefined,
  });
  for (const s of [plain, secure]) {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  }
  plain.pipe(secure).pipe(plain);
  secure.once('error', (err) => {
    logger.warn('TLS connection to ZooKeeper failed.', { server: `${host}:${port}`, error: err.message });
    plain.destroy();
  });
  plain.once('error', () => secure.destroy());
  plain.once('close', () => secure.destroy());
  secure.once('close', () => plain.destroy());
}

/**
 * Whether the other end of `accepted` (a loopback connection) is a socket of this process: its
 * inode, found in /proc/net/tcp by its ports, is among this process's open descriptors.
 */
function ownSocket(accepted: net.Socket): boolean {
  // /proc/net/tcp writes 127.0.0.1:port as 0100007F:PORT (hex); field 9 is the socket's inode.
  const loopback = (port: number | undefined): string => `0100007F:${(port ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  const [peer, us] = [loopback(accepted.remotePort), loopback(accepted.localPort)];
  try {
    const fields = fs
      .readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f[1] === peer && f[2] === us);
    const inode = fields?.[9];
    if (!inode || inode === '0') return false;
    return fs.readdirSync('/proc/self/fd').some((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`) === `socket:[${inode}]`;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}
