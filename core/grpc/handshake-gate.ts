/**
 * Admission of new connections while a server is busy with handshakes.
 *
 * WHY. A TLS handshake with a client certificate costs a server its one JavaScript thread for a
 * while (key exchange, signature, the client's chain checked), and Node starts on every
 * connection the moment it is accepted. When thousands of clients connect at once (the nodes of
 * a master that died move to the others; a fleet starts), the server works on all their
 * handshakes together, interleaved, so each takes about as long as all of them: longer than the
 * clients wait and than the server's own handshake timeout. The clients try again and the server
 * starts the same work over, finishing none: a 10,000-node fleet went from 4,000 streaming to 0
 * and stayed there. Meanwhile the server answers the keepalive PINGs of its settled connections
 * late, and those clients drop them and join the crowd.
 *
 * WHAT. At most `maxHandshakes` connections may be between their TCP accept and their HTTP/2
 * session (TLS done) at once. While that many are, the server takes no new one: Node closes it as
 * it accepts it, before a byte is read (net.Server `maxConnections`, set to the connections open;
 * counted as `connections_refused` like the connection cap), so its client hears at once and tries
 * again later or another server, and the server's time goes to handshakes that finish.
 *
 * TRADE-OFF. A client that opens connections and stalls their handshakes holds a slot each until
 * the handshake timeout closes it: `maxHandshakes` stalled connections renewed every timeout keep
 * new clients out (connections already up are served). No per-address share of the slots yet.
 */
import type * as http2 from 'node:http2';
import type * as net from 'node:net';

const keyOf = (s: { remoteAddress?: string; remotePort?: number }): string => `${s.remoteAddress}:${s.remotePort}`;

/** Holds `server` to `maxHandshakes` handshakes at once and `maxConnections` connections. */
export function gateHandshakes(server: http2.Http2Server | http2.Http2SecureServer, maxConnections: number, maxHandshakes: number): void {
  const handshaking = new Set<string>();
  let open = 0;
  const admit = (): void => {
    server.maxConnections = handshaking.size >= maxHandshakes ? Math.min(open, maxConnections) : maxConnections;
  };
  server.maxConnections = maxConnections;
  server.on('connection', (socket: net.Socket) => {
    const key = keyOf(socket);
    open++;
    handshaking.add(key);
    admit();
    socket.once('close', () => {
      open--;
      handshaking.delete(key);
      admit();
    });
  });
  server.on('session', (session: http2.ServerHttp2Session) => {
    if (session.socket && handshaking.delete(keyOf(session.socket))) admit();
  });
}
