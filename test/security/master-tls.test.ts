/**
 * A real flume-master with the default setup (mutual TLS, certificates from the run's CA): who
 * can submit admin commands, read configs and status, and heartbeat as a node; what the HTTP pages
 * answer; that every refusal is counted in /metrics; and that running without TLS must be asked
 * for and warns.
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { after, before, test } from 'node:test';
import { channelCredentialsFor, MASTER_ROLES, type PeerRole, personCredentials, TlsContext } from '../../core/tls';
import { serviceDefinition } from '../../proto';
import { httpGet, spawnFlume, tempDir } from '../harness/procs';
import { TestCerts, testsInsecure } from '../harness/tls';
import { renew } from '../../deploy/certs';
import { AdminClient, type MasterProc, startMasterProc } from '../master/helpers';
import { describeRun, runShell } from '../shell/helpers';

const certs = TestCerts.shared();
const token = certs.adminToken();
let master: MasterProc;
let dir: ReturnType<typeof tempDir>;

before(async () => {
  dir = tempDir('flume-master-tls-');
  master = await startMasterProc(['--data', dir.path], false, { ...certs.env('master', 'master'), FLUME_TLS_ADMIN_TOKEN_FILE: token.file });
});

after(async () => {
  await master?.proc.stop();
  dir?.remove();
});

const as = (role: PeerRole, name: string): grpc.ChannelCredentials =>
  channelCredentialsFor(TlsContext.load(certs.files(role, name)), MASTER_ROLES);
const ca = (): Buffer => fs.readFileSync(certs.files('master', 'master').ca);
const noCertificate = (): grpc.ChannelCredentials => grpc.credentials.createSsl(ca(), null, null, { checkServerIdentity: () => undefined });
const foreign = (): grpc.ChannelCredentials => {
  const f = TestCerts.foreign().files('admin', 'root');
  return grpc.credentials.createSsl(ca(), fs.readFileSync(f.key), fs.readFileSync(f.cert), { checkServerIdentity: () => undefined });
};

async function refusal(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    return { code: (err as grpc.ServiceError).code, details: (err as grpc.ServiceError).details };
  }
  return { code: grpc.status.OK, details: 'accepted' };
}

type Unary = (req: object, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;
const MasterCtor = grpc.makeGenericClientConstructor(serviceDefinition('Master'), 'Master') as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
) => grpc.Client & Record<string, Unary>;

function heartbeat(credentials: grpc.ChannelCredentials, physical: string): Promise<unknown> {
  const client = new MasterCtor(master.address, credentials);
  return new Promise<unknown>((resolve, reject) => {
    client.Heartbeat.call(
      client,
      { physical, host: 'h', role: 'collector', startedAt: Date.now(), logical: [] },
      { deadline: Date.now() + 10_000 },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  }).finally(() => client.close());
}

function skipIfInsecure(): boolean {
  return testsInsecure();
}

test(
  'admin commands need an admin certificate (or the admin token); without one, from another CA, or with a node or read-only certificate they are refused',
  { skip: skipIfInsecure() },
  async () => {
    const admin = new AdminClient(master.address, as('admin', 'alice'));
    assert.equal((await admin.exec('config', 'web01', 'text("/tmp/x")', 'console')).state, 2, 'an admin configures a node');
    const attempts: Array<[string, grpc.ChannelCredentials, number, RegExp]> = [
      ['no certificate', noCertificate(), grpc.status.UNAUTHENTICATED, /no client certificate/],
      ['another CA', foreign(), grpc.status.UNAUTHENTICATED, /not from this cluster's CA/],
      ['an agent certificate', as('agent', 'web01'), grpc.status.PERMISSION_DENIED, /agent "web01" may not call \/flume\.Admin\/Submit/],
      ['a read-only certificate', as('read-only', 'viewer'), grpc.status.PERMISSION_DENIED, /read-only "viewer" may not/],
      [
        'a wrong token',
        personCredentials({ ca: certs.files('master', 'master').ca, tokenFile: writeToken('not-the-token-at-all') }),
        grpc.status.UNAUTHENTICATED,
        /not this cluster's admin token/,
      ],
    ];
    for (const [who, credentials, code, message] of attempts) {
      const client = new AdminClient(master.address, credentials);
      const r = await refusal(client.submit('decommission', 'web01'));
      assert.equal(r.code, code, `${who}: ${r.details}`);
      assert.match(r.details, message, who);
      client.close();
    }
    const byToken = new AdminClient(master.address, personCredentials({ ca: certs.files('master', 'master').ca, tokenFile: token.file }));
    assert.equal(
      (await byToken.exec('config', 'web02', 'text("/tmp/y")', 'console')).state,
      2,
      'the admin token stands in for an admin certificate',
    );
    byToken.close();
    assert.deepEqual((await admin.configs()).map((c) => c.logical).sort(), ['web01', 'web02'], 'no refused command changed anything');
    admin.close();
  },
);

test(
  "configs and node status need at least read-only: an agent certificate, none, or another CA's cannot read them",
  { skip: skipIfInsecure() },
  async () => {
    const reader = new AdminClient(master.address, as('read-only', 'viewer'));
    await reader.configs();
    await reader.nodes();
    reader.close();
    for (const credentials of [noCertificate(), foreign(), as('agent', 'web01'), as('collector', 'coll1')]) {
      const client = new AdminClient(master.address, credentials);
      for (const read of [() => client.configs(), () => client.nodes(), () => client.mappings()]) {
        const r = await refusal(read());
        assert.ok(r.code === grpc.status.UNAUTHENTICATED || r.code === grpc.status.PERMISSION_DENIED, r.details);
      }
      client.close();
    }
  },
);

test(
  "a node heartbeats only as itself: another node's certificate, an admin's, none, or another CA's cannot report as it",
  { skip: skipIfInsecure() },
  async () => {
    await heartbeat(as('collector', 'coll1'), 'coll1');
    const asOther = await refusal(heartbeat(as('agent', 'mallory'), 'coll1'));
    assert.equal(asOther.code, grpc.status.PERMISSION_DENIED, asOther.details);
    assert.match(asOther.details, /agent "mallory" cannot report as node "coll1"/);
    for (const credentials of [noCertificate(), foreign(), as('admin', 'alice')]) {
      const r = await refusal(heartbeat(credentials, 'coll1'));
      assert.ok(r.code === grpc.status.UNAUTHENTICATED || r.code === grpc.status.PERMISSION_DENIED, r.details);
    }
    const reader = new AdminClient(master.address, as('read-only', 'viewer'));
    assert.deepEqual(
      (await reader.nodes()).map((n) => n.physical),
      ['coll1'],
      'only the real node is known',
    );
    reader.close();
  },
);

function nodeCall<T>(credentials: grpc.ChannelCredentials, method: 'GetConfigs' | 'GetChain', req: object): Promise<T> {
  const client = new MasterCtor(master.address, credentials);
  return new Promise<T>((resolve, reject) => {
    client[method].call(client, req, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res as T)));
  }).finally(() => client.close());
}

async function rejectedCount(reason: string): Promise<number> {
  const tls = TlsContext.load(certs.files('admin', 'alice')).clientOptions(['master']);
  const body = (await httpGet(`https://127.0.0.1:${master.httpPort}/metrics`, 5_000, { tls })).body;
  return Number(new RegExp(`^flume_tls_rejected_${reason}_total\\{[^}]*\\} (\\d+)`, 'm').exec(body)?.[1] ?? 0);
}

test(
  "a node certificate reads only its own configs and chains: another node's are refused and counted; read-only and admin read all",
  { skip: skipIfInsecure() },
  async () => {
    const admin = new AdminClient(master.address, as('admin', 'alice'));
    assert.equal((await admin.exec('config', 'own01', 'text("/tmp/own")', 'console')).state, 2);
    assert.equal((await admin.exec('config', 'secret01', 'text("/etc/secret-of-secret01")', 'console')).state, 2);
    admin.close();
    type Configs = { configs: Array<{ logical: string; source: string }> };
    const own = await nodeCall<Configs>(as('agent', 'own01'), 'GetConfigs', { physical: 'own01', logical: [] });
    assert.deepEqual(
      own.configs.map((c) => c.logical),
      ['own01'],
      'a node reads its own config',
    );
    assert.ok((await nodeCall<{ version: string }>(as('agent', 'own01'), 'GetChain', { logical: 'own01', flow: '' })) !== undefined);

    const before = await rejectedCount('wrong_role');
    const attempts: Array<[string, () => Promise<unknown>, RegExp]> = [
      [
        'by physical node',
        () => nodeCall(as('agent', 'own01'), 'GetConfigs', { physical: 'secret01', logical: [] }),
        /node "own01" may not read the configs of node "secret01"/,
      ],
      [
        'by logical node',
        () => nodeCall(as('agent', 'own01'), 'GetConfigs', { physical: '', logical: ['own01', 'secret01'] }),
        /node "own01" may not read the configs of "secret01": not its logical nodes/,
      ],
      [
        'a collector',
        () => nodeCall(as('collector', 'coll1'), 'GetConfigs', { physical: 'secret01', logical: [] }),
        /node "coll1" may not/,
      ],
      [
        'a chain',
        () => nodeCall(as('agent', 'own01'), 'GetChain', { logical: 'secret01', flow: '' }),
        /may not read the chain of "secret01"/,
      ],
    ];
    for (const [what, call, message] of attempts) {
      const r = await refusal(call());
      assert.equal(r.code, grpc.status.PERMISSION_DENIED, `${what}: ${r.details}`);
      assert.match(r.details, message, what);
    }
    assert.equal(await rejectedCount('wrong_role'), before + attempts.length, 'each refusal is counted in /metrics');

    for (const [role, name] of [
      ['read-only', 'viewer'],
      ['admin', 'alice'],
    ] as const) {
      const other = await nodeCall<Configs>(as(role, name), 'GetConfigs', { physical: 'secret01', logical: [] });
      assert.deepEqual(
        other.configs.map((c) => c.source),
        ['text("/etc/secret-of-secret01")'],
        `${role} reads any node's config`,
      );
    }
  },
);

test(
  "the issue's attacks, replayed through the real shell with an agent certificate or a guessed admin token, all fail, change nothing and are counted",
  { skip: skipIfInsecure() },
  async () => {
    const admin = new AdminClient(master.address, as('admin', 'alice'));
    assert.equal((await admin.exec('config', 'victim', 'text("/tmp/victim.log")', 'console')).state, 2);
    const marker = `${dir.path}-pwned`;
    const saved = `${dir.path}-stolen.json`;
    const attacks = [
      `exec config victim 'exec("id > ${marker}")' 'null'`,
      `exec config victim 'text("/etc/passwd")' 'agentBESink("127.0.0.1:1")'`,
      `exec save ${saved}`,
      'exec load /etc/passwd',
      'exec decommission victim',
      'getconfigs',
      'getnodestatus',
    ];
    // The real shell checks its own certificate against the CA it is given, so an outsider's
    // tries are a guessed admin token and (an insider's) a node certificate.
    const agent = certs.files('agent', 'web01');
    const attackers: Array<[string, Record<string, string>, string, RegExp]> = [
      ['an agent certificate', { FLUME_TLS_CERT: agent.cert, FLUME_TLS_KEY: agent.key }, 'wrong_role', /agent "web01" may not call/],
      [
        'a guessed admin token',
        { FLUME_ADMIN_TOKEN_FILE: writeToken('a-guess-at-the-token') },
        'bad_token',
        /not this cluster's admin token/,
      ],
    ];
    for (const [who, credentials, reason, message] of attackers) {
      const before = await rejectedCount(reason);
      for (const line of attacks) {
        const run = await runShell(['-q', '-c', master.address, '-e', line], {
          env: {
            FLUME_TLS_CA: certs.files('master', 'master').ca,
            ...credentials,
            FLUME_SHELL_HISTORY: `${dir.path}-history`,
          },
        });
        assert.notEqual(run.code, 0, `${who}: ${line}\n${describeRun(run)}`);
        assert.match(run.stdout + run.stderr, message, `${who}: ${line}\n${describeRun(run)}`);
      }
      assert.ok((await rejectedCount(reason)) >= before + attacks.length, `${who}: each attempt counted as ${reason}`);
    }
    for (const f of [marker, saved]) assert.equal(fs.existsSync(f), false, `${f} was written`);
    const victim = (await admin.configs()).find((c) => c.logical === 'victim');
    assert.equal(victim?.source, 'text("/tmp/victim.log")', 'the config is unchanged (and was not decommissioned)');
    admin.close();
  },
);

test(
  'HTTP pages are HTTPS: read-only certificates and the admin token may read them; none, a node certificate or plain HTTP may not; refusals are counted in /metrics',
  { skip: skipIfInsecure() },
  async () => {
    const base = `https://127.0.0.1:${master.httpPort}`;
    const client = (role: PeerRole, name: string): https.RequestOptions =>
      TlsContext.load(certs.files(role, name)).clientOptions(['master']);
    const caOnly: https.RequestOptions = { ca: ca(), checkServerIdentity: () => undefined };
    assert.equal((await httpGet(`${base}/status`, 5_000, { tls: client('read-only', 'viewer') })).status, 200);
    assert.equal(
      (await httpGet(`${base}/status`, 5_000, { tls: { ...caOnly, headers: { authorization: `Bearer ${token.token}` } } })).status,
      200,
    );
    const none = await httpGet(`${base}/status`, 5_000, { tls: caOnly });
    assert.equal(none.status, 401);
    assert.match(none.body, /no client certificate/);
    const agent = await httpGet(`${base}/status`, 5_000, { tls: client('agent', 'web01') });
    assert.equal(agent.status, 403);
    await assert.rejects(
      new Promise((resolve, reject) => {
        http
          .get(`http://127.0.0.1:${master.httpPort}/status`, { timeout: 3_000 }, resolve)
          .on('error', reject)
          .on('timeout', () => reject(new Error('timeout')));
      }).then((res) => {
        if ((res as { statusCode: number }).statusCode === 200) throw new Error('plain HTTP was served');
        throw new Error('refused');
      }),
    );
    const metrics = (await httpGet(`${base}/metrics`, 5_000, { tls: client('admin', 'alice') })).body;
    for (const reason of ['no_certificate', 'unknown_ca', 'wrong_role', 'bad_token']) {
      const m = new RegExp(`^flume_tls_rejected_${reason}_total\\{[^}]*\\} (\\d+)`, 'm').exec(metrics);
      assert.ok(
        m && Number(m[1]) > 0,
        `flume_tls_rejected_${reason}_total counted:\n${metrics
          .split('\n')
          .filter((l) => l.includes('tls_rejected'))
          .join('\n')}`,
      );
    }
  },
);

test('without certificates a master does not start unless insecure is asked for, and then it warns', async () => {
  const refused = spawnFlume('master', ['start', '--port', '0', '--http-port', '0', '--data', dir.path + '-x'], {
    env: { FLUME_TLS_MODE: 'mtls' },
  });
  const status = await refused.exited;
  assert.equal(status.code, 1);
  assert.match(refused.output(), /tls\.ca \(FLUME_TLS_CA\), tls\.cert \(FLUME_TLS_CERT\), tls\.key \(FLUME_TLS_KEY\) are not set/);
  const insecure = spawnFlume('master', ['start', '--port', '0', '--http-port', '0', '--data', dir.path + '-y'], {
    env: { FLUME_TLS_MODE: 'insecure' },
  });
  await insecure.waitForLine(/Master started/);
  assert.match(insecure.output(), /TLS is OFF \(tls\.mode = insecure\)/);
  assert.match(insecure.output(), /Master started\..*/);
  await insecure.stop();
});

function writeToken(text: string): string {
  const file = `${dir.path}/wrong-token`;
  fs.writeFileSync(file, `${text}\n`);
  return file;
}

test('SIGHUP reloads a renewed certificate: new connections get it, without a restart', { skip: skipIfInsecure() }, async () => {
  const peerCert = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = tls.connect(
        {
          host: '127.0.0.1',
          port: master.grpcPort,
          ALPNProtocols: ['h2'],
          ...TlsContext.load(certs.files('admin', 'alice')).clientOptions(['master']),
        },
        () => {
          resolve(socket.getPeerCertificate().valid_to);
          socket.destroy();
        },
      );
      socket.on('error', reject);
    });
  const before = await peerCert();
  renew(certs.dir, { role: 'master', name: 'master' }, { days: 30 });
  const mark = master.proc.output().length;
  process.kill(master.proc.pid, 'SIGHUP');
  await master.proc.waitForLine(/Reloaded TLS certificates\./, 10_000, mark);
  const after = await peerCert();
  assert.notEqual(after, before, 'a new connection sees the renewed certificate');
  assert.ok(new Date(after).getTime() < Date.now() + 31 * 24 * 3600 * 1000, `valid to ${after}: the 30-day certificate`);
  const admin = new AdminClient(master.address, as('admin', 'alice'));
  assert.ok((await admin.info()).id, 'the same process answers');
  admin.close();
});
