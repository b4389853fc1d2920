/**
 * The WAL on a full disk (a small tmpfs; needs root): puts are refused with DiskFullError and
 * leave nothing half-written, acks are still recorded and free the space, the free segment files
 * give their space back, and a WAL opens on a full disk.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { drain, numberedBatch } from '../../test/util/batches';
import { type Tmpfs, mountTmpfs, tmpfsSkip } from '../../test/harness/tmpfs';
import { inTransaction } from '../channel';
import { DiskFullError, isRetriable } from '../errors';
import { openWal, type WalChannel, type WalOptions } from './wal';

const skip = tmpfsSkip() ?? false;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-disk-'));
const mounts: Tmpfs[] = [];
after(() => {
  for (const m of mounts) m.unmount();
  fs.rmSync(root, { recursive: true, force: true });
});
let n = 0;
function smallDisk(size: string): Tmpfs {
  const m = mountTmpfs(path.join(root, `fs${n++}`), size);
  mounts.push(m);
  return m;
}

const BODY = 60 * 1024;

/** Puts one batch a transaction from `seq` on until one is refused; returns the refusal and the next seq. */
async function fill(wal: WalChannel, seq: number): Promise<{ err: unknown; next: number }> {
  for (;;) {
    try {
      await inTransaction(wal, (tx) => tx.put(numberedBatch('a', seq, BODY)));
      seq++;
    } catch (err) {
      return { err, next: seq };
    }
  }
}

/** Writes `file` until the disk is full. */
function fillDisk(file: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (;;) fs.writeSync(fd, Buffer.alloc(64 * 1024));
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    fs.closeSync(fd);
  }
}

const walBytes = (dir: string): number =>
  fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('seg-'))
    .reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);

describe('WAL on a full disk', { skip }, () => {
  test('a full disk refuses puts whole with a retriable DiskFullError, even one that hits ENOSPC; acks still go in and free the space', async () => {
    const disk = smallDisk('8m');
    const dir = path.join(disk.path, 'wal');
    const opts: Partial<WalOptions> = { minFreeBytes: 0 };
    const wal = await openWal(dir, opts);
    const { err, next: firstRefused } = await fill(wal, 1);
    let next = firstRefused;
    assert.ok(err instanceof DiskFullError, String(err));
    // Refused before the write (the last statfs said no room) or by it (ENOSPC): either way whole.
    assert.ok(['HEADROOM', 'ENOSPC'].includes(err.code), err.code);
    assert.ok(isRetriable(err));
    assert.ok(next > 50, `${next - 1} batches fit in 8 MB`);
    assert.ok(disk.freeBytes() < 2 * BODY, `the disk is full: ${disk.freeBytes()} bytes free`);
    const segBytes = walBytes(dir);

    // Acks are recorded on the full disk; acked segments are deleted (not kept as free files).
    const seqs = await drain(wal);
    assert.deepEqual(
      seqs,
      Array.from({ length: next - 1 }, (_, i) => i + 1),
      'every committed batch once, in order',
    );
    assert.ok(disk.freeBytes() > segBytes / 2, `acked segments gave their space back: ${disk.freeBytes()} bytes free`);

    // A write that runs into ENOSPC (another writer took the space since the last statfs: the
    // WAL measures at most once a second while it has room) is undone and refused the same way.
    const filler = path.join(disk.path, 'filler');
    let code = '';
    for (let attempt = 0; attempt < 5 && code !== 'ENOSPC'; attempt++) {
      await inTransaction(wal, (tx) => tx.put(numberedBatch('a', next, BODY))); // measures: room
      await drain(wal);
      fillDisk(filler);
      const r = await fill(wal, next + 1);
      assert.ok(r.err instanceof DiskFullError && r.next === next + 1, String(r.err));
      code = r.err.code;
      fs.unlinkSync(filler);
      next++;
    }
    assert.equal(code, 'ENOSPC');

    // Puts go in again, and a restart finds exactly what was committed after the refusal.
    const again = await fill(wal, next);
    assert.ok(again.err instanceof DiskFullError, String(again.err));
    assert.ok(again.next - next > 50, `${again.next - next} batches after the space came back`);
    await wal.stop();
    const reopened = await openWal(dir, opts);
    assert.deepEqual(
      await drain(reopened),
      Array.from({ length: again.next - next }, (_, i) => next + i),
      'no refused batch was half-recorded',
    );
    assert.equal(reopened.counters.tornTails, 0);
    await reopened.stop();
  });

  test('with the default floor a put is refused before the disk is full, and the WAL reopens on that disk', async () => {
    const disk = smallDisk('8m');
    const dir = path.join(disk.path, 'wal');
    const wal = await openWal(dir);
    const { err, next } = await fill(wal, 1);
    assert.ok(err instanceof DiskFullError, String(err));
    assert.equal(err.code, 'HEADROOM');
    assert.ok(disk.freeBytes() >= 1024 * 1024 - BODY, `the floor stays free: ${disk.freeBytes()} bytes`);
    await wal.stop();

    // Fill what the floor left, as another process would; the WAL still opens and drains.
    const filler = path.join(disk.path, 'filler');
    fillDisk(filler);
    const reopened = await openWal(dir);
    assert.deepEqual(
      await drain(reopened),
      Array.from({ length: next - 1 }, (_, i) => i + 1),
    );
    // The acks freed the segments: the filler goes, and puts go in again.
    fs.unlinkSync(filler);
    await inTransaction(reopened, (tx) => tx.put(numberedBatch('a', next, BODY)));
    await reopened.stop();
  });

  test('free segment files count against the capacity and are deleted when the disk runs short', async () => {
    const disk = smallDisk('16m');
    const dir = path.join(disk.path, 'wal');
    const opts: Partial<WalOptions> = { segmentBytes: 256 * 1024, capacityBytes: 2 * 1024 * 1024, minFreeBytes: 0 };
    const wal = await openWal(dir, opts);
    let seq = 1;
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 20; i++) await inTransaction(wal, (tx) => tx.put(numberedBatch('a', seq++, BODY)));
      await drain(wal);
    }
    const free = (): number =>
      fs
        .readdirSync(dir)
        .filter((f) => f.startsWith('free-'))
        .reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
    assert.ok(free() > 0, 'acked full segments are kept for reuse');
    assert.ok(free() + walBytes(dir) <= 2 * 1024 * 1024 + 2 * BODY, `free files stay within the capacity: ${free()} bytes`);

    // Something else fills the disk: the next refused write deletes the free files.
    fillDisk(path.join(disk.path, 'filler'));
    const { err } = await fill(wal, seq);
    assert.ok(err instanceof DiskFullError, String(err));
    assert.equal(free(), 0, 'no free file is kept on a full disk');
    await wal.stop();
  });
});
