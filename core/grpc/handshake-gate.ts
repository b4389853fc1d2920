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
 * session (TLS done) at once. While that many are, a new one is closed before a byte of it is
 * read, and counted as `connections_refused` like the connection cap, so its client hears at once
 * and tries again later or another server, and the server's time goes to handshakes that finish.
 *
 * SHARES. One client could otherwise hold every slot: open `maxHandshakes` connections, never
 * finish their handshakes, and open them again as the handshake timeout closes them; no one else
 * would get in. So the slots are shared out by client address, but only when they run out. An
 * "address" here is an IPv4 address (also as a dual-stack listener sees it, `::ffff:a.b.c.d`) or
 * an IPv6 /64, one host's prefix ({@link shareKeyOf}). While the gate is full, a connection from
 * an address holding at least two slots fewer than the address holding the most is let in, and
 * the oldest handshake of that top holder (the one most likely stalled) is closed to make room
 * (counted as `connections_closed_share`, and logged at most once every 10 s with the address).
 * A newcomer never ends up holding more than the one it displaced, so the shares settle at equal
 * and nothing churns: a fleet from one address (as behind one NAT, or every test on 127.0.0.1)
 * is served exactly as without shares, and so is a fleet of one slot per address. The attacker
 * above keeps at most an equal share with the other addresses waiting, and loses every slot it
 * gives up (an address at the top cannot displace itself). While no address holds two slots,
 * Node closes a connection over the limit as it accepts it (net.Server `maxConnections`, set to
 * the connections open); otherwise the gate must see the connection's address first, and closes
 * it before Node's TLS setup (the gate calls the server's 'connection' listeners itself, for the
 * connections it lets in): a socket object more.
 *
 * TRADE-OFFS. The share is per address, so an attacker with many addresses holds one slot per
 * address, up to all of them: with `maxHandshakes` IPv4 addresses or IPv6 /64s it is back to the
 * hole above. An attacker with many IPv6 addresses in one /64 (every host is given one) gets one
 * share; the cost is that unrelated clients of one /64 (behind one router that does not hand out
 * a /64 each) share one too. A fleet behind one NAT address competing with many other addresses
 * gets one share, not one per node: it ramps slower, and its displaced handshakes are work lost
 * and tried again.
 * Cost: O(1) per connection (each address's slots listed in arrival order, addresses listed by count).
 */
import type * as http2 from 'node:http2';
import * as net from 'node:net';
import type { ComponentCounters } from '../component';
import type { Logger } from '../logger';
import { LogThrottle } from '../log-throttle';
import { CONNECTIONS_CLOSED_SHARE } from '../metrics';

/**
 * The address a client's handshake slots are shared under: an IPv4 address as it is, also when a
 * dual-stack listener sees it as an IPv4-mapped IPv6 address (`::ffff:127.0.0.2` is `127.0.0.2`);
 * an IPv6 address by its /64, written canonically (`2001:db8:0:7::/64`). Anything else as it is.
 */
export function shareKeyOf(address: string): string {
  if (!net.isIPv6(address)) return address;
  const groups = ipv6Groups(address.split('%', 1)[0]);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff)
    return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.');
  const prefix = groups.slice(0, 4);
  while (prefix.length > 0 && prefix[prefix.length - 1] === 0) prefix.pop();
  return `${prefix.map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address without its zone (`::` filled in, a trailing dotted quad as two). */
function ipv6Groups(text: string): number[] {
  const groupsOf = (part: string | undefined): number[] =>
    part ? part.split(':').flatMap((g) => (g.includes('.') ? dottedGroups(g) : [parseInt(g, 16)])) : [];
  const [head, tail] = text.split('::');
  const front = groupsOf(head);
  const back = groupsOf(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}

function dottedGroups(quad: string): number[] {
  const [a, b, c, d] = quad.split('.').map(Number);
  return [(a << 8) | b, (c << 8) | d];
}

/** One connection in its handshake, in its address's list (oldest first). */
interface Slot<T> {
  readonly item: T;
  readonly holder: Holder<T>;
  older?: Slot<T>;
  newer?: Slot<T>;
}

/** One client address holding slots, in the list of the addresses holding as many. */
interface Holder<T> {
  readonly address: string;
  count: number;
  oldest?: Slot<T>;
  newest?: Slot<T>;
  prev?: Holder<T>;
  next?: Holder<T>;
}

/**
 * Who holds the handshake slots: each item (a connection) under its client's address
 * ({@link shareKeyOf}). `add`, `delete` and `displaceFor` are O(1): each address's slots are a
 * list in arrival order, and the addresses are in lists by the number of slots they hold.
 */
export class HandshakeShares<T> {
  private readonly holders = new Map<string, Holder<T>>();
  private readonly slots = new Map<T, Slot<T>>();
  /** byCount[n]: the first of the addresses holding n slots. */
  private readonly byCount: Array<Holder<T> | undefined> = [];
  private most = 0;

  get size(): number {
    return this.slots.size;
  }

  /** The most slots one address holds. */
  get top(): number {
    return this.most;
  }

  heldBy(address: string): number {
    return this.holders.get(address)?.count ?? 0;
  }

  add(address: string, item: T): void {
    let holder = this.holders.get(address);
    if (!holder) this.holders.set(address, (holder = { address, count: 0 }));
    const slot: Slot<T> = { item, holder, older: holder.newest };
    if (holder.newest) holder.newest.newer = slot;
    else holder.oldest = slot;
    holder.newest = slot;
    this.slots.set(item, slot);
    this.recount(holder, holder.count + 1);
  }

  /** Forgets `item`; false if it held no slot. */
  delete(item: T): boolean {
    const slot = this.slots.get(item);
    if (!slot) return false;
    this.slots.delete(item);
    const holder = slot.holder;
    if (slot.older) slot.older.newer = slot.newer;
    else holder.oldest = slot.newer;
    if (slot.newer) slot.newer.older = slot.older;
    else holder.newest = slot.older;
    this.recount(holder, holder.count - 1);
    if (holder.count === 0) this.holders.delete(holder.address);
    return true;
  }

  /**
   * The slot a newcomer from `address` takes when none is free: the oldest of the address holding
   * the most, if that holds at least two more than `address` (after the swap it holds no fewer).
   */
  displaceFor(address: string): { address: string; item: T } | undefined {
    if (this.most - this.heldBy(address) < 2) return undefined;
    const holder = this.byCount[this.most]!;
    return { address: holder.address, item: holder.oldest!.item };
  }

  /** Moves `holder` from the list of the addresses holding its count to the list for `count`. */
  private recount(holder: Holder<T>, count: number): void {
    const from = holder.count;
    if (holder.prev) holder.prev.next = holder.next;
    else if (from > 0) this.byCount[from] = holder.next;
    if (holder.next) holder.next.prev = holder.prev;
    holder.count = count;
    holder.prev = undefined;
    holder.next = count > 0 ? this.byCount[count] : undefined;
    if (holder.next) holder.next.prev = holder;
    if (count > 0) this.byCount[count] = holder;
    if (count > this.most) this.most = count;
    else if (from === this.most && !this.byCount[from]) this.most = from - 1;
  }
}

/** The error the gate closes a connection with, so that it is not taken for a failed handshake. */
class GateClosed extends Error {
  readonly code = 'FLUME_HANDSHAKE_GATE';
}

/** True for a connection the gate closed (counted by {@link gateHandshakes}'s wiring, not as a protocol failure). */
export function closedByGate(err: unknown): boolean {
  return err instanceof GateClosed;
}

const keyOf = (s: { remoteAddress?: string; remotePort?: number }): string => `${s.remoteAddress}:${s.remotePort}`;

/**
 * Holds `server` to `maxHandshakes` handshakes at once and `maxConnections` connections. A
 * connection refused is reported as Node reports one over `maxConnections` (a 'drop' event); one
 * displaced for another address's share goes to `onDisplaced` with the address it came from (as
 * {@link shareKeyOf} writes it).
 * Install it once the server's own 'connection' listeners are on (Node's TLS or HTTP/2 setup,
 * grpc-js's credentials check): the gate calls them only for the connections it lets in, so that
 * one refused costs no TLS state.
 */
export function gateHandshakes(
  server: http2.Http2Server | http2.Http2SecureServer,
  maxConnections: number,
  maxHandshakes: number,
  onDisplaced?: (address: string) => void,
): void {
  const handshaking = new Map<string, net.Socket>();
  const shares = new HandshakeShares<net.Socket>();
  /** Connections let in and not yet closed; Node counts the refused ones too until they close. */
  let open = 0;
  const admit = (): void => {
    const nodeCloses = shares.size >= maxHandshakes && shares.top < 2;
    server.maxConnections = nodeCloses ? Math.min(open, maxConnections) : maxConnections;
  };
  /** Frees the slot of `socket` (its handshake ended, or it closed); false if it held none. */
  const release = (socket: net.Socket, key: string): boolean => {
    if (handshaking.get(key) === socket) handshaking.delete(key);
    return shares.delete(socket);
  };
  const setup = server.rawListeners('connection') as Array<(socket: net.Socket) => void>;
  server.removeAllListeners('connection');
  server.maxConnections = maxConnections;
  server.on('connection', (socket: net.Socket) => {
    const address = shareKeyOf(socket.remoteAddress ?? '');
    if (shares.size >= maxHandshakes) {
      const displaced = shares.displaceFor(address);
      if (!displaced) return refuse(server, socket);
      release(displaced.item, keyOf(displaced.item));
      displaced.item.destroy(new GateClosed('handshake closed for another address'));
      onDisplaced?.(displaced.address);
    }
    const key = keyOf(socket);
    open++;
    handshaking.set(key, socket);
    shares.add(address, socket);
    admit();
    socket.once('close', () => {
      open--;
      release(socket, key);
      admit();
    });
    for (const listener of setup) listener.call(server, socket);
  });
  server.on('session', (session: http2.ServerHttp2Session) => {
    const key = session.socket && keyOf(session.socket);
    const socket = key && handshaking.get(key);
    if (socket && release(socket, key)) admit();
  });
}

function refuse(server: net.Server, socket: net.Socket): void {
  socket.destroy();
  server.emit('drop');
}

/**
 * Counts into `counters` the handshakes {@link gateHandshakes} displaces, and logs them on
 * `logger` as a {@link LogThrottle} lets it: the first at once, then a line per 10 s with the number since.
 */
export function displacedReport(counters?: ComponentCounters, logger?: Logger): (address: string) => void {
  const lines = new LogThrottle();
  return (address) => {
    counters?.add(CONNECTIONS_CLOSED_SHARE, 1);
    const since = lines.count();
    if (since > 0)
      logger?.warn('Closed a TLS handshake of the address holding the most, to let in one from another address.', {
        address,
        closedSinceLastReport: since,
      });
  };
}
