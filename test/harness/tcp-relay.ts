/**
 * A TCP relay on a free loopback port to `targetPort` on 127.0.0.1, for putting a network between a
 * process and a server in a test: it counts the bytes each way (`up`: towards the target), and can
 * cut every connection through it and refuse new ones until `mend` (a partition; the port is kept).
 */
import * as net from 'node:net';

export interface TcpRelay {
  readonly port: number;
  /** Bytes relayed towards the target, and back. */
  up(): number;
  down(): number;
  /** Closes the listener and every connection through it. */
  cut(): void;
  /** Listens again on the same port. */
  mend(): Promise<void>;
  close(): void;
}

export async function tcpRelay(targetPort: number): Promise<TcpRelay> {
  let up = 0;
  let down = 0;
  const sockets = new Set<net.Socket>();
  const listen = (server: net.Server, port: number): Promise<void> => new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const make = (): net.Server =>
    net.createServer((client) => {
      const upstream = net.connect(targetPort, '127.0.0.1');
      client.on('data', (d: Buffer) => (up += d.length));
      upstream.on('data', (d: Buffer) => (down += d.length));
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
  let server = make();
  await listen(server, 0);
  const port = (server.address() as net.AddressInfo).port;
  const cut = (): void => {
    server.close();
    for (const s of sockets) s.destroy();
  };
  return {
    port,
    up: () => up,
    down: () => down,
    cut,
    mend: async () => {
      server = make();
      await listen(server, port);
    },
    close: cut,
  };
}
