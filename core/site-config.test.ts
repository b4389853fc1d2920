import { Command } from 'commander';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { MASTER_DEFAULTS, type MasterOptions } from '../master/master';
import { ZK_STORE_DEFAULTS } from '../master/store/zookeeper';
import { MASTER_CLIENT_DEFAULTS } from '../node/master-client';
import { LOGICAL_NODE_DEFAULTS, type LogicalNodeOptions } from '../node/logical-node';
import { ValidationError } from './errors';
import { MEMORY_CHANNEL_DEFAULTS } from './memory-channel';
import {
  loadSiteConfig,
  loadSiteConfigDetailed,
  MASTER_FLAG_KEYS,
  masterSettings,
  NODE_FLAG_KEYS,
  nodeSettings,
  SiteConfigProblem,
  siteConfigFromCommand,
  zkConnectString,
} from './site-config';
import { describeSiteConfig, envName, exampleSiteConfig, SITE_KEYS } from './site-config-schema';
import { WAL_DEFAULTS } from './wal/wal';
import { DEFAULT_HOST_ACCESS } from './host-access';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flume-site-config-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;

function confFile(text: string): string {
  const file = path.join(dir, `flume-${++n}.conf`);
  fs.writeFileSync(file, text);
  return file;
}

/** The problems of a load that must fail, as `where: detail` strings. */
function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    return err.problems.map((p) => {
      assert.ok(p instanceof SiteConfigProblem);
      return p.message;
    });
  }
  assert.fail('the site config was accepted');
}

test('no file, no environment: every default, from "default"', () => {
  const { config, origins } = loadSiteConfigDetailed({ env: {} });
  assert.equal(config['master.port'], 35873);
  assert.equal(config['master.http_port'], 35871);
  assert.deepEqual(config['node.masters'], ['localhost:35873']);
  assert.equal(config['zookeeper.connect'], '');
  assert.equal(config['node.http_port'], undefined, 'no node HTTP server unless asked for');
  assert.equal(config['node.name'], undefined);
  assert.equal(zkConnectString(config), undefined);
  for (const key of SITE_KEYS) assert.equal(origins[key], 'default');
});

test('the defaults agree with the ones the master and node runtimes use', () => {
  const c = loadSiteConfig({ env: {} });
  assert.equal(c['master.port'], MASTER_DEFAULTS.port);
  assert.equal(c['master.http_port'], MASTER_DEFAULTS.httpPort);
  assert.equal(c['master.host'], MASTER_DEFAULTS.host);
  assert.equal(c['master.data_dir'], MASTER_DEFAULTS.data);
  assert.equal(c['master.heartbeat_ms'], MASTER_DEFAULTS.heartbeatMs);
  assert.equal(c['master.lost_after'], MASTER_DEFAULTS.lostAfter);
  assert.equal(c['zookeeper.session_timeout_ms'], ZK_STORE_DEFAULTS.sessionTimeoutMs);
  assert.equal(c['node.heartbeat_ms'], MASTER_CLIENT_DEFAULTS.heartbeatMs);
  assert.equal(c['node.channel'], LOGICAL_NODE_DEFAULTS.channel);
  assert.equal(c['node.close_timeout_ms'], LOGICAL_NODE_DEFAULTS.closeTimeoutMs);
  assert.equal(c['channel.memory.capacity_bytes'], MEMORY_CHANNEL_DEFAULTS.capacityBytes);
  assert.equal(c['channel.wal.capacity_bytes'], WAL_DEFAULTS.capacityBytes);
  assert.equal(c['channel.wal.segment_bytes'], WAL_DEFAULTS.segmentBytes);
  assert.deepEqual({ allowExec: c['node.allow_exec'], readPaths: c['node.read_paths'] }, DEFAULT_HOST_ACCESS);
});

test('node.allow_exec takes false, true or a JSON list of command lines; node.read_paths absolute paths', () => {
  assert.equal(loadSiteConfig({ env: { FLUME_NODE_ALLOW_EXEC: 'true' } })['node.allow_exec'], true);
  assert.deepEqual(loadSiteConfig({ env: { FLUME_NODE_ALLOW_EXEC: '["uptime", "df -k, -h"]' } })['node.allow_exec'], [
    'uptime',
    'df -k, -h',
  ]);
  assert.deepEqual(loadSiteConfig({ env: { FLUME_NODE_READ_PATHS: '/var/log, /srv/logs' } })['node.read_paths'], ['/var/log', '/srv/logs']);
  assert.throws(
    () => loadSiteConfig({ env: { FLUME_NODE_ALLOW_EXEC: 'yes', FLUME_NODE_READ_PATHS: 'var/log' } }),
    (e: unknown) =>
      e instanceof ValidationError &&
      /node\.allow_exec: expected false, true or a JSON list/.test(e.message) &&
      /node\.read_paths: expected absolute paths, not "var\/log"/.test(e.message),
  );
});

test('a file sets typed values; comments, blank lines and inline comments are ignored', () => {
  const file = confFile(
    [
      '# masters over ZooKeeper',
      '',
      'master.port = 4000',
      '  zookeeper.connect = zk1:2181, zk2:2181,[::1]:2181   # three servers',
      'zookeeper.chroot = /flume/prod',
      'node.masters=m1:4000,m2:4000',
      'channel.wal.capacity_bytes = 2g',
      'channel.memory.capacity_bytes = 65536',
      'node.role = collector',
      'node.name = coll-01',
    ].join('\n'),
  );
  const { config, origins } = loadSiteConfigDetailed({ file, env: {} });
  assert.equal(config['master.port'], 4000);
  assert.equal(origins['master.port'], `${file}:3`);
  assert.equal(config['zookeeper.connect'], 'zk1:2181,zk2:2181,[::1]:2181');
  assert.equal(zkConnectString(config), 'zk1:2181,zk2:2181,[::1]:2181/flume/prod');
  assert.deepEqual(config['node.masters'], ['m1:4000', 'm2:4000']);
  assert.equal(config['channel.wal.capacity_bytes'], 2 * 1024 ** 3);
  assert.equal(config['channel.memory.capacity_bytes'], 65536);
  assert.equal(config['node.role'], 'collector');
  assert.equal(config['node.name'], 'coll-01');
  assert.equal(config['master.http_port'], 35871, 'keys not in the file keep their default');
});

test('every problem of a file is reported at once, each with its line', () => {
  const file = confFile(
    [
      'master.prot = 35873', // 1: unknown, near master.port
      'master.port = 70000', // 2: out of range
      'master.heartbeat_ms = fast', // 3: wrong type
      'node.masters = m1:35873,m2,m1:35873', // 4: malformed list + duplicate entry
      'this line has no equals sign', // 5: malformed line
      'node.role = router', // 6: not one of
      'master.http_port = 8080',
      'master.http_port = 8081', // 8: duplicate key
      'zookeeper.chroot = flume/', // 9: not a path
      'channel.wal.capacity_bytes = lots', // 10: not a size
      'frobnicate = 1', // 11: unknown, nothing near
    ].join('\n'),
  );
  const problems = problemsOf(() => loadSiteConfig({ file, env: {} }));
  const expect: [number, RegExp][] = [
    [1, /unknown key "master\.prot"; did you mean master\.port\?/],
    [2, /master\.port: 70000 is out of range \(0 to 65535\)/],
    [3, /master\.heartbeat_ms: expected an integer, not "fast"/],
    [4, /node\.masters: malformed host:port list: "m2" is not host:port; m1:35873 is listed twice/],
    [5, /expected "key = value"/],
    [6, /node\.role: expected one of agent, collector, not "router"/],
    [8, /master\.http_port is set twice \(first on line 7\)/],
    [9, /zookeeper\.chroot: expected a path like \/flume\/prod/],
    [10, /channel\.wal\.capacity_bytes: expected a size/],
    [11, /unknown key "frobnicate"; known keys: master\.host, /],
  ];
  assert.equal(problems.length, expect.length, problems.join('\n'));
  assert.deepEqual(
    problems.map((p) => Number(p.slice(file.length + 1).split(':')[0])),
    expect.map(([line]) => line),
    'in line order',
  );
  for (const [line, re] of expect) {
    assert.ok(
      problems.some((p) => p.startsWith(`${file}:${line}: `) && re.test(p)),
      `line ${line}: ${re} not in\n${problems.join('\n')}`,
    );
  }
});

test('zookeeper.connect takes a /chroot suffix (as --zk does), but not two chroots', () => {
  const c = loadSiteConfig({ env: { FLUME_ZOOKEEPER_CONNECT: 'zk1:2181,zk2:2181/flume/test' } });
  assert.equal(zkConnectString(c), 'zk1:2181,zk2:2181/flume/test');
  const problems = problemsOf(() => loadSiteConfig({ env: { FLUME_ZOOKEEPER_CONNECT: 'zk1:2181/a', FLUME_ZOOKEEPER_CHROOT: '/b' } }));
  assert.equal(problems.length, 1);
  assert.match(
    problems[0],
    /^env FLUME_ZOOKEEPER_CHROOT: zookeeper\.chroot is set and zookeeper\.connect \(from env FLUME_ZOOKEEPER_CONNECT\) has a chroot too/,
  );
  assert.match(problemsOf(() => loadSiteConfig({ env: { FLUME_ZOOKEEPER_CONNECT: 'zk1:2181/' } }))[0], /chroot "\/" of a connect string/);
});

test('a port out of range in a list and an empty entry are reported', () => {
  const problems = problemsOf(() => loadSiteConfig({ env: { FLUME_ZOOKEEPER_CONNECT: 'zk1:0,,zk2:99999' } }));
  assert.equal(problems.length, 1);
  assert.match(problems[0], /^env FLUME_ZOOKEEPER_CONNECT: .*port 0 of "zk1:0" is out of range.*an empty entry.*port 99999/);
});

test('precedence: defaults < file < environment < flags', () => {
  const file = confFile('master.port = 1001\nmaster.http_port = 1002\nnode.masters = f:1\n');
  const env = { FLUME_MASTER_HTTP_PORT: '2002', FLUME_NODE_MASTERS: 'e:2', FLUME_LOG_LEVEL: 'debug', HOME: '/x' };
  const { config, origins } = loadSiteConfigDetailed({ file, env, overrides: { 'node.masters': 'c:3,c:4' } });
  assert.equal(config['master.port'], 1001);
  assert.equal(origins['master.port'], `${file}:1`);
  assert.equal(config['master.http_port'], 2002);
  assert.equal(origins['master.http_port'], 'env FLUME_MASTER_HTTP_PORT');
  assert.deepEqual(config['node.masters'], ['c:3', 'c:4']);
  assert.equal(origins['node.masters'], '--node.masters');
  assert.equal(config['log.level'], 'debug');
  assert.equal(config['node.heartbeat_ms'], 1000);
});

test('the file can come from FLUME_CONF; a missing file is a problem, not an empty config', () => {
  const file = confFile('node.http_port = 0\n');
  assert.equal(loadSiteConfig({ env: { FLUME_CONF: file } })['node.http_port'], 0);
  const problems = problemsOf(() => loadSiteConfig({ env: { FLUME_CONF: path.join(dir, 'missing.conf') } }));
  assert.equal(problems.length, 1);
  assert.match(problems[0], /missing\.conf: cannot read the site config/);
});

test('environment and flag values are checked like the file, all problems together', () => {
  const file = confFile('master.port = x\n');
  const problems = problemsOf(() =>
    loadSiteConfig({
      file,
      env: { FLUME_NODE_HTTP_PORT: '-1', FLUME_NODE_MASTRES: 'a:1' },
      overrides: { 'master.lost_after': '0', 'node.chanel': 'wal' } as Record<string, string>,
    }),
  );
  assert.equal(problems.length, 5, problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith(`${file}:1: master.port: expected an integer`)));
  assert.ok(problems.some((p) => p.startsWith('env FLUME_NODE_HTTP_PORT: node.http_port: -1 is out of range')));
  assert.ok(
    problems.some((p) => /^env FLUME_NODE_MASTRES: unknown variable FLUME_NODE_MASTRES; did you mean FLUME_NODE_MASTERS\?/.test(p)),
  );
  assert.ok(problems.some((p) => p.startsWith('--master.lost_after: master.lost_after: 0 is out of range (1 to 1000)')));
  assert.ok(problems.some((p) => /^--node\.chanel: unknown key "node\.chanel"; did you mean node\.channel\?/.test(p)));
});

test('unrelated FLUME_ variables are left alone', () => {
  assert.equal(loadSiteConfig({ env: { FLUME_HA_DIR: '/tmp/x', FLUME_TEST_CONCURRENCY: '2' } })['master.port'], 35873);
});

test('a WAL segment larger than a quarter of the capacity is refused, naming both origins', () => {
  const file = confFile('channel.wal.capacity_bytes = 32m\n');
  const problems = problemsOf(() => loadSiteConfig({ file, env: {} }));
  assert.equal(problems.length, 1);
  assert.match(
    problems[0],
    /^default: channel\.wal\.segment_bytes \(16777216\) must be at most a quarter of channel\.wal\.capacity_bytes \(33554432, from .*:1\)/,
  );
});

test('siteConfigFromCommand: typed flags override, commander defaults do not', async () => {
  const file = confFile('master.port = 1001\nmaster.http_port = 1002\n');
  const parse = (argv: string[]): Command => {
    const cmd = new Command('flume-master')
      .exitOverride()
      .option('--conf <file>')
      .option('--port <port>', 'gRPC port', '35873')
      .option('--http-port <port>', 'HTTP port', '35871');
    cmd.parse(argv, { from: 'user' });
    return cmd;
  };
  const flags = { port: 'master.port', httpPort: 'master.http_port' } as const;
  const a = siteConfigFromCommand(parse(['--conf', file]), flags, { env: {} });
  assert.equal(a['master.port'], 1001, 'the default of --port does not hide the file');
  assert.equal(a['master.http_port'], 1002);
  const b = siteConfigFromCommand(parse(['--conf', file, '--http-port', '9']), flags, { env: { FLUME_MASTER_HTTP_PORT: '8' } });
  assert.equal(b['master.http_port'], 9);
  const problems = problemsOf(() => siteConfigFromCommand(parse(['--http-port', 'nine']), flags, { env: {} }));
  assert.deepEqual(problems, ['--http-port: master.http_port: expected an integer, not "nine"']);
});

test('environment names are derived mechanically and unique', () => {
  assert.equal(envName('master.http_port'), 'FLUME_MASTER_HTTP_PORT');
  assert.equal(envName('channel.wal.capacity_bytes'), 'FLUME_CHANNEL_WAL_CAPACITY_BYTES');
  assert.equal(new Set(SITE_KEYS.map(envName)).size, SITE_KEYS.length);
});

test('the reference lists every key with its environment name; the example parses to the defaults', () => {
  const doc = describeSiteConfig();
  for (const key of SITE_KEYS) assert.ok(doc.includes(`| \`${key}\` | \`${envName(key)}\` |`), key);
  const file = confFile(exampleSiteConfig());
  const { config, origins } = loadSiteConfigDetailed({ file, env: {} });
  assert.deepEqual(config, loadSiteConfig({ env: {} }));
  const fromFile = SITE_KEYS.filter((k) => origins[k] !== 'default');
  const commentedOut = [
    'master.id',
    'zookeeper.chroot',
    'node.name',
    'node.data_dir',
    'node.write_paths',
    'node.http_port',
    'tls.ca',
    'tls.cert',
    'tls.key',
    'tls.admin_token_file',
    'tls.dir',
  ];
  assert.deepEqual(fromFile.sort(), SITE_KEYS.filter((k) => !commentedOut.includes(k)).sort());
  // Each commented-out key is there to uncomment.
  for (const key of commentedOut) assert.ok(exampleSiteConfig().includes(`\n# ${key} =\n`), key);
});

test("masterSettings and nodeSettings fit the runtimes' option types; every flag names a key", () => {
  const file = confFile('zookeeper.connect = zk1:2181\nzookeeper.chroot = /f\nnode.channel = wal\nnode.http_port = 35862\n');
  const c = loadSiteConfig({ file, env: {} });
  const { logLevel, ...rest } = masterSettings(c);
  const master: MasterOptions = rest; // compile-time check: the fields and types startMaster takes
  assert.equal(master.zk, 'zk1:2181/f');
  assert.equal(logLevel, 'info');
  const n = nodeSettings(c);
  const node: Partial<LogicalNodeOptions> = {
    channel: n.channel,
    walCapacityBytes: n.walCapacityBytes,
    walSegmentBytes: n.walSegmentBytes,
    memoryCapacityBytes: n.memoryCapacityBytes,
    closeTimeoutMs: n.closeTimeoutMs,
  };
  assert.deepEqual(node, {
    channel: 'wal',
    walCapacityBytes: 1024 ** 3,
    walSegmentBytes: WAL_DEFAULTS.segmentBytes,
    memoryCapacityBytes: 64 * 1024 ** 2,
    closeTimeoutMs: 30_000,
  });
  assert.equal(n.httpPort, 35862);
  for (const key of [...Object.values(MASTER_FLAG_KEYS), ...Object.values(NODE_FLAG_KEYS)]) assert.ok(SITE_KEYS.includes(key), key);
});
