/**
 * A physical node simulated by the test process: it heartbeats to a real master over the
 * `Master` gRPC service with the logical node states the test sets, so that getnodestatus and
 * waitForNodes* have something real to report without running the node runtime.
 */
import * as grpc from '@grpc/grpc-js';
import { serviceDefinition } from '../../proto/index';
import { NodeStateCode, type NodeStateName } from '../../proto/messages';
import { channelCredentialsFor, MASTER_ROLES } from '../../core/tls';
import { TestCerts } from '../harness/tls';

const MasterClient = grpc.makeClientConstructor(serviceDefinition('Master'), 'Master');

type Callback = (err: grpc.ServiceError | null, value?: unknown) => void;
type Heartbeat = (req: object, options: grpc.CallOptions, cb: Callback) => void;

export class SimulatedNode {
  private readonly client: grpc.Client;
  private readonly logical = new Map<string, { state: NodeStateName; configVersion: number }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  /** Heartbeats answered so far. */
  answered = 0;
  lastError: Error | undefined;

  constructor(
    address: string,
    readonly physical: string,
    readonly role = 'agent',
    private readonly intervalMs = 300,
  ) {
    // A certificate naming it, from the run's CA (test/harness/tls.ts): a master takes a heartbeat only from the node it names.
    this.client = new MasterClient(
      address,
      channelCredentialsFor(TestCerts.shared().context(role === 'collector' ? 'collector' : 'agent', physical), MASTER_ROLES),
    );
  }

  set(logical: string, state: NodeStateName, configVersion = 1): void {
    this.logical.set(logical, { state, configVersion });
  }

  start(): void {
    const beat = (): void => {
      const request = {
        physical: this.physical,
        host: '127.0.0.1',
        role: this.role,
        startedAt: this.startedAt,
        logical: [...this.logical].map(([name, s]) => ({
          name,
          state: NodeStateCode[s.state],
          configVersion: s.configVersion,
          message: '',
        })),
      };
      const heartbeat = (this.client as unknown as Record<string, Heartbeat>).Heartbeat;
      heartbeat.call(this.client, request, { deadline: Date.now() + 5_000 }, (err) => {
        if (err) this.lastError = err;
        else this.answered++;
      });
    };
    beat();
    this.timer = setInterval(beat, this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.client.close();
  }
}
