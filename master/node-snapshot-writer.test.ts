import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../core/logger';
import { NodeSnapshotWriter, SLICE } from './node-snapshot-writer';
import type { NodeRecord } from './nodes';
import { loadNodeSnapshot } from './store/node-snapshot';

const record = (i: number): NodeRecord => ({
  physical: `n${i}`,
  host: `h${i}`,
  role: i % 2 ? 'agent' : 'collector',
  state: 3,
  lastSeen: 1_700_000_000_000 + i,
  startedAt: 1_600_000_000_000,
  logical: [
    { name: `n${i}`, state: 3, configVersion: i, message: i % 7 ? '' : 'a "quoted" message', ...(i % 5 ? {} : { listen: `h${i}:35853` }) },
  ],
});

test('a save written in slices reads back as every record, the format loadNodeSnapshot reads', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-snapshot-'));
  try {
    const records = new Map<string, NodeRecord>();
    for (let i = 0; i < 3 * SLICE + 17; i++) records.set(`n${i}`, record(i));
    const writer = new NodeSnapshotWriter(dir, () => records.values(), silentLogger());
    const first = writer.save();
    assert.equal(writer.save(), first, 'a save asked for while one runs joins it');
    // The event loop keeps turning during a save: a node that appears meanwhile breaks nothing.
    setImmediate(() => records.set('late', record(99_999)));
    await first;
    const loaded = loadNodeSnapshot(dir);
    const expected = [...records.values()].filter((r) => loaded.some((l) => l.physical === r.physical));
    assert.ok(loaded.length >= 3 * SLICE + 17);
    assert.deepEqual(
      loaded.filter((r) => r.physical !== 'late'),
      [...records.values()].filter((r) => r.physical !== 'late'),
    );
    assert.deepEqual(loaded, expected);
    await writer.save();
    assert.deepEqual(loadNodeSnapshot(dir), [...records.values()], 'the next save has the late node too');
    await writer.close();
    assert.deepEqual(fs.readdirSync(dir), ['nodes.json'], 'no temp file left');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a save that cannot write is reported, not thrown; close() waits for the save in progress', async () => {
  const warnings: string[] = [];
  const logger = silentLogger();
  logger.warn = ((msg: string) => {
    warnings.push(msg);
    return logger;
  }) as typeof logger.warn;
  const writer = new NodeSnapshotWriter(path.join(os.tmpdir(), 'flume-no-such-dir', String(process.pid)), () => [record(1)], logger);
  const saving = writer.save();
  await writer.close();
  await saving;
  assert.deepEqual(warnings, ['Could not save the node table.']);
  await writer.save();
  assert.equal(warnings.length, 1, 'closed: no more saves');
});
