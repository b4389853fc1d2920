import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GcPacer } from './gc-pace';

// What pacing buys is measured by the agent-backlog bench (agent peak RSS); this checks that the
// run-time `--expose-gc` still works on this Node, so pacing is not silently off.
test('a pacer can ask V8 for collections, and the process gets no global gc from it', () => {
  const pacer = new GcPacer(4 * 1024 * 1024);
  pacer.sent(2 * 1024 * 1024);
  pacer.sent(2 * 1024 * 1024);
  assert.equal(GcPacer.available, true);
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
});
