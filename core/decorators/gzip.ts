/**
 * `gzip` packs each batch into a batch of one event whose body is the gzip of the whole batch
 * encoding and whose attribute `flume.gzip` is set; `gunzip` unpacks such batches (checking the
 * inner batch's CRC) and passes every other batch through untouched. The id of the batch is kept.
 */
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { batchOf, type Batch } from '../channel';
import { BatchBuilder, EventCursor, Priority, verifyBatch } from '../event';
import { EVENTS_ACCEPTED, EVENTS_SENT } from '../metrics';
import type { DecoratorDef } from '../registry';
import { Decorator } from './rewrite';

const gzipAsync = promisify(zlib.gzip);
const gunzipAsync = promisify(zlib.gunzip);
const GZIP_ATTRIBUTE = 'flume.gzip';
const MARK = new Map([[GZIP_ATTRIBUTE, Buffer.from('1')]]);

class GzipDecorator extends Decorator {
  async append(batch: Batch): Promise<void> {
    const body = await gzipAsync(batch.bytes);
    const b = new BatchBuilder(batch.origin, body.length + 64);
    b.append(body, Date.now(), Priority.INFO, '', MARK);
    return this.forward(batch, b.finish(batch.seq), batch.count);
  }
}

class GunzipDecorator extends Decorator {
  private readonly cursor = new EventCursor();

  async append(batch: Batch): Promise<void> {
    const c = this.cursor.reset(batch.bytes);
    if (!c.next() || c.attrsStart < 0 || !c.attributes().has(GZIP_ATTRIBUTE)) return this.forward(batch, null, batch.count);
    const inner = await gunzipAsync(c.body());
    verifyBatch(inner);
    const unpacked = batchOf(inner);
    this.ctx.counters.add(EVENTS_ACCEPTED, batch.count);
    this.ctx.counters.add(EVENTS_SENT, unpacked.count);
    return this.inner.append(unpacked);
  }
}

export const gzipDef: DecoratorDef = {
  kind: 'decorator',
  name: 'gzip',
  doc: 'Compresses each batch into one event (undo with gunzip).',
  args: [],
  create: (_args, ctx, inner) => new GzipDecorator(inner, ctx),
};

export const gunzipDef: DecoratorDef = {
  kind: 'decorator',
  name: 'gunzip',
  doc: 'Expands batches compressed by gzip; passes others through.',
  args: [],
  create: (_args, ctx, inner) => new GunzipDecorator(inner, ctx),
};
