/** The default ports of the system, in one place. */

/** Where a collector source listens and where an agent sink sends when no port is given. */
export const DEFAULT_COLLECTOR_PORT = 35853;

/** The master's gRPC port: nodes and flume-shell connect to it. */
export const DEFAULT_MASTER_PORT = 35873;

/** The master's HTTP port: status page, /status and /metrics. */
export const DEFAULT_MASTER_HTTP_PORT = 35871;
