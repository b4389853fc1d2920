/** The real flume-node binary: validate, components, --oneshot, SIGTERM without loss, /status, /metrics. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { defaultRegistry } from '../../node/components';
import { freePort, httpGet, type Proc, spawnFlume, statusBase, tempDir, waitFor } from '../harness/procs';
import { storageFiles } from '../harness/storage';

const dir = tempDir('flume-node-cli-');
const procs: Proc[] = [];
after(async () => {
  await Promise.all(procs.map((p) => p.kill9()));
  dir.remove();
});

const PLUGIN = path.join(__dirname, 'fixture-plugin.js');

function node(args: string[]): Proc {
  const p = spawnFlume('node', args, { env: { FLUME_LOG_LEVEL: 'info' } });
  procs.push(p);
  return p;
}

test('validate prints every problem with its position and exits non-zero; a good spec passes', async () => {
  const bad = path.join(dir.path, 'bad.flume');
  fs.writeFileSync(
    bad,
    [
      '# two nodes, four problems',
      'a : text("/x") | { batch(0) => text("/tmp/x", yaml) } ;',
      'b : text(1, 2, 3) | [ console, escapedFile("/tmp/%Y", "f-%Q"), nosink ] ;',
      '',
    ].join('\n'),
  );
  const p = node(['validate', bad]);
  const status = await p.exited;
  assert.equal(status.code, 1);
  assert.deepEqual(p.stdout().trimEnd().split('\n'), [
    `${bad}:2:26: batch: argument n must be a positive integer`,
    `${bad}:2:47: text: argument format must be one of raw, json, avrojson, syslog, log4j, debug, found identifier yaml`,
    `${bad}:3:10: text: argument file must be a string, found number 1`,
    `${bad}:3:16: text: too many arguments: argument 3 is not expected; usage: text(file: string, maxEventBytes: number = 1048576)`,
    `${bad}:3:55: escapedFile: argument file is not a valid path template: unknown escape '%Q' (known: %{name}, %%, %t and %a %A %b %B %c %d %D %e %H %I %j %k %l %m %n %M %p %s %S %y %Y %z) at column 3 of template "f-%Q"`,
    `${bad}:3:64: unknown sink nosink; known sinks: ${defaultRegistry().names('sink').join(', ')}`,
    '6 problems found',
  ]);

  const syntax = node(['validate', '-']);
  syntax.write('a : console | ;\nb : x | [ null, ;\n');
  syntax.child.stdin!.end();
  assert.equal((await syntax.exited).code, 1);
  const lines = syntax.stdout().trimEnd().split('\n');
  assert.match(lines[0], /^stdin:1:15: /);
  assert.match(lines[1], /^stdin:2:/);

  const good = node(['validate', '-']);
  good.write('a : text("/x") | { batch(10) => roll(1000) { escapedFile("/tmp/o/%Y", "f-%{rolltag}", json) } } ;\n');
  good.child.stdin!.end();
  assert.equal((await good.exited).code, 0, good.output());
  assert.equal(good.stdout(), 'stdin: 1 logical node, no problems\n');
});

test('components prints the reference of every kind, generated from the registry', async () => {
  const p = node(['components']);
  assert.equal((await p.exited).code, 0);
  const out = p.stdout();
  for (const s of [
    '## Sources',
    '## Sinks',
    '## Decorators',
    '## Wrappers',
    '### `escapedFile(dir, file, [format], [idleMs], [maxOpenFiles])`',
    'Also: `escapedCustomDfs`.',
    '### `batch(n, [ms])`',
    '### `roll([ms])`',
    '| `n` | number | required | events per batch |',
  ]) {
    assert.ok(out.includes(s), `reference has ${s}`);
  }
});

test('--oneshot from a finite source to an escaped file writer reproduces the input exactly', async () => {
  const input = path.join(dir.path, 'input.txt');
  const lines: string[] = [];
  for (let i = 0; i < 20_000; i++) lines.push(`${i} ${'é"\\x'.repeat(i % 7)} ${'y'.repeat((i * 37) % 300)}`);
  fs.writeFileSync(input, lines.join('\n') + '\n');
  const out = path.join(dir.path, 'oneshot-out');
  const spec = `copy : text("${input}") | escapedFile("file://${out}/%Y", "out-%{host}.txt") ;`;
  const p = node(['--standalone', '-n', 'phys1', '-c', spec, '--oneshot', '--data', path.join(dir.path, 'data1')]);
  const status = await p.exited;
  assert.equal(status.code, 0, p.output());
  const files = storageFiles(out);
  assert.equal(files.length, 1, `one completed file, no .tmp: ${files.join()}`);
  assert.match(path.relative(out, files[0]), /^\d{4}\/out-[^/]+\.txt$/);
  assert.ok(fs.readFileSync(files[0]).equals(fs.readFileSync(input)), 'output equals input byte for byte');
});

test('--config-file with several logical nodes: --oneshot waits for all of them', async () => {
  const input = path.join(dir.path, 'multi-in.txt');
  fs.writeFileSync(input, 'a\nb\nc\n');
  const outA = path.join(dir.path, 'multi-a.txt');
  const outB = path.join(dir.path, 'multi-b');
  const config = path.join(dir.path, 'multi.flume');
  fs.writeFileSync(
    config,
    [
      '# two flows in one file',
      `copy : text("${input}") | text("${outA}") ;`,
      `gen  : asciisynth(5000, 50) | { intervalSampler(10) => escapedFile("${outB}", "sampled", json) } ;`,
      '',
    ].join('\n'),
  );
  const p = node(['--standalone', '--config-file', config, '--oneshot', '--data', path.join(dir.path, 'data-multi')]);
  assert.equal((await p.exited).code, 0, p.output());
  assert.equal(fs.readFileSync(outA, 'utf8'), 'a\nb\nc\n');
  const sampled = fs
    .readFileSync(path.join(outB, 'sampled'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l).body as string);
  assert.equal(sampled.length, 500);
  assert.deepEqual(
    sampled.slice(0, 2).map((b) => b.slice(0, 11)),
    ['00000000000', '00000000010'],
  );
});

test('a standalone node serves /status and /metrics, and SIGTERM loses nothing the source accepted', async () => {
  const out = path.join(dir.path, 'sigterm-out.txt');
  const countFile = path.join(dir.path, 'put-count');
  const spec = `busy : fixtureEndless("${countFile}") | { delay(2) => text("${out}") } ;`;
  const p = node([
    '--standalone',
    '-n',
    'phys2',
    '-c',
    spec,
    '--http-port',
    '0',
    '--data',
    path.join(dir.path, 'data2'),
    '--plugin',
    PLUGIN,
  ]);
  const base = await statusBase(p);
  const status = await waitFor(
    async () => {
      const s = JSON.parse((await httpGet(`${base}/status`)).body);
      return (s.nodes[0]?.counters?.driver?.sink_batches_acked ?? 0) > 5 ? s : undefined;
    },
    30_000,
    'batches delivered',
  );
  assert.equal(status.physicalNode, 'phys2');
  assert.equal(status.mode, 'standalone');
  const [n] = status.nodes;
  assert.equal(n.name, 'busy');
  assert.equal(n.state, 'ACTIVE');
  assert.equal(n.source, `fixtureEndless("${countFile}")`);
  assert.equal(n.sink, `{ delay(2) => text("${out}") }`);
  assert.equal(n.channel.kind, 'memory');
  assert.ok(n.counters.channel.events_accepted > 0);
  assert.ok(n.counters['sink.delay'].events_sent > 0);

  const metrics = await httpGet(`${base}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers['content-type'] ?? '', /text\/plain/);
  assert.match(metrics.body, /^flume_events_accepted_total\{node="busy",component="channel"\} \d+$/m);
  assert.match(metrics.body, /^flume_sink_batches_acked_total\{node="busy",component="driver"\} \d+$/m);
  assert.match(metrics.body, /^flume_channel_capacity_bytes\{node="busy"\} \d+$/m);
  assert.match(metrics.body, /^flume_node_process_resident_memory_bytes \d+/m);

  const exit = await p.stop(60_000);
  assert.equal(exit.code, 0, p.tail());
  const put = Number(fs.readFileSync(countFile, 'utf8'));
  const written = fs.readFileSync(out, 'utf8').trimEnd().split('\n');
  assert.equal(written.length, put, 'every event the source put reached the file');
  assert.deepEqual(
    written,
    Array.from({ length: put }, (_, i) => `e-${i}`),
    'in order, none twice',
  );
});

test('the site config sizes the WAL: channel.wal.capacity_bytes holds the source back, segments roll at channel.wal.segment_bytes', async () => {
  const conf = path.join(dir.path, 'small-wal.conf');
  fs.writeFileSync(conf, 'channel.wal.capacity_bytes = 2097152\nchannel.wal.segment_bytes = 262144\n');
  const nobody = await freePort();
  // 10 MB of events towards a collector that is not there: the WAL fills up to its capacity.
  const spec = `held : asciisynth(100000, 100) | agentDFOSink("127.0.0.1", ${nobody}) ;`;
  const data = path.join(dir.path, 'data-small-wal');
  const p = node(['--standalone', '-n', 'phys3', '-c', spec, '--http-port', '0', '--data', data, '--conf', conf, '--close-timeout', '500']);
  const base = await statusBase(p);
  const channel = await waitFor(
    async () => {
      const c = JSON.parse((await httpGet(`${base}/status`)).body).nodes[0]?.channel;
      return c && c.bytes > 1.5 * 1024 * 1024 ? c : undefined;
    },
    30_000,
    'the WAL filling up',
  );
  assert.equal(channel.kind, 'wal');
  assert.equal(channel.capacityBytes, 2097152);
  // The source goes on until the channel is full: wait for the segments that needs (≥ 6 of 256 KB).
  const walDir = path.join(data, 'held', 'wal');
  const walSegments = (): number[] =>
    fs
      .readdirSync(walDir)
      .filter((f) => f.endsWith('.wal') && !f.startsWith('free-'))
      .map((f) => fs.statSync(path.join(walDir, f)).size);
  const segments = await waitFor(
    () => {
      const sizes = walSegments();
      return sizes.length >= 6 ? sizes : undefined;
    },
    30_000,
    'six WAL segments',
  );
  const total = segments.reduce((a, b) => a + b, 0);
  assert.ok(total <= 2097152, `segments hold ${total} bytes, over the capacity`);
  // A segment rolls once past 256 KB; a batch of asciisynth is 1,000 events of ~110 bytes.
  assert.ok(segments.length >= 6, `segments: ${segments.join(', ')}`);
  for (const size of segments.slice(0, -1)) assert.ok(size >= 262144 && size < 262144 + 200_000, `segment of ${size} bytes`);
  assert.equal((await p.stop(30_000)).code, 0, p.tail());
});

test('option problems are all reported; --master mode runs until stopped', async () => {
  const p = node(['--oneshot', '--channel', 'disk', '--http-port', 'x']);
  assert.equal((await p.exited).code, 1);
  assert.match(p.output(), /--http-port must be a port number, not x/);
  assert.match(p.output(), /--channel must be memory or wal, not disk/);
  assert.match(p.output(), /--oneshot needs --standalone/);
  // No master answers on port 1: the node keeps trying, and stops cleanly when told to.
  const m = node(['--master', '127.0.0.1:1']);
  await waitFor(() => /Master mode started/.test(m.output()), 30_000, 'master mode to start');
  m.child.kill('SIGTERM');
  assert.equal((await m.exited).code, 0, m.output());
});

test('flume-node alone says how to start a node and runs nothing; with a role but no master it says it tries the default one', async () => {
  const alone = node([]);
  assert.equal((await alone.exited).code, 1);
  assert.match(alone.output(), /no --master, --role or --standalone given, so there is nothing to run/);
  assert.match(alone.output(), /flume-node --role agent --master HOST:35873/);
  assert.doesNotMatch(alone.output(), /Master mode started|Master did not answer/);
  const home = path.join(dir.path, 'no-master');
  const agent = node(['--role', 'agent', '-n', 'lonely', '--data', home, '--log-level', 'warn']);
  await agent.waitForLine(
    /warn No master given: trying the default one\. Set --master or node\.masters to name yours\. masters=localhost:35873/,
  );
  assert.equal((await agent.stop()).code, 0, agent.output());
});

test('a standalone node without a certificate runs local flows, and refuses to listen or connect with what to set', async () => {
  const noTls = { FLUME_LOG_LEVEL: 'info', FLUME_TLS_MODE: 'mtls' };
  const input = path.join(dir.path, 'local-input.txt');
  fs.writeFileSync(input, 'one\ntwo\n');
  const out = path.join(dir.path, 'local-out');
  const local = spawnFlume(
    'node',
    [
      '--standalone',
      '-n',
      'nocert',
      '-c',
      `l : text("${input}") | escapedFile("file://${out}", "out.txt") ;`,
      '--oneshot',
      '--data',
      path.join(dir.path, 'nocert1'),
    ],
    { env: noTls },
  );
  procs.push(local);
  assert.equal((await local.exited).code, 0, local.output());
  assert.equal(fs.readFileSync(storageFiles(out)[0], 'utf8'), 'one\ntwo\n');

  const port = await freePort();
  const listening = spawnFlume(
    'node',
    ['--standalone', '-n', 'nocert', '-c', `c : collectorSource(${port}) | null ;`, '--data', path.join(dir.path, 'nocert2')],
    {
      env: noTls,
    },
  );
  procs.push(listening);
  await listening.waitForLine(/TLS is on \(the default\) but tls\.ca.*flume-certs/, 20_000);
  await listening.stop();

  const http = spawnFlume(
    'node',
    ['--standalone', '-n', 'nocert', '-c', 'h : null | null ;', '--http-port', '0', '--data', path.join(dir.path, 'nocert3')],
    {
      env: noTls,
    },
  );
  procs.push(http);
  assert.notEqual((await http.exited).code, 0);
  assert.match(http.output(), /--http-port serves over TLS only/);
});
