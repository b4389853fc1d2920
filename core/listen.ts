/** Starting a listener: the one place that turns a failed `listen` (port in use) into a rejection. */
import type * as net from 'node:net';

/**
 * Listens on `host:port` (0: any free port); resolves with the port bound, rejects with the
 * listen error. Errors after that are the caller's to handle on the server.
 */
export function listen(server: net.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
