/**
 * The TCP side of the push sources (`syslogTcp`, `textTcp`): a listener, any number of
 * concurrent connections, each with its own framer, all appending to one batcher.
 *
 * A message over `maxEventBytes` (or one that is not syslog, for syslogTcp) is dropped, counted
 * as rejected and logged with the peer; the connection stays open and its next message is read.
 * (Closing it would also lose whatever the client had sent after the bad message.)
 *
 * Backpressure: while the batcher has `maxPending` batches waiting for their put (the channel is
 * full or slow), every connection stops reading, so TCP flow control slows the senders down.
 * Nothing is dropped for being fast; only malformed or oversized messages are (counted).
 *
 * `close()` stops listening, stops reading every connection, and resolves once every message
 * already read has been put. A message cut by the close is not acknowledged to anybody (TCP
 * syslog has no acknowledgement), and is dropped.
 */
import net from 'node:net';
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import { listen } from '../../core/listen';
import { BYTES_RECEIVED, ERRORS, EVENTS_RECEIVED } from '../../core/metrics';
import { type BatchAccumulator, EventBatcher, type BatcherOptions } from './batcher';
import { Rejects, SOURCE_DEFAULTS } from './common';
import { StreamFramer } from './framing';

export interface TcpSourceOptions {
  port: number;
  host: string;
  maxEventBytes: number;
  batch: Partial<BatcherOptions>;
}

export const TCP_SOURCE_DEFAULTS: Omit<TcpSourceOptions, 'port'> = {
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

  constructor(
    protected readonly ctx: ComponentContext,
    options: Partial<TcpSourceOptions> & { port: number },
    /** Whether messages may be octet-counted (syslog) or are lines only. */
    private readonly octetCounting: boolean,
  ) {
    this.options = { ...TCP_SOURCE_DEFAULTS, ...options };
    this.rejects = new Rejects(ctx);
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
    this.ctx.logger.info(`Listening for ${this.kind} over TCP.`, { host: this.options.host, port: this.boundPort });
  }

  private serve(socket: net.Socket): void {
    const batcher = this.batcher!;
    const counters = this.ctx.counters;
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const decode = this.decoder(socket);
    let now = Date.now();
    let received = 0;
    const framer = new StreamFramer(this.options.maxEventBytes, this.octetCounting, {
      onFrame: (buf, start, end) => {
        received++;
        if (decode(buf, start, end, now)) batcher.appended();
        else this.rejects.reject(`not a ${this.kind} message`, end - start, { peer });
      },
      onReject: (reason, bytes) => {
        received++;
        this.rejects.reject(reason === 'oversize' ? `message over the ${this.options.maxEventBytes}-byte limit` : 'connection closed inside a message', bytes, { peer });
      },
    });
    let paused = false;
    this.sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      now = Date.now();
      received = 0;
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
      socket.end();
    });
    socket.on('error', (err) => {
      this.ctx.logger.debug('Connection failed.', { peer, error: String(err) });
    });
    socket.on('close', () => this.sockets.delete(socket));
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
      await closed;
    }
    await this.batcher?.drain();
  }
}
