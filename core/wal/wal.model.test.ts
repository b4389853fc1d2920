/**
 * Model-based test: random sequences of put / take / commit / rollback / reopen run against the
 * WAL and against a plain in-memory queue, compared after every step.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { numberedBatch } from '../../test/util/batches';
import type { Transaction } from '../channel';
import { type WalChannel, openWal } from './wal';

type Op =
  | { kind: 'put'; count: number; size: number; commit: boolean }
  | { kind: 'take'; count: number; commit: boolean }
  | { kind: 'openTake'; count: number }
  | { kind: 'settleOpen'; commit: boolean }
  | { kind: 'reopen'; clean: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('put' as const),
      count: fc.integer({ min: 1, max: 5 }),
      size: fc.integer({ min: 10, max: 3000 }),
      commit: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('take' as const), count: fc.integer({ min: 1, max: 6 }), commit: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('openTake' as const), count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('settleOpen' as const), commit: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const), clean: fc.boolean() }) },
);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-model-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let runs = 0;

const OPTIONS = { segmentBytes: 64 * 1024, capacityBytes: 4 * 1024 * 1024, cacheBytes: 16 * 1024 };

test('the WAL behaves like a FIFO queue through random operations and restarts', { timeout: 300_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 60 }), async (ops) => {
      const dir = path.join(root, `run${runs++}`);
      let wal: WalChannel = await openWal(dir, OPTIONS);
      const abandoned: WalChannel[] = [];
      let model: number[] = []; // seqs in the queue, head first (open takes included)
      let open: { tx: Transaction; seqs: number[] } | null = null; // a take left open across steps
      let seq = 0;
      try {
        for (const op of ops) {
          switch (op.kind) {
            case 'put': {
              const tx = wal.transaction();
              tx.begin();
              const seqs: number[] = [];
              for (let i = 0; i < op.count; i++) {
                seqs.push(++seq);
                await tx.put(numberedBatch('m', seq, op.size));
              }
              if (op.commit) {
                await tx.commit();
                model.push(...seqs);
              } else tx.rollback();
              tx.close();
              break;
            }
            case 'take':
            case 'openTake': {
              const held = new Set<number>(open?.seqs ?? []);
              const available: number[] = model.filter((s) => !held.has(s));
              const tx = wal.transaction();
              tx.begin();
              const got: number[] = [];
              for (let i = 0; i < op.count; i++) {
                const b = await tx.take();
                if (!b) break;
                got.push(b.seq);
              }
              assert.deepEqual(got, available.slice(0, op.count), 'takes come in queue order');
              if (op.kind === 'openTake') {
                if (open) {
                  open.tx.rollback();
                  open.tx.close();
                }
                open = { tx, seqs: got };
                break;
              }
              if (op.commit) {
                await tx.commit();
                model = model.filter((s) => !got.includes(s));
              } else tx.rollback();
              tx.close();
              break;
            }
            case 'settleOpen': {
              if (!open) break;
              if (op.commit) {
                await open.tx.commit();
                const done = open.seqs;
                model = model.filter((s) => !done.includes(s));
              } else open.tx.rollback();
              open.tx.close();
              open = null;
              break;
            }
            case 'reopen': {
              // An open take is neither acked nor lost by a restart: it comes back.
              open = null;
              if (op.clean) await wal.stop();
              else abandoned.push(wal); // as if the process died with everything committed on disk
              wal = await openWal(dir, OPTIONS);
              break;
            }
          }
          const inFlight: number = open ? open.seqs.length : 0;
          assert.equal(wal.stats().batches, model.length, `batches after ${op.kind}`);
          assert.equal(wal.stats().inFlight, inFlight, `in flight after ${op.kind}`);
        }
        // Finally everything left comes out in order.
        if (open) {
          open.tx.rollback();
          open.tx.close();
        }
        const rest: number[] = [];
        const tx = wal.transaction();
        tx.begin();
        for (let b = await tx.take(); b; b = await tx.take()) rest.push(b.seq);
        tx.rollback();
        tx.close();
        assert.deepEqual(rest, model);
      } finally {
        await wal.stop();
        for (const w of abandoned) await w.stop().catch(() => undefined);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 150 },
  );
});
