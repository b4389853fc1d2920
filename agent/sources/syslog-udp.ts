/**
 * `syslogUdp(port[, host, maxEventBytes])`: syslog over UDP, one message per datagram
 * (RFC 5426), RFC 5424 or 3164. UDP has no flow control: while the channel is full, datagrams
 * pile up in the socket buffer and the kernel drops the overflow, as every syslog daemon does.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { ComponentContext, Source, SourceOutput } from '../../core/component';
import type { SourceDef } from '../../core/registry';
import { BYTES_RECEIVED, ERRORS, EVENTS_RECEIVED } from '../../core/metrics';
import { type BatcherOptions, EventBatcher } from './batcher';
import { HOST_ARG, MAX_EVENT_ARG, PORT_ARG, Rejects, SOURCE_DEFAULTS } from './common';
import { SyslogBatchWriter, SyslogParser } from './syslog-parse';

export interface SyslogUdpOptions {
  port: number;
  host: string;
  maxEventBytes: number;
  batch: Partial<BatcherOptions>;
}

const SYSLOG_UDP_DEFAULTS: Omit<SyslogUdpOptions, 'port'> = {
  host: SOURCE_DEFAULTS.bindHost,
  maxEventBytes: SOURCE_DEFAULTS.maxEventBytes,
  batch: {},
};

export class SyslogUdpSource implements Source {
  private readonly options: SyslogUdpOptions;
  private socket: dgram.Socket | null = null;
  private batcher: EventBatcher<SyslogBatchWriter> | null = null;
  private readonly rejects: Rejects;
  private readonly parser: SyslogParser;
  private boundPort = 0;

  constructor(
    private readonly ctx: ComponentContext,
    options: Partial<SyslogUdpOptions> & { port: number },
  ) {
    this.options = { ...SYSLOG_UDP_DEFAULTS, ...options };
    this.rejects = new Rejects(ctx);
    this.parser = new SyslogParser(ctx.host);
  }

  get port(): number {
    return this.boundPort;
  }

  async open(out: SourceOutput): Promise<void> {
    const batcher = new EventBatcher(
      out,
      this.ctx,
      { maxEvents: SOURCE_DEFAULTS.batchEvents, lingerMs: SOURCE_DEFAULTS.lingerMs, ...this.options.batch },
      (origin) => new SyslogBatchWriter(origin),
    );
    this.batcher = batcher;
    const socket = dgram.createSocket({ type: net.isIPv6(this.options.host) ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.options.port, this.options.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (err) => {
      this.ctx.counters.add(ERRORS, 1);
      this.ctx.logger.error('UDP socket failed.', { error: String(err) });
    });
    socket.on('message', (msg, rinfo) => {
      try {
        this.receive(msg, rinfo.address);
      } catch (err) {
        this.ctx.counters.add(ERRORS, 1);
        this.ctx.logger.error('Decoding a datagram failed.', { peer: rinfo.address, error: String(err) });
      }
    });
    this.boundPort = socket.address().port;
    this.ctx.logger.info('Listening for syslog over UDP.', { host: this.options.host, port: this.boundPort });
  }

  private receive(msg: Buffer, peer: string): void {
    const counters = this.ctx.counters;
    counters.add(BYTES_RECEIVED, msg.length);
    counters.add(EVENTS_RECEIVED, 1);
    let end = msg.length;
    while (end > 0 && (msg[end - 1] === 0x0a || msg[end - 1] === 0x0d || msg[end - 1] === 0)) end--;
    if (end > this.options.maxEventBytes) {
      this.rejects.reject(`datagram over the ${this.options.maxEventBytes}-byte limit`, end, { peer });
      return;
    }
    if (this.batcher!.congested) {
      // UDP cannot be held back: while the channel refuses batches (full, or its disk full) a
      // datagram is dropped and counted, not queued without bound.
      this.rejects.reject('channel full (or its disk); datagram dropped', end, { peer });
      return;
    }
    this.parser.defaultHost = peer;
    if (this.parser.parse(this.batcher!.builder, msg, 0, end, Date.now())) this.batcher!.appended();
    else this.rejects.reject('not a syslog message', end, { peer });
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    await this.batcher?.close();
  }
}

export const def: SourceDef = {
  kind: 'source',
  name: 'syslogUdp',
  doc: 'Syslog over UDP (RFC 5424 and 3164), one message per datagram.',
  args: [PORT_ARG, HOST_ARG, MAX_EVENT_ARG],
  create: (args, ctx) =>
    new SyslogUdpSource(ctx, { port: args.number('port'), host: args.string('host'), maxEventBytes: args.number('maxEventBytes') }),
};
