/**
 * `syslogTcp(port[, host, maxEventBytes])`: syslog over TCP, RFC 5424 and RFC 3164 messages,
 * octet-counted (RFC 6587) or newline-framed, told apart per message; any number of concurrent
 * connections. Fields are mapped as `syslog-parse.ts` describes.
 */
import type net from 'node:net';
import type { ComponentContext } from '../../core/component';
import type { SourceDef } from '../../core/registry';
import { HOST_ARG, MAX_EVENT_ARG, PORT_ARG } from './common';
import { SyslogBatchWriter, SyslogParser } from './syslog-parse';
import { type MessageDecoder, TcpPushSource, type TcpSourceOptions } from './tcp-server';

export class SyslogTcpSource extends TcpPushSource {
  protected readonly kind = 'syslog';

  constructor(ctx: ComponentContext, options: Partial<TcpSourceOptions> & { port: number }) {
    super(ctx, options, true);
  }

  private writer: SyslogBatchWriter | null = null;

  protected accumulator(origin: string): SyslogBatchWriter {
    this.writer = new SyslogBatchWriter(origin);
    return this.writer;
  }

  protected decoder(socket: net.Socket): MessageDecoder {
    const parser = new SyslogParser(socket.remoteAddress ?? this.ctx.host);
    const writer = this.writer!;
    return (buf, start, end, now) => parser.parse(writer, buf, start, end, now);
  }
}

export const def: SourceDef = {
  kind: 'source',
  name: 'syslogTcp',
  aliases: ['syslogTcp1'],
  doc: 'Syslog over TCP (RFC 5424 and 3164; octet-counted or newline framing, detected per message).',
  args: [PORT_ARG, HOST_ARG, MAX_EVENT_ARG],
  create: (args, ctx) =>
    new SyslogTcpSource(ctx, { port: args.number('port'), host: args.string('host'), maxEventBytes: args.number('maxEventBytes') }),
};
