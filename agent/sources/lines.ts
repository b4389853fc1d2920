/**
 * Lines from a Node stream (a child's stdout, stdin, a file read once) into a batcher, one event
 * per line, with backpressure: the stream is paused while the batcher has too many batches
 * waiting for their put. A line over `maxEventBytes` is dropped and counted.
 */
import type { Readable } from 'node:stream';
import type { ComponentContext } from '../../core/component';
import { Priority } from '../../core/event';
import { BYTES_RECEIVED, EVENTS_RECEIVED } from '../../core/metrics';
import type { EventBatcher } from './batcher';
import type { Rejects } from './common';
import { StreamFramer } from './framing';

export interface PumpOptions {
  maxEventBytes: number;
  /** Named in rejection reports: the file or command. */
  what: string;
}

/**
 * Appends every line of `stream` to `batcher` (host: ctx.host, time of reading). Resolves with
 * the number of lines at the end of the stream, once each is appended (not yet put: flush the
 * batcher for that); rejects if the stream fails.
 */
export function pumpLines(
  stream: Readable,
  batcher: EventBatcher,
  ctx: ComponentContext,
  rejects: Rejects,
  opts: PumpOptions,
): Promise<number> {
  const builder = batcher.builder;
  const host = ctx.host;
  let now = Date.now();
  let total = 0;
  let lines = 0;
  const framer = new StreamFramer(opts.maxEventBytes, false, {
    onFrame: (buf, start, end) => {
      lines++;
      builder.append(buf.subarray(start, end), now, Priority.INFO, host);
      batcher.appended();
    },
    onReject: (reason, bytes) => {
      lines++;
      rejects.reject(reason === 'oversize' ? `line over the ${opts.maxEventBytes}-byte limit` : 'stream ended inside a line', bytes, {
        from: opts.what,
      });
    },
  });
  return new Promise<number>((resolve, reject) => {
    let paused = false;
    stream.on('data', (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      now = Date.now();
      lines = 0;
      framer.feed(buf);
      ctx.counters.add(BYTES_RECEIVED, buf.length);
      if (lines > 0) ctx.counters.add(EVENTS_RECEIVED, lines);
      total += lines;
      if (!paused && batcher.congested) {
        paused = true;
        stream.pause();
        void batcher.waitBelow().then(() => {
          paused = false;
          if (!stream.destroyed) stream.resume();
        });
      }
    });
    stream.once('end', () => {
      lines = 0;
      framer.end();
      if (lines > 0) ctx.counters.add(EVENTS_RECEIVED, lines);
      total += lines;
      resolve(total);
    });
    stream.once('error', reject);
  });
}
