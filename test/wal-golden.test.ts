/**
 * The golden WAL fixture (test/fixtures/wal-golden, written by its generate.ts): segment and
 * checkpoint files from an earlier version, which this version must read back exactly. A failure
 * here means the on-disk format or recovery changed: a WAL on an operator's disk would not come
 * back as it was left. Fix the code, or change the format on purpose with a migration and new cases.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { decodeCheckpoint, decodeRecord, parseFreeName, parseSegmentName } from '../core/wal/format';
import { openWal } from '../core/wal/wal';
import type { Expected, ExpectedRecord } from './fixtures/wal-golden/generate';

const GOLDEN = path.join(__dirname, '..', '..', 'test', 'fixtures', 'wal-golden');
const CASES = fs
  .readdirSync(GOLDEN)
  .filter((f) => fs.statSync(path.join(GOLDEN, f)).isDirectory())
  .sort();
const RECOVERY_COUNTERS = ['tornTails', 'tornBytes', 'corruptRecords', 'lostRecords', 'checkpointFallbacks'] as const;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-golden-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const load = (name: string): Expected => JSON.parse(fs.readFileSync(path.join(GOLDEN, name, 'expected.json'), 'utf8'));

function copyCase(name: string): string {
  const dir = path.join(tmp, name);
  fs.cpSync(path.join(GOLDEN, name), dir, { recursive: true });
  fs.rmSync(path.join(dir, 'expected.json'));
  return dir;
}

test('the golden fixture has its cases', () => {
  assert.deepEqual(CASES, ['acked-partly', 'first-segment-acked', 'torn-tail']);
});

for (const name of CASES) {
  describe(`golden WAL ${name}`, () => {
    const expected = load(name);
    const byLsn = new Map<number, ExpectedRecord>(expected.records.map((r) => [r.lsn, r]));

    test('its files decode, record by record and checkpoint, as they were written', () => {
      const dir = path.join(GOLDEN, name);
      const files = fs
        .readdirSync(dir)
        .filter((f) => parseSegmentName(f) !== null || parseFreeName(f) !== null)
        .sort();
      assert.deepEqual(files, expected.files);

      const slots = [0, 1].map((s) => decodeCheckpoint(fs.readFileSync(path.join(dir, `checkpoint.${s}`))));
      assert.ok(slots[0] && slots[1], 'both checkpoint slots decode');
      const best = slots[0].counter > slots[1].counter ? slots[0] : slots[1];
      // The done list is a set: its order on disk is the order acks came in.
      assert.deepEqual({ ...best, done: [...best.done].sort((a, b) => a - b) }, expected.checkpoint);

      // Free files hold the records of the segments they were, and come first (their marks are
      // below every segment's first lsn here).
      const decoded: ExpectedRecord[] = [];
      let tail = 0;
      for (const f of files) {
        const buf = fs.readFileSync(path.join(dir, f));
        let off = 0;
        for (;;) {
          const r = decodeRecord(buf, off);
          if (r === null || r === 'short') {
            tail += buf.length - off;
            break;
          }
          decoded.push({ lsn: r.lsn, origin: r.origin, seq: r.seq, count: r.count, bytes: r.payload.length, sha256: sha256(r.payload) });
          off += r.length;
        }
      }
      const whole = expected.records.slice(0, decoded.length);
      assert.deepEqual(decoded, whole);
      assert.equal(tail, expected.counters.tornBytes ?? 0, 'bytes after the last whole record');
    });

    test('the WAL opens it and hands out exactly the unacked batches, in order, byte for byte', async () => {
      const dir = copyCase(name);
      const wal = await openWal(dir, expected.options);
      try {
        for (const c of RECOVERY_COUNTERS) assert.equal(wal.counters[c], expected.counters[c] ?? 0, c);
        assert.equal(wal.stats().batches, expected.unacked.length);
        const tx = wal.transaction();
        tx.begin();
        for (const lsn of expected.unacked) {
          const b = await tx.take(0);
          assert.ok(b, `lsn ${lsn} is handed out`);
          const want = byLsn.get(lsn)!;
          assert.deepEqual(
            { origin: b.origin, seq: b.seq, count: b.count, bytes: b.bytes.length, sha256: sha256(b.bytes) },
            { origin: want.origin, seq: want.seq, count: want.count, bytes: want.bytes, sha256: want.sha256 },
            `lsn ${lsn}`,
          );
        }
        assert.equal(await tx.take(0), null, 'nothing acked comes back');
        await tx.commit();
        tx.close();
      } finally {
        await wal.stop();
      }
      const reopened = await openWal(dir, expected.options);
      try {
        assert.equal(reopened.stats().batches, 0, 'acked after reopening, gone');
      } finally {
        await reopened.stop();
      }
    });

    test('a batch put after opening it follows the old ones and survives a restart', async () => {
      const dir = copyCase(name);
      const wal = await openWal(dir, expected.options);
      const first = expected.records[0];
      const payload = Buffer.from('a batch written by this version');
      try {
        const tx = wal.transaction();
        tx.begin();
        await tx.put({ origin: 'now', seq: 1, count: 1, bytes: payload });
        await tx.commit();
        tx.close();
      } finally {
        await wal.stop();
      }
      const reopened = await openWal(dir, expected.options);
      try {
        const seqs: number[] = [];
        const tx = reopened.transaction();
        tx.begin();
        for (let b = await tx.take(0); b; b = await tx.take(0)) seqs.push(b.origin === 'now' ? -1 : b.seq);
        tx.rollback();
        tx.close();
        assert.deepEqual(seqs, [...expected.unacked.map((l) => byLsn.get(l)!.seq), -1]);
        assert.ok(first, 'the case has records');
      } finally {
        await reopened.stop();
      }
    });
  });
}
