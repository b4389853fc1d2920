/**
 * Node status shared between masters through ZooKeeper.
 *
 * Each master writes what it hears from nodes to `/flume/status/<master>/<shard>` (SHARDS
 * znodes, a node's shard from a hash of its name, so no znode nears ZooKeeper's 1 MB limit), at
 * most once per `publishMs`, and reads the other masters' shards on the same beat. Heartbeats
 * themselves never touch ZooKeeper. The znodes are persistent: when a master dies its last view
 * stays, and the nodes it served turn LOST unless another master hears from them.
 */
import type { Logger } from '../../core/logger';
import type { NodeExchange, NodeRecord } from '../nodes';
import { ZookeeperStore, STATUS } from './zookeeper';
import { isNoNode } from './zk';

const SHARDS = 16;

function shardOf(physical: string): number {
  let h = 0;
  for (let i = 0; i < physical.length; i++) h = (h * 31 + physical.charCodeAt(i)) | 0;
  return (h >>> 0) % SHARDS;
}

/** Compact form of a NodeRecord in a shard znode. */
type Packed = [
  physical: string,
  host: string,
  role: string,
  state: number,
  lastSeen: number,
  startedAt: number,
  logical: Array<[name: string, state: number, version: number, message: string, listen?: string]>,
];

function pack(r: NodeRecord): Packed {
  return [
    r.physical,
    r.host,
    r.role,
    r.state,
    r.lastSeen,
    r.startedAt,
    r.logical.map((l) =>
      l.listen ? [l.name, l.state, l.configVersion, l.message, l.listen] : [l.name, l.state, l.configVersion, l.message],
    ),
  ];
}

function unpack(p: Packed): NodeRecord {
  return {
    physical: p[0],
    host: p[1],
    role: p[2],
    state: p[3],
    lastSeen: p[4],
    startedAt: p[5],
    logical: p[6].map(([name, state, configVersion, message, listen]) =>
      listen ? { name, state, configVersion, message, listen } : { name, state, configVersion, message },
    ),
  };
}

function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class ZkNodeExchange implements NodeExchange {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private remoteRecords = new Map<string, NodeRecord>();
  /** Each remote shard znode as last parsed, with its znode version. */
  private shards = new Map<string, { version: number; records: NodeRecord[] }>();
  private readonly lastWritten = new Map<number, string>();

  constructor(
    private readonly store: ZookeeperStore,
    private readonly masterId: string,
    private readonly local: () => Iterable<NodeRecord>,
    /** Takes back what this master id published before a restart, so dead nodes turn LOST rather than vanish. */
    private readonly seed: (records: NodeRecord[]) => void,
    private readonly publishMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.beat(), this.publishMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  remote(): Iterable<NodeRecord> {
    return this.remoteRecords.values();
  }

  get(physical: string): NodeRecord | undefined {
    return this.remoteRecords.get(physical);
  }

  private async beat(): Promise<void> {
    if (this.busy || !this.store.fresh) return;
    this.busy = true;
    try {
      if (!this.seeded) await this.takeBack();
      await this.publish();
      await this.collect();
    } catch (err) {
      this.logger.debug('Node status exchange failed this beat.', { error: (err as Error).message });
    } finally {
      this.busy = false;
    }
  }

  private seeded = false;

  private async takeBack(): Promise<void> {
    const zk = this.store.client;
    const dir = `${STATUS}/${this.masterId}`;
    const shards = await zk.getChildren(dir).catch((err) => {
      if (isNoNode(err)) return [] as string[];
      throw err;
    });
    const records: NodeRecord[] = [];
    for (const shard of shards) {
      const { data } = await zk.getData(`${dir}/${shard}`);
      for (const p of JSON.parse(data.toString('utf8')) as Packed[]) records.push(unpack(p));
    }
    this.seed(records);
    this.seeded = true;
  }

  /**
   * Writes this master's shards. Each shard is encoded in its own event-loop turn: with 10,000
   * nodes encoding them all at once held heartbeats up for tens of milliseconds.
   */
  private async publish(): Promise<void> {
    const shards: NodeRecord[][] = Array.from({ length: SHARDS }, () => []);
    for (const r of this.local()) shards[shardOf(r.physical)].push(r);
    const zk = this.store.client;
    const dir = `${STATUS}/${this.masterId}`;
    await zk.mkdirp(dir);
    const writes: Array<Promise<void>> = [];
    for (let i = 0; i < SHARDS; i++) {
      await yieldTurn();
      const text = JSON.stringify(shards[i].map(pack));
      if (this.lastWritten.get(i) === text) continue;
      const path = `${dir}/${i}`;
      const write = (async () => {
        try {
          await zk.setData(path, Buffer.from(text), -1);
        } catch (err) {
          if (!isNoNode(err)) throw err;
          await zk.create(path, Buffer.from(text));
        }
        this.lastWritten.set(i, text);
      })();
      // Awaited below with the others; until then a failure (ZooKeeper gone while the loop still
      // yields) must not count as unhandled, which would end the process.
      write.catch(() => undefined);
      writes.push(write);
    }
    await Promise.all(writes);
  }

  /** Reads the other masters' shards, parsing only those whose znode version changed. */
  private async collect(): Promise<void> {
    const zk = this.store.client;
    const masters = (await zk.getChildren(STATUS)).filter((m) => m !== this.masterId);
    const parsed = new Map<string, { version: number; records: NodeRecord[] }>();
    for (const master of masters) {
      const shards = await zk.getChildren(`${STATUS}/${master}`).catch(() => [] as string[]);
      await Promise.all(
        shards.map(async (shard) => {
          const path = `${STATUS}/${master}/${shard}`;
          const stat = await zk.exists(path);
          if (!stat) return;
          const cached = this.shards.get(path);
          if (cached && cached.version === stat.version) {
            parsed.set(path, cached);
            return;
          }
          const { data, stat: readStat } = await zk.getData(path);
          // One shard per event-loop turn, as in publish.
          await yieldTurn();
          parsed.set(path, { version: readStat.version, records: (JSON.parse(data.toString('utf8')) as Packed[]).map(unpack) });
        }),
      );
    }
    const next = new Map<string, NodeRecord>();
    for (const { records } of parsed.values()) {
      for (const r of records) {
        const have = next.get(r.physical);
        if (!have || have.lastSeen < r.lastSeen) next.set(r.physical, r);
      }
    }
    this.shards = parsed;
    this.remoteRecords = next;
  }
}
