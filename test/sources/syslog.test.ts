/**
 * syslogTcp and syslogUdp fed by util-linux `logger`, a real syslog client, plus malformed input
 * (binary garbage, a 10 MB line) sent while a well-behaved client goes on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { promisify } from 'node:util';
import { Priority } from '../../core/event';
import { EVENTS_REJECTED } from '../../core/metrics';
import { SyslogTcpSource } from '../../agent/sources/syslog-tcp';
import { SyslogUdpSource } from '../../agent/sources/syslog-udp';
import { SourceHarness } from './harness';

const run = promisify(execFile);

async function logger(args: string[]): Promise<void> {
  try {
    await run('logger', args, { timeout: 20_000 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('`logger` not found: apt-get install -y bsdutils (util-linux)');
    throw err;
  }
}

function attr(e: { attributes: Map<string, Buffer> }, k: string): string | undefined {
  return e.attributes.get(k)?.toString();
}

test('syslogTcp: logger RFC 5424 (newline and octet-counted) and RFC 3164 messages land parsed', async (t) => {
  const h = await SourceHarness.start((ctx) => new SyslogTcpSource(ctx, { port: 0 }));
  t.after(() => h.cleanup());
  const port = String(h.source.port);
  assert.ok(h.source.port > 0);
  const before = Date.now();
  await logger(['--tcp', '--rfc5424', '-n', '127.0.0.1', '-P', port, '-t', 'app', '-p', 'local0.info', 'msg newline']);
  await logger(['--tcp', '--rfc5424', '--octet-count', '-n', '127.0.0.1', '-P', port, '-t', 'app2', '-p', 'local1.err', 'msg octet']);
  await logger(['--tcp', '--rfc3164', '-n', '127.0.0.1', '-P', port, '-t', 'app3', '-p', 'user.warning', 'msg bsd']);
  await h.waitForEvents(3);
  await h.stop();
  const host = os.hostname();
  const byBody = new Map(h.events.map((e) => [e.body.toString(), e]));
  assert.deepEqual([...byBody.keys()].sort(), ['msg bsd', 'msg newline', 'msg octet']);

  const a = byBody.get('msg newline')!;
  assert.equal(a.host, host);
  assert.equal(a.priority, Priority.INFO);
  assert.equal(attr(a, 'syslogfacility'), '16');
  assert.equal(attr(a, 'syslogseverity'), '6');
  assert.equal(attr(a, 'syslogappname'), 'app');
  assert.match(attr(a, 'syslogsd') ?? '', /^\[timeQuality /);
  assert.ok(Math.abs(a.timestamp - before) < 60_000, `timestamp ${a.timestamp} near ${before}`);

  const b = byBody.get('msg octet')!;
  assert.equal(b.priority, Priority.ERROR);
  assert.equal(attr(b, 'syslogfacility'), '17');
  assert.equal(attr(b, 'syslogappname'), 'app2');

  const c = byBody.get('msg bsd')!;
  assert.equal(c.host, host);
  assert.equal(c.priority, Priority.WARN);
  assert.equal(attr(c, 'syslogfacility'), '1');
  assert.equal(attr(c, 'syslogappname'), 'app3');
  // RFC 3164 timestamps have a resolution of a second and no zone: local time.
  assert.ok(Math.abs(c.timestamp - before) < 60_000, `timestamp ${c.timestamp} near ${before}`);
  assert.equal(h.ctx.counters.get(EVENTS_REJECTED), 0);
});

test('syslogTcp: many lines over one logger connection, and several connections at once, all in order', async (t) => {
  const h = await SourceHarness.start((ctx) => new SyslogTcpSource(ctx, { port: 0 }));
  t.after(() => h.cleanup());
  const port = String(h.source.port);
  const n = 2000;
  const senders = [0, 1, 2].map(async (k) => {
    const lines = Array.from({ length: n }, (_, i) => `c${k} line ${i}`).join('\n') + '\n';
    const framing = k === 1 ? ['--octet-count'] : [];
    await new Promise<void>((resolve, reject) => {
      const child = execFile('logger', ['--tcp', '--rfc5424', ...framing, '-n', '127.0.0.1', '-P', port, '-t', `s${k}`], (err) =>
        err ? reject(err) : resolve(),
      );
      child.stdin!.end(lines);
    });
  });
  await Promise.all(senders);
  await h.waitForEvents(3 * n);
  await h.stop();
  assert.equal(h.eventCount, 3 * n);
  for (let k = 0; k < 3; k++) {
    const got = h.bodies().filter((b) => b.startsWith(`c${k} `));
    assert.deepEqual(
      got,
      Array.from({ length: n }, (_, i) => `c${k} line ${i}`),
    );
  }
});

test('syslogUdp: logger -d datagrams land parsed', async (t) => {
  const h = await SourceHarness.start((ctx) => new SyslogUdpSource(ctx, { port: 0 }));
  t.after(() => h.cleanup());
  const port = String(h.source.port);
  await logger(['-d', '--rfc5424', '-n', '127.0.0.1', '-P', port, '-t', 'udpapp', '-p', 'local3.debug', 'udp one']);
  await logger(['-d', '--rfc3164', '-n', '127.0.0.1', '-P', port, '-t', 'udpapp', '-p', 'local3.crit', 'udp two']);
  await h.waitForEvents(2);
  await h.stop();
  const byBody = new Map(h.events.map((e) => [e.body.toString(), e]));
  assert.equal(byBody.get('udp one')?.priority, Priority.DEBUG);
  assert.equal(byBody.get('udp one')?.host, os.hostname());
  assert.equal(attr(byBody.get('udp one')!, 'syslogfacility'), '19');
  assert.equal(byBody.get('udp two')?.priority, Priority.FATAL);
  assert.equal(attr(byBody.get('udp two')!, 'syslogappname'), 'udpapp');
});

function send(port: number, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.end(data);
    });
    s.on('error', (err) => {
      // The source may drop a connection it cannot serve; that is a clear outcome, not a failure.
      if ((err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'EPIPE') resolve();
      else reject(err);
    });
    s.on('close', () => resolve());
  });
}

test('syslogTcp: binary garbage and a 10 MB line are rejected and counted; a good client meanwhile loses nothing', async (t) => {
  const h = await SourceHarness.start((ctx) => new SyslogTcpSource(ctx, { port: 0 }));
  t.after(() => h.cleanup());
  const port = h.source.port;
  const good = (async () => {
    for (let i = 0; i < 20; i++) await logger(['--tcp', '--rfc5424', '-n', '127.0.0.1', '-P', String(port), '-t', 'good', `good ${i}`]);
  })();
  // Garbage: random bytes with no '<' at the start of any line.
  const garbage = Buffer.alloc(200_000);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) % 256;
  for (let i = 0; i < garbage.length; i++) if (garbage[i] === 0x3c) garbage[i] = 0x41;
  garbage[0] = 0x41;
  for (let i = 0; i < garbage.length; i++) if (garbage[i] === 0x0a && garbage[i + 1] === 0x3c) garbage[i + 1] = 0x41;
  const huge = Buffer.alloc(10 * 1024 * 1024 + 10, 0x78);
  Buffer.from('<14>1 - - big - - - ').copy(huge);
  huge[huge.length - 1] = 0x0a;
  const after = Buffer.from('<14>1 - - after - - - after the big line\n');
  await Promise.all([good, send(port, garbage), send(port, Buffer.concat([huge, after]))]);
  await h.waitFor(
    () => h.bodies().includes('after the big line') && h.bodies().filter((b) => b.startsWith('good ')).length === 20,
    'good messages',
  );
  await h.stop();
  assert.deepEqual(
    h.bodies().filter((b) => b.startsWith('good ')),
    Array.from({ length: 20 }, (_, i) => `good ${i}`),
  );
  assert.ok(!h.bodies().some((b) => b.length > 1024 * 1024), 'no oversized event');
  const rejected = h.ctx.counters.get(EVENTS_REJECTED);
  assert.ok(rejected >= 2, `rejected ${rejected}`);
});

test('syslogTcp: a full channel slows the senders down; nothing is dropped, order is kept', async (t) => {
  // 256 KiB of channel and a consumer that dawdles: the source must stop reading, not drop.
  const h = await SourceHarness.start((ctx) => new SyslogTcpSource(ctx, { port: 0 }), { capacityBytes: 256 * 1024, takeDelayMs: 5 });
  t.after(() => h.cleanup());
  const n = 30_000;
  const wire = Array.from({ length: n }, (_, i) => `<14>1 - host app - - - ${String(i).padStart(8, '0')} ${'z'.repeat(80)}\n`).join('');
  const sent = send(h.source.port, wire);
  // The channel fills long before the sender is done.
  await h.waitFor(() => h.channel.stats().bytes > 128 * 1024 || h.eventCount >= n, 'the channel to fill');
  await sent;
  await h.waitForEvents(n, 60_000);
  await h.stop();
  const bodies = h.bodies();
  assert.equal(bodies.length, n);
  bodies.forEach((b, i) => assert.equal(b.slice(0, 8), String(i).padStart(8, '0')));
  assert.equal(h.ctx.counters.get(EVENTS_REJECTED), 0);
});

test('syslogTcp: 50 concurrent connections, each message once and each connection in order', async (t) => {
  const h = await SourceHarness.start((ctx) => new SyslogTcpSource(ctx, { port: 0 }));
  t.after(() => h.cleanup());
  const conns = 50;
  const per = 400;
  await Promise.all(
    Array.from({ length: conns }, (_, c) => {
      const wire = Array.from({ length: per }, (_, i) => {
        const msg = `<14>1 - h${c} app - - - c${c} m${i}`;
        return c % 2 === 0 ? `${msg}\n` : `${Buffer.byteLength(msg)} ${msg}`;
      }).join('');
      return send(h.source.port, wire);
    }),
  );
  await h.waitForEvents(conns * per);
  await h.stop();
  assert.equal(h.eventCount, conns * per);
  for (let c = 0; c < conns; c++) {
    const mine = h.events.filter((e) => e.host === `h${c}`).map((e) => e.body.toString());
    assert.deepEqual(
      mine,
      Array.from({ length: per }, (_, i) => `c${c} m${i}`),
    );
  }
});
