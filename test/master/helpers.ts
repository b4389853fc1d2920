/**
 * Helpers of the master tests: start a real `flume-master` process and read its ports from its
 * startup line, an Admin gRPC client, a test node process.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { serviceDefinition } from '../../proto';
import type { WireCommandStatus, WireLogicalConfig, WireNodeStatus } from '../../proto/messages';
import { spawnFlume, spawnScript, waitFor, type Proc } from '../harness/procs';
import { channelCredentialsFor, MASTER_ROLES, type PeerRole } from '../../core/tls';
import { TestCerts } from '../harness/tls';

export interface MasterProc {
  proc: Proc;
  grpcPort: number;
  httpPort: number;
  address: string;
  args: string[];
}

/** Starts `flume-master start --port 0 --http-port 0 ...extra` and waits for its startup line. */
export async function startMasterProc(extra: string[], echo = false, env: Record<string, string> = {}): Promise<MasterProc> {
  const args = ['start', '--port', '0', '--http-port', '0', '--host', '127.0.0.1', ...extra];
  const proc = spawnFlume('master', args, { echo, env: { FLUME_LOG_LEVEL: 'info', ...env } });
  const m = await proc.waitForLine(/Master started\..*grpc_port=(\d+) http_port=(\d+)/, 60_000);
  const grpcPort = Number(m[1]);
  return { proc, grpcPort, httpPort: Number(m[2]), address: `127.0.0.1:${grpcPort}`, args };
}

type Unary = (req: object, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

const AdminCtor = grpc.makeGenericClientConstructor(serviceDefinition('Admin'), 'Admin') as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
) => grpc.Client & Record<string, Unary>;

/** A promise API over the Admin service of one master. */
export class AdminClient {
  private readonly stub: grpc.Client & Record<string, Unary>;

  /**
   * `tls`: channel credentials (default: the run's admin certificate, test/harness/tls.ts), or a
   * directory with ca.pem, node.pem and node.key.
   */
  constructor(
    readonly address: string,
    tls: grpc.ChannelCredentials | string = testCredentials('admin', 'tester'),
  ) {
    const credentials =
      typeof tls === 'string'
        ? grpc.credentials.createSsl(
            fs.readFileSync(path.join(tls, 'ca.pem')),
            fs.readFileSync(path.join(tls, 'node.key')),
            fs.readFileSync(path.join(tls, 'node.pem')),
          )
        : tls;
    this.stub = new AdminCtor(address, credentials);
  }

  private call<T>(method: string, req: object, timeoutMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      this.stub[method].call(this.stub, req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as T)));
    });
  }

  async submit(command: string, ...args: string[]): Promise<number> {
    return (await this.call<{ id: number }>('Submit', { command, args })).id;
  }

  /** Submit with a client id: a master that has seen `clientId` answers with the first command's id. */
  async submitOnce(clientId: string, command: string, ...args: string[]): Promise<number> {
    return (await this.call<{ id: number }>('Submit', { command, args, clientId })).id;
  }

  status(id: number): Promise<WireCommandStatus> {
    return this.call('GetCommandStatus', { id });
  }

  /** Waits until command `id` is SUCCEEDED (2) or FAILED (3) and returns it. */
  async waitDone(id: number, timeoutMs = 30_000): Promise<WireCommandStatus> {
    return waitFor(
      async () => {
        const s = await this.status(id);
        return s.state >= 2 ? s : undefined;
      },
      timeoutMs,
      `command ${id} to finish at ${this.address}`,
    );
  }

  /** Submits and waits; returns the final status. */
  async exec(command: string, ...args: string[]): Promise<WireCommandStatus> {
    return this.waitDone(await this.submit(command, ...args));
  }

  async configs(): Promise<WireLogicalConfig[]> {
    return (await this.call<{ configs: WireLogicalConfig[] }>('GetConfigs', {})).configs;
  }

  async nodes(): Promise<WireNodeStatus[]> {
    return (await this.call<{ nodes: WireNodeStatus[] }>('GetNodeStatus', {})).nodes;
  }

  async mappings(physical = ''): Promise<Array<{ physical: string; logical: string[] }>> {
    return (await this.call<{ mappings: Array<{ physical: string; logical: string[] }> }>('GetMappings', { physical })).mappings;
  }

  async commands(limit = 0, pendingOnly = false): Promise<WireCommandStatus[]> {
    return (await this.call<{ commands: WireCommandStatus[] }>('ListCommands', { limit, pendingOnly })).commands;
  }

  info(timeoutMs = 5_000): Promise<{ id: string; leader: boolean; store: string; fresh: boolean }> {
    return this.call('GetMasterInfo', {}, timeoutMs);
  }

  close(): void {
    this.stub.close();
  }
}

/** Starts the test node process (test/master/test-node.ts) against `masters`. */
/** Channel credentials to a master for `role`/`name` from the run's CA (plaintext with FLUME_TEST_INSECURE=1). */
export function testCredentials(role: PeerRole, name: string): grpc.ChannelCredentials {
  return channelCredentialsFor(TestCerts.shared().context(role, name), MASTER_ROLES);
}

/** Starts the test node process (test/master/test-node.ts) against `masters`, with a certificate naming it. */
export async function startTestNode(
  name: string,
  masters: string[],
  heartbeatMs = 200,
  echo = false,
  env?: Record<string, string>,
): Promise<Proc> {
  const script = path.join(__dirname, 'test-node.js');
  const proc = spawnScript(
    script,
    ['--master', masters.join(','), '--name', name, '--heartbeat-ms', String(heartbeatMs), '--call-timeout-ms', '1000'],
    { label: `node ${name}`, echo, env: env ?? TestCerts.shared().env('agent', name) },
  );
  await proc.waitForLine(/test-node ready/);
  return proc;
}

/** The config of `logical` at `admin`, or undefined. */
export async function configOf(admin: AdminClient, logical: string): Promise<WireLogicalConfig | undefined> {
  return (await admin.configs()).find((c) => c.logical === logical);
}
