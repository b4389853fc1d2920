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
import { GRPC_TUNING_DEFAULTS, type GrpcTuning } from './grpc/tuning';

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

/**
 * The master's gRPC port (nodes' control streams, the shell's admin calls): the HTTP/2 limits of
 * core/grpc/tuning.ts, and `queuedBytes`, the bytes of directives the master lets wait for a
 * node that does not read its control stream. Over it the stream is ended (`streams_closed_unread`)
 * and its connection closed, which frees what was queued; a live node reconnects and gets its
 * current directive at once. A directive is a node's configs: a few KB, rarely 100 KB.
 * The master serves one connection per node: its connection cap is far above a listener's.
 */
export interface MasterPortLimits extends Pick<
  GrpcTuning,
  | 'maxConnections'
  | 'maxHandshakes'
  | 'maxConcurrentStreams'
  | 'maxHeaderListBytes'
  | 'maxSessionMemoryMb'
  | 'handshakeTimeoutMs'
  | 'idleTimeoutMs'
> {
  queuedBytes: number;
}

export const MASTER_PORT_LIMIT_DEFAULTS: MasterPortLimits = {
  maxConnections: 8192,
  maxHandshakes: GRPC_TUNING_DEFAULTS.maxHandshakes,
  maxConcurrentStreams: GRPC_TUNING_DEFAULTS.maxConcurrentStreams,
  maxHeaderListBytes: GRPC_TUNING_DEFAULTS.maxHeaderListBytes,
  maxSessionMemoryMb: GRPC_TUNING_DEFAULTS.maxSessionMemoryMb,
  handshakeTimeoutMs: GRPC_TUNING_DEFAULTS.handshakeTimeoutMs,
  idleTimeoutMs: GRPC_TUNING_DEFAULTS.idleTimeoutMs,
  queuedBytes: 4 * 1024 * 1024,
};
