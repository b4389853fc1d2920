/**
 * `textTcp(port[, host, maxEventBytes])`: plain text over TCP, one event per line (LF or CRLF),
 * any number of concurrent connections. Events carry this node's host and the time of receipt.
 */
import type net from 'node:net';
import type { ComponentContext } from '../../core/component';
import { BatchBuilder, Priority } from '../../core/event';
import type { SourceDef } from '../../core/registry';
import { HOST_ARG, MAX_EVENT_ARG, PORT_ARG } from './common';
import { type MessageDecoder, TcpPushSource, type TcpSourceOptions } from './tcp-server';

export class TextTcpSource extends TcpPushSource {
  protected readonly kind = 'text';

  constructor(ctx: ComponentContext, options: Partial<TcpSourceOptions> & { port: number }) {
    super(ctx, options, false);
  }

  private builder: BatchBuilder | null = null;

  protected accumulator(origin: string): BatchBuilder {
    this.builder = new BatchBuilder(origin);
    return this.builder;
  }

  protected decoder(_socket: net.Socket): MessageDecoder {
    const builder = this.builder!;
    const host = this.ctx.host;
    return (buf, start, end, now) => {
      builder.append(buf.subarray(start, end), now, Priority.INFO, host);
      return true;
    };
  }
}

export const def: SourceDef = {
  kind: 'source',
  name: 'textTcp',
  aliases: ['tcpText'],
  doc: 'Plain text over TCP: one event per line, many connections.',
  args: [PORT_ARG, HOST_ARG, MAX_EVENT_ARG],
  create: (args, ctx) =>
    new TextTcpSource(ctx, { port: args.number('port'), host: args.string('host'), maxEventBytes: args.number('maxEventBytes') }),
};
