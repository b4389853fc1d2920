/**
 * The dead-letter store of a logical node: batches its sink can never deliver, kept on disk
 * with why, so that one bad batch neither stops the flow behind it nor is lost.
 *
 * Contract (what the node's worker does with a failed append; see `failureKind` in errors.ts):
 * - A retriable failure (disk full, I/O error, a collector away, a channel closing) is retried
 *   with backoff, for ever: it is never quarantined, whatever it costs in time.
 * - A permanent one (bytes that do not decode, a value no storage can take, a batch the next
 *   tier rejected) is quarantined at once: `put` makes the batch durable here, and only then is
 *   it taken out of the channel; a collector then acknowledges it end to end as REJECTED, so its
 *   sender stops resending it and keeps it in its own dead-letter store.
 * - An unknown failure is retried like a retriable one: quarantining data on a guess would move
 *   every batch of a sink that is merely down into the store. Its log line names the batch, so
 *   an operator sees one that never gets through.
 *
 * Layout: `<dir>/<id>.batch` holds the batch's bytes exactly as the channel had them (the wire
 * encoding), `<id>.json` what happened (origin, seq, events, bytes, reason, when). `<id>` is the
 * origin (made safe for a file name) and the seq. A pair is written as `.tmp`, synced, renamed:
 * the `.json` is renamed last, so a `.batch` without its `.json` is an unfinished put that a
 * later put of the same id completes (the channel still had the batch).
 *
 * Replay: `flume-node deadletter replay` moves pairs into `<dir>/replay/`; the running node (or
 * the next one to start) puts each such batch back into its channel, with its own id, so storage
 * writers still drop it if it was written meanwhile, and deletes the pair once committed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { batchOf, type Batch } from './channel';
import { syncDir } from './sync-dir';

export interface DeadLetter {
  id: string;
  origin: string;
  seq: number;
  events: number;
  bytes: number;
  reason: string;
  /** ms since the epoch. */
  at: number;
}

const SAFE = /[^A-Za-z0-9_.@:-]/g;

function deadLetterId(origin: string, seq: number): string {
  const safe = origin.replace(SAFE, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).slice(0, 160);
  return `${safe}-${seq}`;
}

export class DeadLetterStore {
  private readonly ids = new Set<string>();

  constructor(readonly dir: string) {
    fs.mkdirSync(path.join(dir, 'replay'), { recursive: true });
    for (const f of fs.readdirSync(dir)) if (f.endsWith('.json')) this.ids.add(f.slice(0, -5));
  }

  get size(): number {
    return this.ids.size;
  }

  has(origin: string, seq: number): boolean {
    return this.ids.has(deadLetterId(origin, seq));
  }

  /** Makes the batch and why durable; resolves once both are on disk. */
  async put(batch: Batch, reason: string): Promise<DeadLetter> {
    const id = deadLetterId(batch.origin, batch.seq);
    const letter: DeadLetter = {
      id,
      origin: batch.origin,
      seq: batch.seq,
      events: batch.count,
      bytes: batch.bytes.length,
      reason,
      at: Date.now(),
    };
    await writeDurably(path.join(this.dir, `${id}.batch`), batch.bytes);
    await writeDurably(path.join(this.dir, `${id}.json`), Buffer.from(JSON.stringify(letter) + '\n'));
    await syncDir(this.dir);
    this.ids.add(id);
    return letter;
  }

  list(): DeadLetter[] {
    return listIn(this.dir);
  }

  /** Batches an operator asked to replay, oldest first; `done(id)` once each is back in the channel. */
  replays(): Array<{ letter: DeadLetter; batch: Batch }> {
    const dir = path.join(this.dir, 'replay');
    return listIn(dir).map((letter) => ({ letter, batch: batchOf(fs.readFileSync(path.join(dir, `${letter.id}.batch`))) }));
  }

  replayed(id: string): void {
    const dir = path.join(this.dir, 'replay');
    fs.rmSync(path.join(dir, `${id}.json`), { force: true });
    fs.rmSync(path.join(dir, `${id}.batch`), { force: true });
  }

  /** Moves letters (all when `ids` is empty) to the replay folder; returns those moved. */
  markForReplay(ids: readonly string[] = []): DeadLetter[] {
    const chosen = this.list().filter((l) => ids.length === 0 || ids.includes(l.id));
    const replay = path.join(this.dir, 'replay');
    for (const l of chosen) {
      fs.renameSync(path.join(this.dir, `${l.id}.batch`), path.join(replay, `${l.id}.batch`));
      fs.renameSync(path.join(this.dir, `${l.id}.json`), path.join(replay, `${l.id}.json`));
      this.ids.delete(l.id);
    }
    return chosen;
  }
}

function listIn(dir: string): DeadLetter[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json') && fs.existsSync(path.join(dir, `${f.slice(0, -5)}.batch`)))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as DeadLetter)
    .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

async function writeDurably(file: string, bytes: Buffer): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.writeFile(bytes);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
}
