import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ComponentContext, SourceOutput } from '../../core/component';
import { ChannelClosedError, DiskFullError } from '../../core/errors';
import { parseBatchHeader } from '../../core/event';
import { silentLogger } from '../../core/logger';
import { EVENTS_ACCEPTED } from '../../core/metrics';
import { MapCounters } from '../../test/sources/harness';
import { EventBatcher } from './batcher';

/** An output that refuses puts with `refusal()` while `full` is set, and keeps what it takes. */
function refusingOutput(refusal: () => Error): SourceOutput & { full: boolean; seqs: number[]; refused: number } {
  let seq = 0;
  const out = {
    origin: 'o',
    full: true,
    seqs: [] as number[],
    refused: 0,
    nextSeq: () => ++seq,
    put: async (bytes: Buffer): Promise<void> => {
      if (out.full) {
        out.refused++;
        throw refusal();
      }
      out.seqs.push(parseBatchHeader(bytes).seq);
    },
  };
  return out;
}

function context(counters: MapCounters): ComponentContext {
  return { logger: silentLogger(), logicalNode: 'o', physicalNode: 'p', host: 'h', dataDir: '/nonexistent', counters };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
}

test('batcher: puts a full disk refuses are tried again with a backoff, in order, and the producer is held meanwhile', async () => {
  const counters = new MapCounters();
  const out = refusingOutput(() => new DiskFullError('c', '/d', 'ENOSPC', 0));
  const batcher = new EventBatcher(out, context(counters), { maxEvents: 10, lingerMs: 0, maxPending: 2 });
  for (let b = 0; b < 3; b++) {
    for (let i = 0; i < 10; i++) batcher.builder.append(Buffer.from(`e${b}.${i}`), 0, 0, 'h');
    batcher.appended();
  }
  assert.ok(batcher.congested, 'the producer is held back');
  await until(() => out.refused >= 3);
  const refusedSoFar = out.refused;
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(out.refused - refusedSoFar < 10, `tried again with a backoff, not a busy loop: ${out.refused - refusedSoFar} tries in 200 ms`);
  assert.equal(counters.get(EVENTS_ACCEPTED), 0);

  out.full = false; // space returns
  await batcher.waitBelow(1);
  assert.deepEqual(out.seqs, [1, 2, 3], 'every batch once, in order');
  assert.equal(counters.get(EVENTS_ACCEPTED), 30);
  assert.ok(!batcher.congested);
  await batcher.close();
});

test('batcher: a closed channel is not waited for, and close gives up a refused put after its grace', async () => {
  const closed = refusingOutput(() => new ChannelClosedError('c'));
  const a = new EventBatcher(closed, context(new MapCounters()), { maxEvents: 1, lingerMs: 0 });
  a.builder.append(Buffer.from('x'), 0, 0, 'h');
  await assert.rejects(a.flush(), ChannelClosedError);
  assert.equal(closed.refused, 1);

  const full = refusingOutput(() => new DiskFullError('c', '/d', 'HEADROOM', 0));
  const b = new EventBatcher(full, context(new MapCounters()), { maxEvents: 1, lingerMs: 0 });
  b.builder.append(Buffer.from('y'), 0, 0, 'h');
  const put = b.flush();
  await until(() => full.refused >= 1);
  b.endHold(0);
  await assert.rejects(put, DiskFullError);
  await b.close();
});
