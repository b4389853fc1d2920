/**
 * A master reaches ZooKeeper over mutual TLS (zookeeper.tls = mtls, master/store/zk-tls-relay.ts):
 * a real ZooKeeper 3.8 serves a secureClientPort (Netty, PEM key store and trust store from the
 * run's CA, client certificates required) and the master is given only that port. What an admin
 * configures through the master is then in ZooKeeper, read back over the plain client port by
 * the test; a master without zookeeper.tls, given the same port, never gets a session.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, spawnFlume, tempDir } from '../harness/procs';
import { TestCerts, testsInsecure } from '../harness/tls';
import { startZooKeeper, type ZooKeeper } from '../harness/zk';
import { AdminClient, type MasterProc, startMasterProc } from '../master/helpers';
import { ZkClient } from '../../master/store/zk';

const certs = TestCerts.shared();
const dir = tempDir('flume-zk-tls-');
let zk: ZooKeeper | undefined;
let securePort = 0;
let master: MasterProc | undefined;

before(async () => {
  if (testsInsecure()) return;
  securePort = await freePort();
  const server = certs.files('master', 'zookeeper');
  zk = await startZooKeeper(30_000, (zkDir) => {
    // ZooKeeper's PEM key store holds the (PKCS#8) key and the certificate in one file.
    const pem = path.join(zkDir, 'server.pem');
    fs.writeFileSync(pem, fs.readFileSync(server.key, 'utf8') + fs.readFileSync(server.cert, 'utf8'));
    return [
      `secureClientPort=${securePort}`,
      'secureClientPortAddress=127.0.0.1',
      'serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory',
      `ssl.keyStore.location=${pem}`,
      'ssl.keyStore.type=PEM',
      `ssl.trustStore.location=${server.ca}`,
      'ssl.trustStore.type=PEM',
      'ssl.clientAuth=need',
      '',
    ].join('\n');
  });
});

after(async () => {
  await master?.proc.stop();
  await zk?.stop();
  dir.remove();
});

/** The children of `znode` in ZooKeeper, read over the plain client port. */
async function children(znode: string): Promise<string[]> {
  const client = new ZkClient({ connect: zk!.connectString, sessionTimeoutMs: 10_000, connectTimeoutMs: 20_000 });
  try {
    await client.connect();
    return await client.getChildren(znode);
  } finally {
    client.close();
  }
}

test(
  'a master with zookeeper.tls = mtls keeps its state in ZooKeeper through the secure client port',
  { skip: testsInsecure() },
  async () => {
    await zk!.chroot('flume-tls');
    master = await startMasterProc(['--zk', `127.0.0.1:${securePort}/flume-tls`, '--data', path.join(dir.path, 'm1')], false, {
      FLUME_ZOOKEEPER_TLS: 'mtls',
    });
    assert.match(master.proc.output(), /ZooKeeper over mutual TLS\./);
    const admin = new AdminClient(master.address);
    try {
      assert.equal((await admin.info()).store, 'zookeeper');
      assert.equal((await admin.exec('config', 'web01', 'text("/tmp/zk-tls.log")', 'console')).state, 2);
      assert.deepEqual(
        (await admin.configs()).map((c) => c.logical),
        ['web01'],
      );
    } finally {
      admin.close();
    }
    assert.ok((await children('/flume-tls')).length > 0, 'the state is in ZooKeeper under the chroot');

    // The relay's loopback port serves the master's own sockets only: this test process is refused.
    const relay = /relays=127\.0\.0\.1:(\d+)/.exec(master.proc.output());
    assert.ok(relay, master.proc.output());
    const from = master.proc.output().length;
    const outsider = net.connect(Number(relay[1]), '127.0.0.1');
    outsider.on('error', () => undefined);
    await new Promise<void>((resolve) => outsider.once('close', () => resolve()));
    await master.proc.waitForLine(/Refused a connection to the ZooKeeper relay from another process\./, 10_000, from);
    const admin2 = new AdminClient(master.address);
    try {
      assert.equal(
        (await admin2.exec('config', 'web02', 'text("/tmp/zk-tls.log")', 'console')).state,
        2,
        'the master still has its session',
      );
    } finally {
      admin2.close();
    }
  },
);

test('without zookeeper.tls a master given the secure port gets no ZooKeeper session', { skip: testsInsecure() }, async () => {
  await zk!.chroot('flume-plain');
  const plain = spawnFlume(
    'master',
    ['start', '--port', '0', '--http-port', '0', '--zk', `127.0.0.1:${securePort}/flume-plain`, '--data', path.join(dir.path, 'm2')],
    {
      env: { FLUME_LOG_LEVEL: 'info' },
    },
  );
  try {
    const status = await plain.exited;
    assert.notEqual(status.code, 0, plain.output());
    assert.doesNotMatch(plain.output(), /Master started\./);
  } finally {
    await plain.stop();
  }
});
