/**
 * The limits every listener of a push source holds its clients to, so that no client (hostile,
 * broken or just many) can exhaust the process or lock other clients out.
 *
 * - `maxConnections`: open connections per listener. One over it is closed at once, before a
 *   byte is read, and counted (`connections_refused_total`); the clients already connected go
 *   on. It must stay well under the process's descriptor limit, so that /metrics, the node's
 *   other listeners and its files still get descriptors when a flood arrives.
 * - `idleTimeoutMs`: a connection that sends nothing for this long is closed (counted).
 * - `messageTimeoutMs`: a message begun but not finished within this long (a slowloris that
 *   trickles one byte at a time) closes its connection (counted). For HTTP it is the time to
 *   receive a whole request's headers.
 * - `bufferedBytes`: bytes of unfinished messages a listener holds across all its connections.
 *   A connection whose partial message would take the listener over it is closed (counted):
 *   memory stays bounded by this, whatever the number of slow clients.
 *
 * Exceeding a limit closes only the connection concerned. What it had sent in full before is
 * kept; a message it had not finished is dropped and counted as rejected.
 */
export interface ListenerLimits {
  maxConnections: number;
  idleTimeoutMs: number;
  messageTimeoutMs: number;
  bufferedBytes: number;
}

export const LISTENER_LIMIT_DEFAULTS: ListenerLimits = {
  maxConnections: 1024,
  idleTimeoutMs: 300_000,
  messageTimeoutMs: 30_000,
  bufferedBytes: 64 * 1024 * 1024,
};
