import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ComponentContext, SourceOutput } from '../../core/component';
import { DiskFullError } from '../../core/errors';
import { silentLogger } from '../../core/logger';
import { MapCounters } from '../../test/sources/harness';
import { HttpSource } from './http';

test('http: while the channel refuses batches (disk full) a POST gets 503 with Retry-After and the count committed; once space returns it gets 200', async () => {
  let room = 1; // batches that still fit
  let seq = 0;
  const out: SourceOutput = {
    origin: 'o',
    nextSeq: () => ++seq,
    put: async () => {
      if (room <= 0) throw new DiskFullError('c', '/d', 'ENOSPC', 0);
      room--;
    },
  };
  const ctx: ComponentContext = {
    logger: silentLogger(),
    logicalNode: 'o',
    physicalNode: 'p',
    host: 'h',
    dataDir: '/nonexistent',
    counters: new MapCounters(),
  };
  const source = new HttpSource(ctx, { port: 0, batchEvents: 2 });
  await source.open(out);
  try {
    const post = (n: number): Promise<Response> =>
      fetch(`http://127.0.0.1:${source.port}/`, {
        method: 'POST',
        body: JSON.stringify(Array.from({ length: n }, (_, i) => ({ body: `e${i}` }))),
      });
    const full = await post(5);
    assert.equal(full.status, 503);
    assert.equal(full.headers.get('retry-after'), '1');
    assert.equal(((await full.json()) as { accepted: number }).accepted, 2, 'the first batch went in, the rest did not');
    room = 10;
    const ok = await post(3);
    assert.equal(ok.status, 200);
  } finally {
    await source.close();
  }
});
