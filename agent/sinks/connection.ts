/**
 * One agent's link to one collector: a grpc-js client (one HTTP/2 connection, kept across
 * streams and reconnected by grpc-js) and, on it, Append streams and Stored queries.
 *
 * A stream is used by one owner: `send` in the order batches must arrive; `onAck` and then
 * exactly one `onClosed` are called back, never after `cancel()`.
 *
 * With TLS (core/tls) the connection presents this node's certificate and talks only to a server
 * whose certificate, from the cluster's CA, has the role `collector`.
 */
import * as grpc from '@grpc/grpc-js';
import {
  type Ack,
  APPEND_PATH,
  type AppendHello,
  decodeAck,
  encodeHello,
  STORED_PATH,
  type StoredQuery,
  type StoredReply,
  collectorService,
} from '../../core/grpc/append';
import { channelOptions, type GrpcTuning } from '../../core/grpc/tuning';
import { type PeerRole, TLS_CHANNEL_OPTIONS, type TlsContext } from '../../core/tls';

/** The roles an agent sink accepts on the server side. */
const COLLECTOR_ROLES: readonly PeerRole[] = ['collector'];

export interface AppendStreamEvents {
  onAck(ack: Ack): void;
  /** The stream ended: `error` null when the collector closed it cleanly. */
  onClosed(error: grpc.ServiceError | Error | null): void;
}

const identity = (b: Buffer): Buffer => b;

export class CollectorConnection {
  private readonly client: grpc.Client;
  private readonly storedMethod: grpc.MethodDefinition<StoredQuery, StoredReply>;

  constructor(
    readonly target: string,
    tuning: Partial<GrpcTuning> = {},
    tls?: TlsContext,
  ) {
    this.client = new grpc.Client(target, tls ? tls.channelCredentials(COLLECTOR_ROLES) : grpc.credentials.createInsecure(), {
      ...channelOptions(tuning),
      ...TLS_CHANNEL_OPTIONS,
      // Reconnect quickly after a collector restarts; our own loop does the backing off.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
      'grpc.min_reconnect_backoff_ms': 100,
      // A collector host that vanishes without closing its sockets is noticed within ~15 s (the
      // grpc-js server does not police ping rates, so this cannot get us GOAWAY'd).
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    });
    this.storedMethod = collectorService().Stored as grpc.MethodDefinition<StoredQuery, StoredReply>;
  }

  /**
   * Resolves once the HTTP/2 connection is up; rejects after `timeoutMs`, or at once when `signal`
   * aborts. Not grpc-js's `waitForReady`: closing the client does not end that wait, and its
   * deadline timer keeps a stopping process alive until it fires.
   */
  ready(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const channel = this.client.getChannel();
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (err?: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
        if (err) reject(err);
        else resolve();
      };
      const abort = (): void => finish(new Error('closed before the collector answered'));
      const timer = setTimeout(() => finish(new Error('Failed to connect before the deadline')), timeoutMs);
      // A watcher left behind by a timeout is called (and ignored) at the next state change.
      const check = (): void => {
        if (done) return;
        try {
          const state = channel.getConnectivityState(true);
          if (state === grpc.connectivityState.READY) return finish();
          channel.watchConnectivityState(state, Infinity, check);
        } catch {
          finish(new Error('The channel has been closed'));
        }
      };
      if (signal?.aborted) return abort();
      signal?.addEventListener('abort', abort, { once: true });
      check();
    });
  }

  /** Opens an Append stream and sends the hello. */
  openStream(hello: AppendHello, events: AppendStreamEvents): AppendStream {
    return new AppendStream(this.client, hello, events);
  }

  /** Which of `seqs` the collector knows to be stored. */
  stored(origin: string, seqs: number[], timeoutMs: number): Promise<number[]> {
    const m = this.storedMethod;
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest<StoredQuery, StoredReply>(
        STORED_PATH,
        m.requestSerialize,
        m.responseDeserialize,
        { origin, seqs },
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, reply) => (err ? reject(err) : resolve((reply?.stored ?? []).map(Number))),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

export class AppendStream {
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private done = false;

  constructor(
    client: grpc.Client,
    hello: AppendHello,
    private readonly events: AppendStreamEvents,
  ) {
    this.call = client.makeBidiStreamRequest(APPEND_PATH, identity, identity, new grpc.Metadata(), {});
    this.call.on('data', (bytes: Buffer) => {
      if (this.done) return;
      let ack: Ack;
      try {
        ack = decodeAck(bytes);
      } catch (err) {
        this.finish(new Error(`undecodable ack from the collector: ${(err as Error).message}`));
        this.call.cancel();
        return;
      }
      this.events.onAck(ack);
    });
    this.call.on('error', (err: grpc.ServiceError) => this.finish(err));
    this.call.on('end', () => this.finish(null));
    this.call.on('close', () => this.finish(null));
    this.call.write(encodeHello(hello));
  }

  get open(): boolean {
    return !this.done;
  }

  /** Sends one encoded EventBatch as it is. False when the stream's buffer is full (still sent). */
  send(batch: Buffer): boolean {
    if (this.done) return false;
    return this.call.write(batch);
  }

  /** No more batches; the collector answers what it got and then closes. */
  end(): void {
    if (!this.done) this.call.end();
  }

  /** Drops the stream at once; no callback follows. */
  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.call.cancel();
  }

  private finish(error: grpc.ServiceError | Error | null): void {
    if (this.done) return;
    this.done = true;
    this.events.onClosed(error);
  }
}
