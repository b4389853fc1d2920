/**
 * Event values in storage paths (issue 14, item 6), with real processes: an agent node with a
 * syslog relay and an HTTP source sends to a collector whose storage path holds `%{host}` and an
 * attribute (as deploy/examples/syslog-relay.flume does). Hosts and attributes that are `../..`,
 * `../../../../tmp/x`, absolute paths, NUL, 300 bytes long or not UTF-8 all land inside the
 * storage root, each event exactly once, each distinct value in a place of its own, and nothing
 * is created anywhere else.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { freePort, spawnFlume, tempDir, waitFor, type Proc } from '../harness/procs';
import { storageFiles } from '../harness/storage';

const dir = tempDir('flume-pathvals-');
const procs: Proc[] = [];
after(async () => {
  for (const p of procs.reverse()) await p.stop().catch(() => undefined);
  dir.remove();
});
const file = (...parts: string[]): string => path.join(dir.path, ...parts);

function standalone(name: string, spec: string): Proc {
  const p = spawnFlume('node', ['--standalone', '-n', name, '-c', spec, '--data', file('data', name)], { label: name });
  procs.push(p);
  return p;
}

/** Every file under `root` (hidden ones too), recursively. */
function allFiles(root: string): string[] {
  return fs
    .readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

/** An RFC 5424 message, octet-counted, whose HOSTNAME field is `host` (raw bytes). */
function syslogFrame(host: Buffer, body: string): Buffer {
  const msg = Buffer.concat([Buffer.from('<14>1 2026-12-03T10:00:00.000Z '), host, Buffer.from(` app - - - ${body}`)]);
  return Buffer.concat([Buffer.from(`${msg.length} `), msg]);
}

function sendTcp(port: number, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(data));
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}

async function postJson(port: number, events: unknown[]): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: JSON.stringify(events) });
  await res.text();
  return res.status;
}

const SYSLOG_HOSTS: Buffer[] = [
  Buffer.from('../../../../tmp/x'),
  Buffer.from('..'),
  Buffer.from('.'),
  Buffer.from('/etc/cron.d/evil'),
  Buffer.from('a\u0000b'),
  Buffer.from('h'.repeat(300)),
  Buffer.from('h'.repeat(299) + 'i'),
  Buffer.from([0xff, 0xfe, 0x2e, 0x2e, 0x2f]),
  Buffer.from([0xfd, 0xfe, 0x2e, 0x2e, 0x2f]),
  Buffer.from('web01.example.com'),
];

const HTTP_EVENTS: Array<{ host: string; kind: string }> = [
  { host: '../..', kind: '../../x' },
  { host: '/abs/path', kind: '/etc/passwd' },
  { host: 'n\u0000ul', kind: '\u0000' },
  { host: 'q'.repeat(300), kind: 'k'.repeat(300) },
  { host: 'plain', kind: '..' },
  { host: 'plain', kind: 'ok' },
];

const PER_VALUE = 3;

test(
  'hosts and attributes that are ../.., absolute, NUL, 300 bytes or not UTF-8 land inside the storage root, each event once',
  { timeout: 120_000 },
  async () => {
    const storage = file('store', 'root');
    fs.mkdirSync(storage, { recursive: true });
    const [collectorPort, syslogPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const collector = standalone(
      'coll',
      `coll : collectorSource(${collectorPort}) | collectorSink("file://${storage}/%{host}/", "ev-%{kind}-", 1000, "json") ;`,
    );
    await collector.waitForLine(/collector source listening/, 30_000);
    const agent = standalone(
      'agent',
      [
        `relay : syslogTcp(${syslogPort}) | agentE2ESink("127.0.0.1", ${collectorPort}) ;`,
        `web : http(${httpPort}) | agentE2ESink("127.0.0.1", ${collectorPort}) ;`,
      ].join('\n'),
    );
    await agent.waitForLine(/\[node\.relay\] logical node opened/, 30_000);
    await agent.waitForLine(/\[node\.web\] logical node opened/, 30_000);

    /** Body marker → which value group it belongs to. */
    const groupOf = new Map<string, string>();
    for (let h = 0; h < SYSLOG_HOSTS.length; h++) {
      const frames: Buffer[] = [];
      for (let n = 0; n < PER_VALUE; n++) {
        const body = `syslog-${h}-${n}`;
        groupOf.set(body, `syslog-${h}`);
        frames.push(syslogFrame(SYSLOG_HOSTS[h], body));
      }
      await sendTcp(syslogPort, Buffer.concat(frames));
    }
    const events = [];
    for (let e = 0; e < HTTP_EVENTS.length; e++) {
      for (let n = 0; n < PER_VALUE; n++) {
        const body = `http-${e}-${n}`;
        groupOf.set(body, `http-${e}`);
        events.push({ body, host: HTTP_EVENTS[e].host, attributes: { kind: HTTP_EVENTS[e].kind } });
      }
    }
    assert.equal(await postJson(httpPort, events), 200);

    /** Body marker → the files it was stored in (one entry per copy). */
    const where = (): Map<string, string[]> => {
      const found = new Map<string, string[]>();
      for (const f of storageFiles(storage)) {
        for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
          if (!line) continue;
          const body = (JSON.parse(line) as { body: string }).body;
          found.set(body, [...(found.get(body) ?? []), f]);
        }
      }
      return found;
    };
    await waitFor(() => where().size === groupOf.size, 60_000, `all ${groupOf.size} events in storage`);
    // A clean stop completes every file; then the storage is what a reader finds.
    await agent.stop();
    await collector.stop();

    const stored = where();
    assert.deepEqual([...stored.keys()].sort(), [...groupOf.keys()].sort());
    for (const [body, files] of stored) assert.equal(files.length, 1, `${body} stored ${files.length} times: ${files.join(', ')}`);
    assert.deepEqual(
      storageFiles(storage).filter((f) => f.endsWith('.tmp')),
      [],
      'every file completed',
    );

    // Each value group went to one file, and distinct groups to distinct files (the HTTP events with
    // host "plain" differ by attribute only, so by file name).
    const fileOfGroup = new Map<string, string>();
    for (const [body, [f]] of stored) {
      const g = groupOf.get(body)!;
      assert.equal(fileOfGroup.get(g) ?? f, f, `group ${g} split over files`);
      fileOfGroup.set(g, f);
    }
    assert.equal(new Set(fileOfGroup.values()).size, fileOfGroup.size, 'two value groups share a file');

    // Every file the test run made is under the storage root or a node's data dir; every data file's
    // name is printable ASCII without a leading dot, and within 255 bytes.
    const root = fs.realpathSync(storage) + path.sep;
    for (const f of allFiles(dir.path)) {
      const real = fs.realpathSync(f);
      assert.ok(
        real.startsWith(root) || real.startsWith(fs.realpathSync(file('data')) + path.sep),
        `file outside the storage root: ${real}`,
      );
    }
    for (const f of storageFiles(storage)) {
      for (const segment of path.relative(storage, f).split(path.sep)) {
        assert.match(segment, /^[^.][\x20-\x7e]*$/, f);
        assert.ok(Buffer.byteLength(segment) <= 255, f);
      }
    }
    // What the naive substitution would have written.
    for (const target of ['/tmp/x', '/etc/cron.d/evil', '/abs/path']) {
      const entries = fs.existsSync(target) && fs.statSync(target).isDirectory() ? fs.readdirSync(target) : [];
      assert.deepEqual(
        entries.filter((e) => e.startsWith('ev-')),
        [],
        `files written under ${target}`,
      );
    }
  },
);
