/** The control-plane shapes in proto/messages.ts are generated from proto/flume.proto: they cannot drift. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { generateMessages, SOURCE_DIR } from '../proto/gen-messages';

test('proto/messages.ts matches proto/flume.proto (regenerate: node dist/proto/gen-messages.js)', () => {
  assert.equal(fs.readFileSync(path.join(SOURCE_DIR, 'messages.ts'), 'utf8'), generateMessages());
});
