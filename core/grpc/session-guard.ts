/**
 * The per-connection limits of a grpc-js HTTP/2 server, enforced where they can be counted.
 *
 * WHY. Node hands two of an HTTP/2 server's limits to nghttp2, which enforces them below
 * JavaScript: a stream over SETTINGS_MAX_CONCURRENT_STREAMS is reset with REFUSED_STREAM, and a
 * header block over the header-list size with ENHANCE_YOUR_CALM, and neither ever becomes a
 * 'stream' event. A client that floods either is refused stream by stream, keeps its connection,
 * and nothing counts it. The hostile-input contract (issue 15) is: exceeding a limit closes that
 * connection, is counted, and leaves every other client served. So this guard watches each
 * session of the server (the connection of one client) and:
 *
 *  - STREAMS. nghttp2 is told to allow {@link advertisedStreams} (twice our limit), so a client
 *    over our limit still reaches JavaScript; the guard counts the streams open on the session
 *    ('stream' up, the stream's 'close' down) and, when they exceed the limit, ends the session
 *    (GOAWAY ENHANCE_YOUR_CALM, then destroy) and counts `connections_closed_streams`. A
 *    well-behaved client never gets there: it queues calls over the limit it was told, and our own
 *    clients hold a handful of streams per connection. A client that ignores SETTINGS is refused
 *    by nghttp2 past twice the limit, but JavaScript has seen it pass the limit first.
 *    The session is ended on setImmediate, not in the 'stream' listener: Node emits 'stream'
 *    from inside nghttp2's processing of the bytes just read (each HEADERS frame's callback
 *    drains the tick queue), and grpc-js's own 'stream' handler for the same stream has just run
 *    (Node forwards the session's 'stream' to the server before our listener); destroying the
 *    session there would tear it down under both. In a test, a synchronous destroy survived the
 *    same flood; the deferral costs one turn of the event loop.
 *
 *  - HEADERS. nghttp2 opens the stream of a HEADERS frame before Node reads its header block, so
 *    a block Node refuses for size still moves the session's last processed stream id
 *    (`session.state.lastProcStreamID`) without a 'stream' event. Client stream ids are odd and
 *    increasing (1, 3, 5, ...; nghttp2 ends a connection whose ids go down), so the streams
 *    nghttp2 processed up to id L are (L + 1) / 2, and those JavaScript never saw were refused
 *    below it. A sweep every {@link SWEEP_MS} compares, per session, the id read at the previous
 *    sweep with the streams seen since: a HEADERS frame whose CONTINUATION is still on its way has
 *    a whole sweep to arrive before it counts. A session with a refused stream is ended and
 *    counted as `connections_closed_headers`; the same check runs once more when the client
 *    leaves (a GOAWAY, or its socket closed; no grace then: it will send nothing more). A client
 *    that skips stream ids, which neither grpc-js nor Node ever does, is counted as refused too,
 *    and so is a stream Node refuses for the session's memory limit: both are refusals below
 *    JavaScript.
 *    nghttp2 holds a connection to our header-list size only once the client has acknowledged
 *    our SETTINGS: a header block in the client's first flight reaches JavaScript at any size
 *    (measured: 32 KB against a 16 KB limit). So the guard also sums every stream's headers as
 *    nghttp2 does (name + value + 32 per field) and ends a session whose block is over the limit,
 *    counted the same way; grpc-js has already seen that one call.
 *
 *  - IDLE. A session that opens no stream within `handshakeTimeoutMs` of its start, or whose
 *    streams have all ended, after `idleTimeoutMs` without a new one, is closed and counted as
 *    `connections_closed_idle`. The guard replaces grpc-js's `grpc.max_connection_idle_ms`: it
 *    already knows when a session has no open stream. It destroys the session (GOAWAY NO_ERROR
 *    naming the last stream processed, so a call racing it is retried by grpc-js, then the
 *    socket) where grpc-js closed it gracefully: Node's graceful close ends our side and waits for
 *    the client to close its own, which a hostile client never does.
 *
 * COST. One unref'd interval per server while it has sessions; a sweep reads `session.state`
 * once per live session (a call into nghttp2), a fiftieth of them every SWEEP_MS / 50. A session
 * that is closing (GOAWAY sent or received) is skipped: nghttp2 refuses its new streams by design.
 */
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import type { ComponentCounters } from '../component';
import { CONNECTIONS_CLOSED_HEADERS, CONNECTIONS_CLOSED_IDLE, CONNECTIONS_CLOSED_STREAMS } from '../metrics';

/** How often the guard looks at each session for header blocks refused below JavaScript. */
const SWEEP_MS = 1000;

/**
 * A sweep is spread over this many ticks, each visiting its share of the sessions in insertion
 * order, so a session is still looked at about once per SWEEP_MS while one tick blocks the event
 * loop a fiftieth as long (a whole sweep over 10,000 TLS sessions took 25-46 ms at once; a tenth
 * of it, under a full fleet's load, still up to 44 ms).
 */
const SLICES = 50;

/** The largest SETTINGS_MAX_CONCURRENT_STREAMS HTTP/2 allows. */
const MAX_SETTING = 2 ** 31 - 1;

/** What nghttp2 is told to allow: twice our limit, so a client over ours is seen in JavaScript. */
export function advertisedStreams(maxConcurrentStreams: number): number {
  return Math.min(2 * maxConcurrentStreams, MAX_SETTING);
}

export interface SessionGuardLimits {
  /** Streams open at once on one session; one more ends the session. */
  maxConcurrentStreams: number;
  /** Bytes of one header block, counted as HTTP/2 does (name + value + 32 per field). */
  maxHeaderListBytes: number;
  /** A session must open its first stream within this long of its start. */
  handshakeTimeoutMs: number;
  /** A session whose streams have all ended is closed after this long without a new one. */
  idleTimeoutMs: number;
}

/** One watched session. */
interface Watched {
  readonly session: http2.ServerHttp2Session;
  /** Streams open now, as JavaScript saw them. */
  open: number;
  /** Streams JavaScript saw, in all. */
  seen: number;
  /** `lastProcStreamID` read at the previous sweep. */
  checkedId: number;
  /** `seen` at the previous sweep: every one of them had an id <= `checkedId`. */
  seenAtCheck: number;
  /** Streams seen since the previous sweep whose id is <= `checkedId` (header blocks that were in flight). */
  lateSeen: number;
  idle: NodeJS.Timeout | undefined;
  /** The guard ended or is closing the session: nothing more to count. */
  ended: boolean;
}

export class SessionGuard {
  private readonly live = new Set<Watched>();
  private sweeper: NodeJS.Timeout | undefined;
  /** Where the sweep under way stands in `live` (a Set's iterator skips deleted entries, visits added ones). */
  private cursor: Iterator<Watched> | undefined;
  /** Sessions still to visit in the sweep under way. */
  private left = 0;

  constructor(
    private readonly limits: SessionGuardLimits,
    private readonly counters?: ComponentCounters,
  ) {}

  /** Watches a new session of the server until it closes. */
  watch(session: http2.ServerHttp2Session): void {
    const w: Watched = { session, open: 0, seen: 0, checkedId: 0, seenAtCheck: 0, lateSeen: 0, idle: undefined, ended: false };
    this.live.add(w);
    this.armIdle(w, this.limits.handshakeTimeoutMs);
    session.on('stream', (stream: http2.ServerHttp2Stream, _h: unknown, _f: unknown, raw: string[]) => this.onStream(w, stream, raw));
    // The client leaves: with a GOAWAY (Node closes the session right after this event), or by
    // closing its socket (before Node's own 'close' listener destroys the session, while its
    // state is still readable).
    session.once('goaway', () => this.checkAtEnd(w));
    (session.socket as net.Socket | undefined)?.prependOnceListener('close', () => this.checkAtEnd(w));
    session.once('close', () => {
      clearTimeout(w.idle);
      this.live.delete(w);
      if (this.live.size === 0 && this.sweeper) {
        clearInterval(this.sweeper);
        this.sweeper = undefined;
        this.cursor = undefined;
      }
    });
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweepSlice(), SWEEP_MS / SLICES);
      this.sweeper.unref();
    }
  }

  /** One tick of a sweep: the next share of the sessions, a new sweep once one has visited them all. */
  private sweepSlice(): void {
    if (!this.cursor || this.left <= 0) {
      this.cursor = this.live.values();
      this.left = this.live.size;
    }
    for (let n = Math.ceil(this.live.size / SLICES); n > 0 && this.left > 0; n--, this.left--) {
      const next = this.cursor.next();
      if (next.done) {
        this.left = 0;
        break;
      }
      this.check(next.value);
    }
  }

  private check(w: Watched): void {
    if (w.ended || w.session.closed) return;
    const last = w.session.state.lastProcStreamID;
    if (last === undefined) return;
    const processed = (w.checkedId + 1) >>> 1;
    if (processed > w.seenAtCheck + w.lateSeen) {
      this.end(w, CONNECTIONS_CLOSED_HEADERS);
      return;
    }
    w.checkedId = last;
    w.seenAtCheck = w.seen;
    w.lateSeen = 0;
  }

  private onStream(w: Watched, stream: http2.ServerHttp2Stream, raw: string[]): void {
    w.seen++;
    if ((stream.id ?? 0) <= w.checkedId) w.lateSeen++;
    w.open++;
    if (w.idle) {
      clearTimeout(w.idle);
      w.idle = undefined;
    }
    stream.once('close', () => {
      if (--w.open === 0 && !w.ended) this.armIdle(w, this.limits.idleTimeoutMs);
    });
    if (w.open > this.limits.maxConcurrentStreams) this.end(w, CONNECTIONS_CLOSED_STREAMS);
    else if (headerListBytes(raw) > this.limits.maxHeaderListBytes) this.end(w, CONNECTIONS_CLOSED_HEADERS);
  }

  /**
   * The client leaves and will send nothing more, so no header block is in flight: a stream
   * nghttp2 processed that JavaScript never saw was refused. The id is read now (a GOAWAY closes
   * the session right after this event) and compared on the next tick, after any 'stream' event
   * still queued by Node (`process.nextTick` in its headers callback).
   */
  private checkAtEnd(w: Watched): void {
    if (w.ended || w.session.closed || w.session.destroyed) return;
    const last = w.session.state.lastProcStreamID;
    if (last === undefined) return;
    process.nextTick(() => {
      if (w.ended || (last + 1) >>> 1 <= w.seen) return;
      w.ended = true;
      this.counters?.add(CONNECTIONS_CLOSED_HEADERS);
    });
  }

  private armIdle(w: Watched, ms: number): void {
    clearTimeout(w.idle);
    w.idle = setTimeout(() => {
      w.idle = undefined;
      if (w.open > 0 || w.ended || w.session.closed || w.session.destroyed) return;
      w.ended = true;
      this.counters?.add(CONNECTIONS_CLOSED_IDLE);
      w.session.destroy();
    }, ms);
    w.idle.unref();
  }

  /** Ends a session over a limit: counted once, GOAWAY ENHANCE_YOUR_CALM, destroyed (see the header on why deferred). */
  private end(w: Watched, counter: string): void {
    if (w.ended) return;
    w.ended = true;
    clearTimeout(w.idle);
    this.counters?.add(counter);
    setImmediate(() => {
      const session = w.session;
      if (session.destroyed) return;
      try {
        session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      } catch {
        // Already closing: destroy still ends it.
      }
      session.destroy();
    });
  }
}

/** The size of a header block as HTTP/2 counts it for SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 6.5.2). */
function headerListBytes(raw: string[]): number {
  let bytes = 0;
  for (let i = 0; i < raw.length; i++) bytes += raw[i].length + 16; // 32 per name-value pair
  return bytes;
}
