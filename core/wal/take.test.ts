import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { numberedBatch, putAll, range } from '../../test/util/batches';
import type { Transaction } from '../channel';
import { decodeEvents } from '../event';
import { openWal } from './wal';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-take-test-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => path.join(root, `w${n++}`);

const body = (bytes: Buffer): string => decodeEvents(bytes)[0].body.toString().replace(/\.+$/, '');

describe('WAL take side', () => {
  test('takers hold at most takenBytes between them: a take past it waits for an ack, then goes on', async () => {
    // Records of ~1 KB: three fit under 2.5 KB, the third one crossing it.
    const wal = await openWal(freshDir(), { takenBytes: 2500 });
    await putAll(
      wal,
      range(1, 6).map((s) => numberedBatch('a', s, 1000)),
    );
    // Six takers at once, as a driver's workers are: only three find room.
    const takers = range(1, 6).map(() => {
      const tx = wal.transaction();
      tx.begin();
      return tx;
    });
    const got = await Promise.all(takers.map((tx) => tx.take(0)));
    const open = takers.filter((_, i) => got[i] !== null);
    for (const tx of takers.filter((_, i) => got[i] === null)) {
      tx.rollback();
      tx.close();
    }
    assert.deepEqual(
      got.filter((b) => b !== null).map((b) => b!.seq),
      [1, 2, 3],
    );
    assert.equal(open.length, 3, 'the take that crossed the bound went; the next one found no room');
    const waiting = wal.transaction();
    waiting.begin();
    const next = waiting.take(10_000);
    await open[0].commit();
    open[0].close();
    assert.equal((await next)?.seq, 4, 'an ack made room for the next record');
    open[1].rollback();
    open[1].close();
    const again = wal.transaction();
    again.begin();
    assert.equal((await again.take(0))?.seq, 2, 'a record given back goes out again first');
    for (const tx of [open[2], waiting, again]) {
      await tx.commit();
      tx.close();
    }
    await wal.stop();
  });

  test('records read back from disk stay whole while later reads reuse the read buffer', async () => {
    const dir = freshDir();
    const wal = await openWal(dir, { cacheBytes: 0, segmentBytes: 64 * 1024 });
    const seqs = range(1, 300);
    await putAll(
      wal,
      seqs.map((s) => numberedBatch('a', s, 700)),
    );
    const held: Array<{ tx: Transaction; bytes: Buffer; seq: number }> = [];
    for (const seq of seqs) {
      const tx = wal.transaction();
      tx.begin();
      const b = await tx.take(0);
      assert.equal(b?.seq, seq);
      held.push({ tx, bytes: b!.bytes, seq });
    }
    assert.ok(wal.counters.diskReads >= seqs.length, 'every record came from disk');
    for (const h of held) {
      assert.equal(body(h.bytes), `a:${h.seq}`);
      await h.tx.commit();
      h.tx.close();
    }
    await wal.stop();
  });
});
