/** Shared pieces of the tier tests: numbered batches, a storage-writer stand-in that drains a channel, and the tiers' TLS. */
import { type Batch, batchOf, type Channel, inTransaction } from '../../core/channel';
import { BatchBuilder, EventCursor } from '../../core/event';
import { TlsContext } from '../../core/tls';
import { TestCerts, testsInsecure } from '../harness/tls';

/**
 * Mutual TLS between the in-process tiers, as between real processes: the collector servers and
 * the agent sinks hold certificates of the run's CA (test/harness/tls.ts); undefined (plaintext)
 * only in the suite's insecure variant (FLUME_TEST_INSECURE=1). Every agent sink of a test shares
 * one agent certificate, {@link AGENT_CERT}.
 */
const AGENT_CERT = 'tier-agent';
export const tierTls = {
  collector: (): TlsContext | undefined => TestCerts.shared().context('collector', 'tier-collector'),
  agent: (): TlsContext | undefined => TestCerts.shared().context('agent', AGENT_CERT),
  /** FLUME_TLS_* for a collector child process ({@link tlsFromEnv} there); empty without TLS. */
  collectorEnv: (): Record<string, string> => (testsInsecure() ? {} : TestCerts.shared().env('collector', 'tier-collector')),
};

/** In a child process: the TlsContext its parent passed with {@link tierTls}.collectorEnv, if any. */
export function tlsFromEnv(env: NodeJS.ProcessEnv = process.env): TlsContext | undefined {
  const { FLUME_TLS_CA: ca, FLUME_TLS_CERT: cert, FLUME_TLS_KEY: key } = env;
  return ca && cert && key ? TlsContext.load({ ca, cert, key }) : undefined;
}

/**
 * The origin a collector records an agent's batch under: with TLS `<certificate name>/<origin>`
 * (collector/source/collector-server.ts), so no client can write under another's origin.
 */
export function recorded(origin: string): string {
  return testsInsecure() ? origin : `${AGENT_CERT}/${origin}`;
}

/** `count` batches of `events` numbered events each; event bodies are `${origin}:${n}` padded to `bodyBytes`. */
export function numberedBatches(origin: string, count: number, events: number, bodyBytes = 100, firstSeq = 1): Batch[] {
  const builder = new BatchBuilder(origin);
  const out: Batch[] = [];
  let n = (firstSeq - 1) * events;
  for (let b = 0; b < count; b++) {
    for (let i = 0; i < events; i++) {
      const body = Buffer.alloc(bodyBytes, 0x2e);
      body.write(`${origin}:${n++}`);
      builder.append(body, 1_700_000_000_000 + n);
    }
    out.push(batchOf(builder.finish(firstSeq + b)));
  }
  return out;
}

/** The event numbers of a batch, read back from its bodies. */
export function eventNumbers(bytes: Buffer): number[] {
  const out: number[] = [];
  const cur = new EventCursor().reset(bytes);
  while (cur.next()) {
    const text = cur.body().toString('latin1');
    out.push(Number(text.slice(text.indexOf(':') + 1, text.indexOf('.'))));
  }
  return out;
}

export interface DrainOptions {
  /** Called once a batch is "stored" (after its take commits): fire E2E acks here. */
  onStored?: (batch: Batch) => void;
  /** Pause before each batch, to play a slow storage writer. */
  delayMs?: number;
  /** Check the channel's fill each time (the capacity must never be exceeded). */
  watchCapacity?: boolean;
}

/** Takes batches off a channel until stopped, recording (origin, seq) in order. */
export class Drain {
  readonly seen: Batch[] = [];
  maxBytesSeen = 0;
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly channel: Channel,
    private readonly options: DrainOptions = {},
  ) {
    this.done = this.run();
  }

  get events(): number {
    let n = 0;
    for (const b of this.seen) n += b.count;
    return n;
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (this.options.watchCapacity) {
        const s = this.channel.stats();
        this.maxBytesSeen = Math.max(this.maxBytesSeen, s.bytes);
      }
      // Store, then commit the take, as a storage writer does: a crash in between leaves the
      // batch in the channel.
      await inTransaction(this.channel, async (tx) => {
        const batch = await tx.take(50);
        if (!batch) return;
        if (this.options.delayMs) await new Promise((r) => setTimeout(r, this.options.delayMs));
        if (!this.running) throw new Error('drain stopped');
        this.seen.push({ ...batch, bytes: Buffer.from(batch.bytes) }); // the channel may reuse the buffer
        this.options.onStored?.(batch);
      }).catch(() => undefined);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

/**
 * Appends `batches` to `sink` in order with at most `sink.window` appends in flight, as the node
 * driver does; resolves once all are settled, rejects with the first append that fails.
 */
export async function pumpAll(
  sink: { append(batch: Batch): Promise<void>; readonly window?: number },
  batches: readonly Batch[],
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for (const b of batches) {
    const p: Promise<void> = sink.append(b).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= (sink.window ?? 1)) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

/** Polls `cond` until true or `timeoutMs` passes; throws with `what` on timeout. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Asserts that `seen` holds each of origin's seqs 1..n exactly once, in order. */
export function checkExactlyOnceInOrder(seen: readonly Batch[], origin: string, n: number): string | null {
  const seqs = seen.filter((b) => b.origin === origin).map((b) => b.seq);
  if (seqs.length !== n) return `${origin}: ${seqs.length} batches, expected ${n}`;
  for (let i = 0; i < n; i++) if (seqs[i] !== i + 1) return `${origin}: position ${i} holds seq ${seqs[i]}`;
  return null;
}

/** Storage as a writer with a dedup index sees it: kept batches, and resends counted. */
export class Storage {
  readonly kept: Batch[] = [];
  readonly ids = new Set<string>();
  duplicates = 0;

  store(b: Batch): void {
    const id = `${b.origin}#${b.seq}`;
    if (this.ids.has(id)) {
      this.duplicates++;
      return;
    }
    this.ids.add(id);
    this.kept.push(b);
  }

  lookup = async (origin: string, seqs: number[]): Promise<number[]> => seqs.filter((s) => this.ids.has(`${origin}#${s}`));
}
