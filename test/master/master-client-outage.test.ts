/**
 * What a node logs while no master answers (core/failure-streak): one line at the first
 * failure, naming the master and the next one, then a summary now and then ("Master did not
 * answer for N s, M attempts."), then one line when a master answers. Never a line per attempt,
 * never the same master named twice in one line.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import winston from 'winston';
import { silentLogger } from '../../core/logger';
import { MASTER_DEFAULTS, startMaster } from '../../master/master';
import { MasterClient } from '../../node/master-client';
import { freePort, tempDir, waitFor } from '../harness/procs';

test('an outage of every master is logged once per master, then summarised, then its end in one line', async () => {
  const lines: Array<{ level: string; message: string; master?: string; attempts?: number; unreachableMs?: number }> = [];
  const logger = winston.createLogger({
    level: 'info',
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          objectMode: true,
          write: (info, _e, cb) => {
            lines.push(info);
            cb();
          },
        }),
      }),
    ],
  });
  const [a, b] = [await freePort(), await freePort()];
  const client = new MasterClient({
    masters: [`127.0.0.1:${a}`, `127.0.0.1:${b}`],
    physical: 'lonely',
    role: 'agent',
    logger,
    callTimeoutMs: 300,
    summaryMs: 1_500,
  });
  const dir = tempDir('flume-master-outage-');
  client.start();
  let master: Awaited<ReturnType<typeof startMaster>> | undefined;
  try {
    await waitFor(() => lines.some((l) => /^Master did not answer for \d+ s, \d+ attempts\.$/.test(l.message)), 15_000, 'a summary line');
    const first = lines.filter((l) => l.message === 'Master did not answer; retrying.');
    assert.equal(first.length, 1, 'one line for the first failure');
    const named = first[0] as unknown as { master: string; next: string };
    assert.notEqual(named.master, named.next, 'the next master is another one');
    assert.deepEqual([named.master, named.next].sort(), [`127.0.0.1:${a}`, `127.0.0.1:${b}`].sort());
    const attemptsSoFar = lines.filter((l) => l.level === 'warn').length;
    assert.ok(attemptsSoFar <= 3, `a handful of lines, not one per attempt: ${attemptsSoFar}`);

    master = await startMaster({ ...MASTER_DEFAULTS, port: b, httpPort: 0, host: '127.0.0.1', data: dir.path }, silentLogger());
    const back = await waitFor(
      () => lines.find((l) => l.message.startsWith('Talking to master again after')),
      30_000,
      'the client to reach the master',
    );
    assert.equal(back.master, `127.0.0.1:${b}`);
    assert.match(back.message, /after \d+ s, \d+ failed attempts\.$/);
    assert.equal(lines.filter((l) => l.message === 'Master did not answer; retrying.').length, 1, 'still one first-failure line');
  } finally {
    await client.stop();
    await master?.stop();
    dir.remove();
  }
});
