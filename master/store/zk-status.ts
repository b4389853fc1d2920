/**
 * Node status shared between masters through ZooKeeper.
 *
 * Each master writes what it hears from nodes to `/flume/status/<master>/<shard>` (SHARDS
 * znodes, a node's shard from a hash of its name, so no znode nears ZooKeeper's 1 MB limit), and
 * reads the other masters' shards, once per `publishMs` (a beat). Heartbeats themselves never
 * touch ZooKeeper. The znodes are persistent: when a master dies its last view stays, and the
 * nodes it served turn LOST unless another master hears from them.
 *
 * Writes are bounded by what changes, not by the fleet: a node heard within LIVE_BEATS beats is
 * written with lastSeen = LIVE ("live at this master's last beat") instead of its heartbeat time,
 * so a fleet in a steady state leaves every shard's bytes unchanged and no shard is written. The
 * master's beat time goes into its own znode `/flume/status/<master>` (one small write a beat);
 * a reader gives LIVE records that time. A node that goes quiet is written once more with its
 * real last-seen time (LIVE_BEATS after its last report, well before LOST), and a master that
 * dies stops moving its beat, so its nodes turn LOST as before. Without this, every shard changed
 * every beat (16 writes a beat per master, the whole fleet's status in bytes).
 */
import type { Logger } from '../../core/logger';
import type { NodeExchange, NodeRecord } from '../nodes';
import { ZookeeperStore, STATUS } from './zookeeper';
import { isNoNode } from './zk';

const SHARDS = 16;
/** lastSeen of a node heard within LIVE_BEATS beats: read as the writing master's beat time. */
const LIVE = -1;
const LIVE_BEATS = 2;

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

function pack(r: NodeRecord, liveSince: number): Packed {
  return [
    r.physical,
    r.host,
    r.role,
    r.state,
    r.lastSeen >= liveSince ? LIVE : r.lastSeen,
    r.startedAt,
    r.logical.map((l) =>
      l.listen ? [l.name, l.state, l.configVersion, l.message, l.listen] : [l.name, l.state, l.configVersion, l.message],
    ),
  ];
}

/** `beat`: the writing master's last beat, the lastSeen of a LIVE record. */
function unpack(p: Packed, beat: number): NodeRecord {
  return {
    physical: p[0],
    host: p[1],
    role: p[2],
    state: p[3],
    lastSeen: p[4] === LIVE ? beat : p[4],
    startedAt: p[5],
    logical: p[6].map(([name, state, configVersion, message, listen]) =>
      listen ? { name, state, configVersion, message, listen } : { name, state, configVersion, message },
    ),
  };
}

function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A remote shard as last parsed: its znode version, its records, and those written LIVE. */
interface RemoteShard {
  version: number;
  records: NodeRecord[];
  live: NodeRecord[];
}

export class ZkNodeExchange implements NodeExchange {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private remoteRecords = new Map<string, NodeRecord>();
  /** Each remote shard znode as last parsed, with its znode version. */
  private shards = new Map<string, RemoteShard>();
  private readonly lastWritten = new Map<number, string>();
  private dirMade = false;

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
      this.dirMade = false; // made again next beat, in case it was what failed
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
    const beat = shards.length > 0 ? await this.beatOf(dir) : 0;
    const records: NodeRecord[] = [];
    for (const shard of shards) {
      const { data } = await zk.getData(`${dir}/${shard}`);
      for (const p of JSON.parse(data.toString('utf8')) as Packed[]) records.push(unpack(p, beat));
    }
    this.seed(records);
    this.seeded = true;
  }

  /** The last beat time a master wrote to its znode `dir` (0 if none). */
  private async beatOf(dir: string): Promise<number> {
    const { data } = await this.store.client.getData(dir);
    return Number(data?.toString('utf8')) || 0;
  }

  /**
   * Writes this master's shards whose bytes changed, then its beat time. Each shard is encoded in
   * its own event-loop turn: with 10,000 nodes encoding them all at once held heartbeats up for
   * tens of milliseconds.
   */
  private async publish(): Promise<void> {
    const now = Date.now();
    const liveSince = now - LIVE_BEATS * this.publishMs;
    const shards: NodeRecord[][] = Array.from({ length: SHARDS }, () => []);
    for (const r of this.local()) shards[shardOf(r.physical)].push(r);
    const zk = this.store.client;
    const dir = `${STATUS}/${this.masterId}`;
    if (!this.dirMade) await zk.mkdirp(dir);
    this.dirMade = true;
    const writes: Array<Promise<void>> = [];
    for (let i = 0; i < SHARDS; i++) {
      await yieldTurn();
      const text = JSON.stringify(shards[i].map((r) => pack(r, liveSince)));
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
    await zk.setData(dir, Buffer.from(String(now)), -1);
  }

  /**
   * Reads the other masters' beats and shards, parsing only the shards whose znode version
   * changed; LIVE records take their master's latest beat.
   */
  private async collect(): Promise<void> {
    const zk = this.store.client;
    const masters = (await zk.getChildren(STATUS)).filter((m) => m !== this.masterId);
    const parsed = new Map<string, RemoteShard>();
    for (const master of masters) {
      const dir = `${STATUS}/${master}`;
      const [shards, beat] = await Promise.all([zk.getChildren(dir).catch(() => [] as string[]), this.beatOf(dir).catch(() => 0)]);
      await Promise.all(
        shards.map(async (shard) => {
          const path = `${dir}/${shard}`;
          const stat = await zk.exists(path);
          if (!stat) return;
          let got = this.shards.get(path);
          if (!got || got.version !== stat.version) {
            const { data, stat: readStat } = await zk.getData(path);
            // One shard per event-loop turn, as in publish.
            await yieldTurn();
            const records: NodeRecord[] = [];
            const live: NodeRecord[] = [];
            for (const p of JSON.parse(data.toString('utf8')) as Packed[]) {
              const r = unpack(p, beat);
              records.push(r);
              if (p[4] === LIVE) live.push(r);
            }
            got = { version: readStat.version, records, live };
          }
          for (const r of got.live) r.lastSeen = beat;
          parsed.set(path, got);
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
