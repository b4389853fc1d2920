/**
 * The TCP side of the push sources (`syslogTcp`, `textTcp`): a listener, any number of
 * concurrent connections, each with its own framer, all appending to one batcher.
 *
 * A message over `maxEventBytes` (or one that is not syslog, for syslogTcp) is dropped, counted
 * as rejected and logged with the peer; the connection stays open and its next message is read.
 * (Closing it would also lose whatever the client had sent after the bad message.) A framing
 * error (an octet count over `maxEventBytes`) cannot be read past, and closes the connection.
 *
 * Limits (core/limits.ts, from the node's site config): connections per listener, an idle
 * timeout, a time to finish a message once begun, and the bytes of unfinished messages the
 * listener holds across all its connections. Breaking one closes that connection and counts it;
 * every other client is served on.
 *
 * Backpressure: while the batcher has `maxPending` batches waiting for their put (the channel is
 * full or slow, or its disk is full and the batcher tries again), every connection stops reading,
 * so TCP flow control slows the senders down; a connection held so is not closed as idle. Nothing
 * is dropped for being fast; only malformed or oversized messages are (counted).
 *
 * `close()` stops listening, stops reading every connection, and resolves once every message
 * already read has been put. A message cut by the close is not acknowledged to anybody (TCP
 * syslog has no acknowledgement), and is dropped.
 */
import net from 'node:net';
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import { listen } from '../../core/listen';
import { LISTENER_LIMIT_DEFAULTS, type ListenerLimits } from '../../core/limits';
import {
  BYTES_RECEIVED,
  CONNECTIONS_CLOSED_BUFFERED,
  CONNECTIONS_CLOSED_FRAMING,
  CONNECTIONS_CLOSED_IDLE,
  CONNECTIONS_CLOSED_SLOW,
  CONNECTIONS_REFUSED,
  ERRORS,
  EVENTS_RECEIVED,
} from '../../core/metrics';
import { type BatchAccumulator, EventBatcher, type BatcherOptions } from './batcher';
import { Rejects, SOURCE_DEFAULTS } from './common';
import { StreamFramer } from './framing';

export interface TcpSourceOptions {
  port: number;
  host: string;
  maxEventBytes: number;
  batch: Partial<BatcherOptions>;
}

const TCP_SOURCE_DEFAULTS: Omit<TcpSourceOptions, 'port'> = {
  host: SOURCE_DEFAULTS.bindHost,
  maxEventBytes: SOURCE_DEFAULTS.maxEventBytes,
  batch: {},
};

/** Turns one framed message into events appended to the batcher's builder; false: rejected. */
export type MessageDecoder = (buf: Buffer, start: number, end: number, now: number) => boolean;

export abstract class TcpPushSource implements Source {
  protected readonly options: TcpSourceOptions;
  protected batcher: EventBatcher<BatchAccumulator> | null = null;
  protected readonly rejects: Rejects;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private boundPort = 0;
  private readonly limits: ListenerLimits;
  /** Bytes of unfinished messages held across connections (see `limits.bufferedBytes`). */
  private buffered = 0;
  /** When each connection's unfinished message began, for `limits.messageTimeoutMs`. */
  private readonly partialSince = new Map<net.Socket, number>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    protected readonly ctx: ComponentContext,
    options: Partial<TcpSourceOptions> & { port: number },
    /** Whether messages may be octet-counted (syslog) or are lines only. */
    private readonly octetCounting: boolean,
  ) {
    this.options = { ...TCP_SOURCE_DEFAULTS, ...options };
    this.rejects = new Rejects(ctx);
    this.limits = ctx.limits ?? LISTENER_LIMIT_DEFAULTS;
  }

  /** The port actually bound (useful with port 0); 0 before `open`. */
  get port(): number {
    return this.boundPort;
  }

  /** A decoder for one connection (parsers keep per-connection caches). */
  protected abstract decoder(socket: net.Socket): MessageDecoder;

  protected abstract readonly kind: string;

  /** What the connections' decoders append to (kept by the subclass, typed). */
  protected abstract accumulator(origin: string): BatchAccumulator;

  async open(out: SourceOutput): Promise<void> {
    this.batcher = new EventBatcher(
      out,
      this.ctx,
      { maxEvents: SOURCE_DEFAULTS.batchEvents, lingerMs: SOURCE_DEFAULTS.lingerMs, ...this.options.batch },
      (origin) => this.accumulator(origin),
    );
    const server = net.createServer((socket) => this.serve(socket));
    this.server = server;
    await listen(server, this.options.port, this.options.host);
    server.on('error', (err) => {
      this.ctx.counters.add(ERRORS, 1);
      this.ctx.logger.error('Listener failed.', { error: String(err) });
    });
    this.boundPort = (server.address() as net.AddressInfo).port;
    this.sweeper = setInterval(() => this.closeSlow(), Math.min(1_000, this.limits.messageTimeoutMs)).unref();
    this.ctx.logger.info(`Listening for ${this.kind} over TCP.`, { host: this.options.host, port: this.boundPort });
  }

  private serve(socket: net.Socket): void {
    const counters = this.ctx.counters;
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    if (this.sockets.size >= this.limits.maxConnections) {
      counters.add(CONNECTIONS_REFUSED, 1);
      this.rejects.note(`connection over the limit of ${this.limits.maxConnections}`, { peer });
      socket.destroy();
      return;
    }
    const batcher = this.batcher!;
    const decode = this.decoder(socket);
    let now = Date.now();
    let received = 0;
    let completed = 0;
    const framer = new StreamFramer(this.options.maxEventBytes, this.octetCounting, {
      onFrame: (buf, start, end) => {
        received++;
        completed++;
        if (decode(buf, start, end, now)) batcher.appended();
        else this.rejects.reject(`not a ${this.kind} message`, end - start, { peer });
      },
      onReject: (reason, bytes) => {
        received++;
        completed++;
        if (reason === 'framing') {
          this.rejects.reject(`octet count over the ${this.options.maxEventBytes}-byte limit; closing the connection`, bytes, { peer });
        } else {
          this.rejects.reject(
            reason === 'oversize' ? `message over the ${this.options.maxEventBytes}-byte limit` : 'connection closed inside a message',
            bytes,
            { peer },
          );
        }
      },
    });
    let held = 0;
    const release = (): void => {
      this.buffered -= held;
      held = 0;
      this.partialSince.delete(socket);
    };
    let paused = false;
    this.sockets.add(socket);
    socket.setTimeout(this.limits.idleTimeoutMs, () => {
      // Held back by a full channel: quiet because of us, not idle.
      if (paused) return;
      counters.add(CONNECTIONS_CLOSED_IDLE, 1);
      this.ctx.logger.debug('Closing an idle connection.', { peer, idleTimeoutMs: this.limits.idleTimeoutMs });
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      now = Date.now();
      received = 0;
      completed = 0;
      try {
        framer.feed(chunk);
      } catch (err) {
        // A bug, not bad input (bad input is rejected and counted): drop this connection, not the process.
        this.ctx.counters.add(ERRORS, 1);
        this.ctx.logger.error('Decoding a connection failed; closing it.', { peer, error: String(err) });
        socket.destroy();
        return;
      }
      counters.add(BYTES_RECEIVED, chunk.length);
      if (received > 0) counters.add(EVENTS_RECEIVED, received);
      if (framer.failed) {
        counters.add(CONNECTIONS_CLOSED_FRAMING, 1);
        socket.destroy();
        return;
      }
      const pending = framer.buffered;
      if (this.buffered - held + pending > this.limits.bufferedBytes) {
        counters.add(CONNECTIONS_CLOSED_BUFFERED, 1);
        this.rejects.reject(
          `unfinished message would take the listener over ${this.limits.bufferedBytes} buffered bytes; closing the connection`,
          pending,
          { peer },
        );
        socket.destroy();
        return;
      }
      this.buffered += pending - held;
      held = pending;
      if (pending === 0) this.partialSince.delete(socket);
      else if (completed > 0 || !this.partialSince.has(socket)) this.partialSince.set(socket, now);
      if (!paused && batcher.congested) {
        paused = true;
        socket.pause();
        void batcher.waitBelow().then(() => {
          paused = false;
          if (!socket.destroyed) socket.resume();
        });
      }
    });
    socket.on('end', () => {
      received = 0;
      framer.end();
      if (received > 0) counters.add(EVENTS_RECEIVED, received);
      release();
      socket.end();
    });
    socket.on('error', (err) => {
      this.ctx.logger.debug('Connection failed.', { peer, error: String(err) });
    });
    socket.on('close', () => {
      release();
      this.sockets.delete(socket);
    });
  }

  /** Closes the connections whose unfinished message is older than the message timeout. */
  private closeSlow(): void {
    const cutoff = Date.now() - this.limits.messageTimeoutMs;
    for (const [socket, since] of this.partialSince) {
      if (since > cutoff || socket.isPaused()) continue;
      this.partialSince.delete(socket);
      this.ctx.counters.add(CONNECTIONS_CLOSED_SLOW, 1);
      this.rejects.reject(`message not finished within ${this.limits.messageTimeoutMs} ms; closing the connection`, 0, {
        peer: `${socket.remoteAddress}:${socket.remotePort}`,
      });
      socket.destroy();
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
      await closed;
    }
    await this.batcher?.close();
  }
}
