import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { crc32c } from '@node-rs/crc32';
import { drain, numberedBatch, putAll, range } from '../../test/util/batches';
import { batchPool } from '../buffer-pool';
import { batchOf } from '../channel';
import { BatchBuilder, decodeEvents } from '../event';
import { BatchTooLargeError } from '../errors';
import { type WalOptions, openWal } from './wal';
import { crc32cCombine, decodeRecord, encodeHeader } from './format';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-test-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => path.join(root, `w${n++}`);

const segments = (dir: string): string[] =>
  fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('seg-'))
    .sort();
const lastSegment = (dir: string): string => path.join(dir, segments(dir).at(-1)!);

async function putEach(dir: string, seqs: number[], opts: Partial<WalOptions> = {}, size = 100): Promise<number[]> {
  const wal = await openWal(dir, opts);
  const ends: number[] = [];
  for (const s of seqs) {
    await putAll(wal, [numberedBatch('a', s, size)]);
    ends.push(fs.statSync(lastSegment(dir)).size);
  }
  await wal.stop();
  return ends;
}

async function reopenAndDrain(dir: string, opts: Partial<WalOptions> = {}) {
  const wal = await openWal(dir, opts);
  const seqs = await drain(wal);
  const counters = { ...wal.counters };
  await wal.stop();
  return { seqs, counters };
}

describe('WAL restart and replay', () => {
  test('committed batches survive a restart; acked ones do not come back; order is kept', async () => {
    const dir = freshDir();
    const opts = { segmentBytes: 4096, capacityBytes: 1 << 20 };
    await putEach(dir, range(1, 100), opts);
    const wal = await openWal(dir, opts);
    for (let i = 1; i <= 40; i++) {
      const tx = wal.transaction();
      tx.begin();
      assert.equal((await tx.take())?.seq, i);
      await tx.commit();
      tx.close();
    }
    const open = wal.transaction();
    open.begin();
    assert.equal((await open.take())?.seq, 41, 'taken but never committed');
    await wal.stop();
    const { seqs } = await reopenAndDrain(dir, opts);
    assert.deepEqual(seqs, range(41, 100));
  });

  test('the bytes of a batch come back exactly as they were put', async () => {
    const dir = freshDir();
    const wal = await openWal(dir);
    const batch = numberedBatch('origin-x', 77, 300);
    await putAll(wal, [batch]);
    await wal.stop();
    const again = await openWal(dir);
    const tx = again.transaction();
    tx.begin();
    const got = await tx.take();
    assert.ok(got);
    assert.deepEqual(Buffer.compare(got.bytes, batch.bytes), 0);
    assert.equal(got.origin, 'origin-x');
    assert.equal(got.seq, 77);
    assert.equal(decodeEvents(got.bytes)[0].body.toString().startsWith('origin-x:77'), true);
    await tx.commit();
    tx.close();
    await again.stop();
  });

  test('several transactions in flight ack out of order; restart keeps exactly the unacked', async () => {
    const dir = freshDir();
    const wal = await openWal(dir, { segmentBytes: 2048 });
    await putAll(
      wal,
      range(1, 30).map((i) => numberedBatch('a', i)),
    );
    const txs = [];
    for (let i = 0; i < 10; i++) {
      const tx = wal.transaction();
      tx.begin();
      assert.equal((await tx.take())?.seq, i + 1);
      txs.push(tx);
    }
    for (const i of [9, 3, 0, 1, 5]) await txs[i].commit();
    for (const i of [2, 4]) txs[i].rollback();
    await wal.stop();
    const { seqs } = await reopenAndDrain(dir, { segmentBytes: 2048 });
    assert.deepEqual(seqs, [3, 5, 7, 8, 9, ...range(11, 30)]);
  });
});

describe('WAL torn tail', () => {
  test('cut at every byte offset of the last record: earlier records survive, the WAL opens and appends again', async () => {
    const dir = freshDir();
    const ends = await putEach(dir, range(1, 5));
    const seg = path.basename(lastSegment(dir));
    const lastStart = ends[3];
    const full = ends[4];
    for (let cut = lastStart; cut < full; cut++) {
      const copy = freshDir();
      fs.cpSync(dir, copy, { recursive: true });
      fs.truncateSync(path.join(copy, seg), cut);
      const wal = await openWal(copy);
      assert.equal(wal.counters.tornTails, cut > lastStart ? 1 : 0, `cut at ${cut}`);
      await putAll(wal, [numberedBatch('a', 6)]);
      await wal.stop();
      const { seqs } = await reopenAndDrain(copy);
      assert.deepEqual(seqs, [1, 2, 3, 4, 6], `cut at ${cut}`);
      fs.rmSync(copy, { recursive: true });
    }
  });

  test('garbage appended after the last record is truncated', async () => {
    const dir = freshDir();
    await putEach(dir, range(1, 3));
    fs.appendFileSync(lastSegment(dir), Buffer.from('\x46\x57\x4c\x31garbage that looks like a record start'));
    const { seqs, counters } = await reopenAndDrain(dir);
    assert.deepEqual(seqs, [1, 2, 3]);
    assert.equal(counters.tornTails, 1);
  });
});

describe('WAL corruption in the middle', () => {
  for (const where of ['payload', 'length field', 'lsn field']) {
    test(`a flipped bit in the ${where} of a middle record of the last segment drops that record only`, async () => {
      const dir = freshDir();
      const ends = await putEach(dir, range(1, 10));
      const start = ends[3]; // record 5
      const offset = where === 'payload' ? start + 60 : where === 'length field' ? start + 5 : start + 13;
      const file = lastSegment(dir);
      const bytes = fs.readFileSync(file);
      bytes[offset] ^= 0x10;
      fs.writeFileSync(file, bytes);
      const { seqs, counters } = await reopenAndDrain(dir);
      assert.deepEqual(seqs, [1, 2, 3, 4, 6, 7, 8, 9, 10]);
      assert.equal(counters.corruptRecords, 1);
      assert.equal(counters.lostRecords, 1);
      assert.equal(counters.tornTails, 0);
    });
  }

  test('a flipped bit in an older segment is found at take time; later records and segments survive', async () => {
    const dir = freshDir();
    const opts = { segmentBytes: 64 * 1024, capacityBytes: 1 << 22 };
    await putEach(dir, range(1, 300), opts, 900);
    const segs = segments(dir);
    assert.ok(segs.length >= 3, `expected several segments, got ${segs.length}`);
    const first = path.join(dir, segs[0]);
    const bytes = fs.readFileSync(first);
    const recordLength = bytes.readUInt32LE(4);
    bytes[recordLength * 2 + 100] ^= 0x01; // inside record 3
    fs.writeFileSync(first, bytes);
    const { seqs, counters } = await reopenAndDrain(dir, opts);
    assert.deepEqual(
      seqs,
      range(1, 300).filter((s) => s !== 3),
    );
    assert.equal(counters.corruptRecords, 1);
    assert.equal(counters.lostRecords, 1);
  });

  test('the segment of the next commit is made at start; restarts without writes do not pile up empty ones', async () => {
    const dir = freshDir();
    const wal = await openWal(dir);
    assert.equal(segments(dir).length, 1);
    assert.equal(fs.statSync(lastSegment(dir)).size, 0, 'made before any commit');
    await putAll(wal, [numberedBatch('a', 1)]);
    await wal.stop();
    for (let i = 0; i < 3; i++) await (await openWal(dir)).stop();
    assert.deepEqual(
      segments(dir).map((f) => fs.statSync(path.join(dir, f)).size > 0),
      [true, false],
    );
    const { seqs } = await reopenAndDrain(dir);
    assert.deepEqual(seqs, [1]);
  });
});

describe('WAL checkpoint', () => {
  async function takeAndCommit(dir: string, count: number, opts: Partial<WalOptions>): Promise<void> {
    const wal = await openWal(dir, opts);
    for (let i = 0; i < count; i++) {
      const tx = wal.transaction();
      tx.begin();
      await tx.take();
      await tx.commit();
      tx.close();
    }
    await wal.stop();
  }
  const opts = { segmentBytes: 64 * 1024, capacityBytes: 1 << 20 };

  test('missing checkpoint: everything still on disk is delivered again, nothing is lost', async () => {
    const dir = freshDir();
    await putEach(dir, range(1, 20), opts);
    await takeAndCommit(dir, 10, opts);
    fs.rmSync(path.join(dir, 'checkpoint.0'));
    fs.rmSync(path.join(dir, 'checkpoint.1'));
    const { seqs } = await reopenAndDrain(dir, opts);
    assert.deepEqual(seqs, range(1, 20), 'one segment, never deleted: all of it comes back');
  });

  test('stale checkpoint: delivery resumes from the older point, in order, nothing lost', async () => {
    const dir = freshDir();
    await putEach(dir, range(1, 20), opts);
    await takeAndCommit(dir, 5, opts);
    const saved = [0, 1].map((i) => fs.readFileSync(path.join(dir, `checkpoint.${i}`)));
    await takeAndCommit(dir, 5, opts);
    saved.forEach((b, i) => fs.writeFileSync(path.join(dir, `checkpoint.${i}`), b));
    const { seqs } = await reopenAndDrain(dir, opts);
    assert.deepEqual(seqs, range(6, 20));
  });

  test('a corrupt checkpoint slot falls back to the other one', async () => {
    const dir = freshDir();
    await putEach(dir, range(1, 20), opts);
    await takeAndCommit(dir, 7, opts);
    const slots = [0, 1].map((i) => path.join(dir, `checkpoint.${i}`));
    const counter = (file: string): number => fs.readFileSync(file).readUInt32LE(4);
    const newest = slots.reduce((a, b) => (counter(a) >= counter(b) ? a : b));
    const bytes = fs.readFileSync(newest);
    bytes[10] ^= 0xff;
    fs.writeFileSync(newest, bytes);
    const { seqs, counters } = await reopenAndDrain(dir, opts);
    assert.equal(counters.checkpointFallbacks, 1);
    assert.deepEqual(seqs, range(7, 20), 'the previous checkpoint acked one fewer');
  });
});

describe('WAL segments and capacity', () => {
  test('segments roll, and are deleted once every record in them is acked', async () => {
    const dir = freshDir();
    const opts = { segmentBytes: 64 * 1024, capacityBytes: 16 << 20 };
    const wal = await openWal(dir, opts);
    await putAll(
      wal,
      range(1, 400).map((i) => numberedBatch('a', i, 1000)),
    );
    const before = segments(dir).length;
    assert.ok(before >= 6, `rolled into ${before} segments`);
    assert.deepEqual(await drain(wal), range(1, 400));
    const afterDrain = segments(dir).length;
    assert.ok(afterDrain <= 1, `only the active segment may stay, found ${afterDrain}`);
    await wal.stop();
    assert.deepEqual((await reopenAndDrain(dir, opts)).seqs, []);
  });

  test('put waits at capacity (backpressure) and goes on when takes are acked', async () => {
    const dir = freshDir();
    const wal = await openWal(dir, { capacityBytes: 256 * 1024, segmentBytes: 64 * 1024 });
    let produced = 0;
    const producer = (async () => {
      for (let i = 1; i <= 600; i++) {
        await putAll(wal, [numberedBatch('a', i, 1000)]);
        produced = i;
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(produced < 600, `producer must be held back, produced ${produced}`);
    assert.ok(wal.stats().bytes <= 256 * 1024);
    const seqs: number[] = [];
    while (seqs.length < 600) seqs.push(...(await drain(wal, 200)));
    await producer;
    assert.deepEqual(seqs, range(1, 600));
    await wal.stop();
  });

  test('a batch larger than the capacity is refused, not waited on', async () => {
    const wal = await openWal(freshDir(), { capacityBytes: 64 * 1024 });
    await assert.rejects(putAll(wal, [numberedBatch('a', 1, 100_000)]), BatchTooLargeError);
    await wal.stop();
  });
});

describe('WAL segment recycling', () => {
  const opts = { segmentBytes: 64 * 1024, capacityBytes: 16 << 20 };
  const free = (dir: string): string[] =>
    fs
      .readdirSync(dir)
      .filter((f) => f.startsWith('free-'))
      .sort();
  const inodes = (dir: string, names: string[]): number[] => names.map((f) => fs.statSync(path.join(dir, f)).ino);

  /** Rounds of 100 one-KB batches put and drained: full segments are acked and freed. */
  async function churn(dir: string, rounds: number, first = 1): Promise<number> {
    const wal = await openWal(dir, opts);
    let seq = first;
    for (let r = 0; r < rounds; r++) {
      const seqs = range(seq, seq + 99);
      await putAll(
        wal,
        seqs.map((i) => numberedBatch('a', i, 1000)),
      );
      assert.deepEqual(await drain(wal), seqs);
      seq += 100;
    }
    await wal.stop();
    return seq;
  }

  test('acked full segments become the next ones: the files are reused and their number stays bounded', async () => {
    const dir = freshDir();
    let seq = await churn(dir, 3);
    const freed = free(dir);
    assert.ok(freed.length >= 1 && freed.length <= 2, `kept ${freed.length} free files`);
    const freedInodes = inodes(dir, freed);
    seq = await churn(dir, 3, seq);
    const reused = inodes(dir, segments(dir)).concat(inodes(dir, free(dir)));
    assert.ok(
      freedInodes.some((ino) => reused.includes(ino)),
      'a freed file is a segment or free again',
    );
    assert.ok(free(dir).length <= 2);
    assert.ok(segments(dir).length <= 2);
    assert.ok(seq > 600);
  });

  test('after a stop or a crash, records behind the new ones in a reused file never come back', async () => {
    for (const crash of [false, true]) {
      const dir = freshDir();
      let seq = await churn(dir, 4);
      const freedInodes = inodes(dir, free(dir));
      assert.ok(freedInodes.length > 0);
      const wal = await openWal(dir, opts);
      const put: number[] = [];
      // 1 KB batches until the log has moved into a freed file (full of acked 1 KB records)...
      while (!inodes(dir, segments(dir)).some((ino) => freedInodes.includes(ino))) {
        await putAll(wal, [numberedBatch('a', seq, 1000)]);
        put.push(seq++);
      }
      // ... then a few small ones: the file holds far fewer new bytes than old ones.
      for (let i = 0; i < 20; i++, seq++) {
        await putAll(wal, [numberedBatch('a', seq, 100)]);
        put.push(seq);
      }
      const reused = segments(dir).find((f) => freedInodes.includes(fs.statSync(path.join(dir, f)).ino))!;
      assert.ok(fs.statSync(path.join(dir, reused)).size >= 60 * 1024, 'the old records are still there behind the new ones');
      if (!crash) await wal.stop();
      const { seqs, counters } = await reopenAndDrain(dir, opts);
      assert.deepEqual(seqs, put, crash ? 'after a crash' : 'after a stop');
      assert.equal(counters.tornTails, 0);
      assert.equal(counters.corruptRecords, 0);
      assert.equal(counters.lostRecords, 0);
      if (crash) await wal.stop(); // only closes its files: nothing of it is pending
    }
  });

  test('a free file is deleted, not reused, when the log restarts below its records (both checkpoints lost)', async () => {
    const dir = freshDir();
    await churn(dir, 3);
    assert.ok(free(dir).length > 0);
    for (const f of fs.readdirSync(dir)) if (!f.startsWith('free-')) fs.rmSync(path.join(dir, f));
    const wal = await openWal(dir, opts);
    assert.deepEqual(free(dir), []);
    await putAll(
      wal,
      range(1, 100).map((i) => numberedBatch('a', i, 1000)),
    );
    await wal.stop();
    assert.deepEqual((await reopenAndDrain(dir, opts)).seqs, range(1, 100));
  });
});

describe('WAL and the batch buffer pool', () => {
  test('a batch the cache has no room for is given back once written, and still comes back intact from disk', async () => {
    const wal = await openWal(freshDir(), { cacheBytes: 1, capacityBytes: 16 << 20 });
    const b = new BatchBuilder('a');
    const body = Buffer.alloc(100, 0x61);
    for (let i = 0; i < 1000; i++) b.append(body, 1_700_000_000_000);
    const bytes = b.finish(1);
    const copy = Buffer.from(bytes);
    while (batchPool.size > 0) batchPool.take(1); // room in the pool, whatever ran before
    await putAll(wal, [batchOf(bytes)]);
    assert.equal(batchPool.take(bytes.length).buffer, bytes.buffer, 'the buffer is free for the next batch');
    bytes.fill(0); // what the next batch built in it would do
    const tx = wal.transaction();
    tx.begin();
    assert.ok((await tx.take())?.bytes.equals(copy), 'read back from the segment, not from the buffer');
    await tx.commit();
    tx.close();
    await wal.stop();
  });
});

describe('WAL record CRC from the batch checksum', () => {
  test('crc32cCombine gives the CRC of the concatenation', () => {
    for (const [a, b] of [
      [0, 0],
      [5, 0],
      [0, 9],
      [1, 1],
      [7, 1000],
      [1000, 1 << 20],
      [3, (1 << 20) + 3],
    ]) {
      const left = Buffer.from(Array.from({ length: a }, (_, i) => (i * 31 + a) & 0xff));
      const right = Buffer.from(Array.from({ length: b }, (_, i) => (i * 17 + b) & 0xff));
      assert.equal(crc32cCombine(crc32c(left), crc32c(right), b), crc32c(Buffer.concat([left, right])), `${a} + ${b} bytes`);
    }
  });

  test('a header built from the known events CRC is the one built from the bytes, and a wrong one fails to read', () => {
    const builder = new BatchBuilder('a');
    for (let i = 0; i < 300; i++) builder.append(Buffer.from(`line ${i}`.padEnd(40 + (i % 90), '.')), 1_700_000_000_000 + i);
    const batch = batchOf(Buffer.from(builder.finish(7)));
    assert.ok(batch.eventsCrc, 'our encoder writes the events in one run');
    const meta = { lsn: 12, seq: batch.seq, count: batch.count, origin: batch.origin };
    const combined = encodeHeader(meta, batch.bytes, batch.eventsCrc);
    assert.deepEqual(combined, encodeHeader(meta, batch.bytes));
    const record = (header: Buffer): ReturnType<typeof decodeRecord> => decodeRecord(Buffer.concat([header, batch.bytes]), 0);
    assert.equal((record(combined) as { lsn: number }).lsn, 12);
    const wrong = encodeHeader(meta, batch.bytes, { ...batch.eventsCrc!, crc: batch.eventsCrc!.crc ^ 1 });
    assert.equal(record(wrong), null, 'the reader checks the bytes themselves');
  });
});
