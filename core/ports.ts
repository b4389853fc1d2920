/** The default ports of the system, in one place, and how an address names its host and port. */

/** Where a collector source listens and where an agent sink sends when no port is given. */
export const DEFAULT_COLLECTOR_PORT = 35853;

/** The master's gRPC port: nodes and flume-shell connect to it. */
export const DEFAULT_MASTER_PORT = 35873;

/** The master's HTTP port: status page, /status and /metrics. */
export const DEFAULT_MASTER_HTTP_PORT = 35871;

/** `host:port` as `net.connect` takes it: an IPv6 host loses its brackets (`[::1]:35873`). */
export function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(colon + 1)) };
}
