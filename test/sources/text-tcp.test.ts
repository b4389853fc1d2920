/** textTcp with concurrent clients, one of them sending a 10 MB line; and every source registers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { EVENTS_REJECTED } from '../../core/metrics';
import { Registry } from '../../core/registry';
import { parseSpec } from '../../core/spec/parser';
import { SOURCES } from '../../agent/sources';
import { TextTcpSource } from '../../agent/sources/text-tcp';
import { SourceHarness } from './harness';

function send(port: number, parts: Array<Buffer | string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', async () => {
      for (const p of parts) {
        if (!s.write(p)) await new Promise((r) => s.once('drain', r));
      }
      s.end();
    });
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}

test('textTcp: concurrent clients each keep their order; a 10 MB line is dropped and counted, its sender goes on', async (t) => {
  const h = await SourceHarness.start((ctx) => new TextTcpSource(ctx, { port: 0 }));
  t.after(() => h.cleanup());
  const port = h.source.port;
  const n = 20_000;
  const client = (k: number): Array<string> => {
    const out: string[] = [];
    for (let i = 0; i < n; i += 1000) out.push(Array.from({ length: 1000 }, (_, j) => `c${k} ${i + j}\r\n`).join(''));
    return out;
  };
  const huge = Buffer.alloc(10 * 1024 * 1024, 0x79);
  await Promise.all([
    send(port, client(0)),
    send(port, client(1)),
    send(port, ['before\n', huge, huge.subarray(0, 10), '\nafter\nlast without newline']),
  ]);
  await h.waitForEvents(2 * n + 3);
  await h.stop();
  for (const k of [0, 1]) {
    assert.deepEqual(
      h.bodies().filter((b) => b.startsWith(`c${k} `)),
      Array.from({ length: n }, (_, i) => `c${k} ${i}`),
    );
  }
  assert.deepEqual(
    h.bodies().filter((b) => !b.startsWith('c')),
    ['before', 'after', 'last without newline'],
  );
  assert.equal(h.ctx.counters.get(EVENTS_REJECTED), 1);
  assert.equal(h.events[0].host, 'test-host');
});

test('sources: every def registers, and each resolves its arguments from a spec', () => {
  const registry = new Registry().registerAll(SOURCES);
  const specs = [
    'n : syslogTcp(5140) | null ;',
    'n : syslogUdp(5140, "0.0.0.0") | null ;',
    'n : http(8080, maxBodyBytes=1000) | null ;',
    'n : tcpText(9999) | null ;',
    'n : tail("/var/log/app.log", true) | null ;',
    'n : tailDir("/var/log", "\\\\.log$") | null ;',
    'n : tailDir("/var/log", ".*", true) | null ;',
    'n : multitail("/a", "/b") | null ;',
    'n : exec("ls", true, true, 1000) | null ;',
    'n : nonlsynth(10, 10) | null ;',
    'n : exec("ls") | null ;',
    'n : execStream("ls") | null ;',
    'n : execPeriodic("date", 1000) | null ;',
    'n : spooldir("/spool") | null ;',
    'n : text("/etc/hosts") | null ;',
    'n : console | null ;',
    'n : asciisynth(100, 10) | null ;',
    'n : synth(100) | null ;',
  ];
  for (const text of specs) {
    const node = parseSpec(text)[0];
    const def = registry.find('source', node.source);
    assert.ok(!(def instanceof Error), `${text}: ${String(def)}`);
    const args = registry.resolveArgs(def, node.source);
    assert.ok(!Array.isArray(args), `${text}: ${Array.isArray(args) ? args.map((p) => p.message).join('; ') : ''}`);
  }
  const bad = parseSpec('n : syslogTcp(70000) | null ;')[0];
  const def = registry.find('source', bad.source);
  assert.ok(!(def instanceof Error));
  const problems = registry.resolveArgs(def, bad.source);
  assert.ok(Array.isArray(problems) && /port number/.test(problems[0].message));
});
