/**
 * Following one file by path, one event per line, across rotation and truncation, and across
 * restarts: what `tail` (tail.ts), `tailDir` and `multitail` are made of.
 *
 * - The followed file is known by its identity (device + inode + creation time where the file
 *   system keeps one, offset-store.ts), not its name. When the name points to another file
 *   (rotation: rename + create), the old file is read to its end first, after a grace of one
 *   poll for late writes; a last line without newline is emitted then. When the same file
 *   becomes shorter than the read position, it was truncated: reading starts again at 0.
 * - The position (identity + offset after the last line put) is saved in `ctx.dataDir` only
 *   after the batch holding those lines has been put (offset-store.ts). On restart the source
 *   resumes there; if the file was rotated while the source was stopped, the old file is looked
 *   up by identity in the same directory and drained from the saved offset first.
 * - A partial last line is not emitted until its newline arrives (it is re-read, not buffered).
 * - A line over `maxEventBytes` is dropped up to its newline, and counted.
 *
 * Reads run in chunks of `readBytes` into one reused buffer; lines go straight into the batch
 * builder. Batches are put when full, and whenever the reader catches up with the writer. Reading
 * waits while two batches wait for their put (TAIL_BATCHING: a full channel or disk holds them).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ComponentContext, SourceOutput } from '../../core/component';
import { Priority } from '../../core/event';
import { BYTES_RECEIVED, ERRORS, EVENTS_RECEIVED } from '../../core/metrics';
import { EventBatcher } from './batcher';
import { Pause, type Rejects, SOURCE_DEFAULTS, TAIL_BATCHING } from './common';
import { findByIdentity, openOrNull, statOrNull } from './find-file';
import { type FileIdentity, type FilePosition, identityOf, OffsetStore, sameFile } from './offset-store';
import { Backoff } from '../../core/retry';

export interface TailOptions {
  file: string;
  /** With no saved position, start at the current end of the file instead of its beginning. */
  startFromEnd: boolean;
  maxEventBytes: number;
  /** How often to look again once caught up. */
  pollMs: number;
  /** Bytes read at a time. */
  readBytes: number;
  batchEvents: number;
  /** ... or this many encoded bytes. */
  batchBytes: number;
  /** Stop following once the name is gone and the file drained (tailDir), instead of waiting for it. */
  stopWhenGone: boolean;
  /** Told of each file read to its end and left (rotated away or gone). */
  onFileDone?: (id: FileIdentity) => void;
}

const TAIL_DEFAULTS: Omit<TailOptions, 'file'> = {
  startFromEnd: false,
  maxEventBytes: SOURCE_DEFAULTS.maxEventBytes,
  pollMs: SOURCE_DEFAULTS.pollMs,
  readBytes: 1024 * 1024,
  // A tail puts its batches one at a time (its saved position must never pass the channel), so
  // each put costs a channel commit: larger batches than push sources keep it off the fsync rate.
  // Measured through the pipeline (tail, agent WAL, collector WAL, files): 16,000 lines a batch
  // move 15-30% more than 4,000, for ~30 MB more memory per agent.
  batchEvents: 16 * SOURCE_DEFAULTS.batchEvents,
  batchBytes: 4 * 1024 * 1024,
  stopWhenGone: false,
};

/** `partial`, at the end: bytes of a last line without newline (still in the read buffer). */
type ReadResult = { progress: boolean; partial: number };

/** Follows one path. Used by `tail` (one) and `tailDir` (one per matching file). */
export class TailFollower {
  private readonly opts: TailOptions;
  private readonly store: OffsetStore;
  private readonly batcher: EventBatcher;
  private fh: fs.promises.FileHandle | null = null;
  private id: FileIdentity = { dev: 0, ino: 0, birth: 0 };
  /** Offset of the first byte not yet turned into an event (or dropped). */
  private readPos = 0;
  private buf: Buffer;
  private skipping = false;
  private skipped = 0;
  /** The skip is of the rest of a line started before `startFromEnd`'s position: not a rejection. */
  private skipQuietly = false;
  private closing = false;
  private readonly pause = new Pause();
  private running: Promise<void> | null = null;
  private failed = false;
  private lastCheckpoint: FilePosition | null = null;
  /** The newest checkpoint whose pending save has run; an older one must not overwrite it. */
  private savedGeneration = 0;
  private generation = 0;
  /** The file the name points to after a rotation, held open while the old one is drained. */
  private next: fs.promises.FileHandle | null = null;
  /** When a rotation was first seen (0: none pending), and when the name was first found gone. */
  private rotatedAt = 0;
  private goneAt = 0;
  private markPositioned: () => void = () => undefined;
  private readonly positioned = new Promise<void>((resolve) => (this.markPositioned = resolve));

  private readonly out: SourceOutput;

  constructor(
    private readonly ctx: ComponentContext,
    out: SourceOutput,
    options: Partial<TailOptions> & { file: string },
    private readonly rejects: Rejects,
  ) {
    this.opts = { ...TAIL_DEFAULTS, ...options };
    this.store = new OffsetStore(ctx.dataDir, this.opts.file, (err) => {
      ctx.counters.add(ERRORS, 1);
      ctx.logger.error('Saving the tail position failed.', { file: this.opts.file, error: String(err) });
    });
    this.batcher = new EventBatcher(out, ctx, { ...TAIL_BATCHING, maxEvents: this.opts.batchEvents, maxBytes: this.opts.batchBytes });
    this.out = out;
    this.buf = Buffer.allocUnsafe(Math.min(this.opts.readBytes, this.opts.maxEventBytes + 2));
  }

  get file(): string {
    return this.opts.file;
  }

  /** Identity of the file currently followed (0/0 before it exists). */
  get identity(): FileIdentity {
    return this.id;
  }

  /** Resolves when the follower has stopped by itself (stopWhenGone) or by `stop()`. */
  start(): Promise<void> {
    this.running ??= this.run().catch((err) => {
      this.ctx.counters.add(ERRORS, 1);
      this.ctx.logger.error('Tail stopped on an error.', { file: this.opts.file, error: String(err) });
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.closing = true;
    this.pause.wake();
    this.batcher.endHold(0); // a batch a full disk holds back is read again after a restart
    await this.running;
    if (!this.failed && this.fh !== null) this.checkpoint();
    if (this.failed) this.batcher.discard(); // nothing may go in after a batch given up
    await this.batcher.drain();
    await this.store.close();
    await this.closeFile();
    await this.next?.close();
    this.next = null;
  }

  /** Resolves once the follower has taken up its starting position (or failed to). */
  get ready(): Promise<void> {
    return this.positioned;
  }

  private async run(): Promise<void> {
    let errors = 0;
    // A file that cannot be opened or read (permissions, I/O) is tried again, less and less often.
    const backoff = new Backoff({ initialMs: this.opts.pollMs * 4, maxMs: this.opts.pollMs * 100, jitter: 'decorrelated' });
    for (;;) {
      try {
        await this.resume();
        break;
      } catch (err) {
        this.ctx.counters.add(ERRORS, 1);
        if (errors++ % 100 === 0)
          this.ctx.logger.error('Opening the file failed; trying again.', { file: this.opts.file, errors, error: String(err) });
        this.markPositioned();
        await this.idle(backoff.next());
        if (this.closing) return;
      }
    }
    this.markPositioned();
    backoff.reset();
    while (!this.closing && !this.failed) {
      try {
        if (await this.step()) return;
        backoff.reset();
      } catch (err) {
        // A read or stat failed (permissions, I/O): keep the position and try again later.
        this.ctx.counters.add(ERRORS, 1);
        if (errors++ % 100 === 0)
          this.ctx.logger.error('Following the file failed; trying again.', { file: this.opts.file, errors, error: String(err) });
        await this.idle(backoff.next());
      }
    }
  }

  /** One round of following: read, or look for rotation/truncation and wait. True: stop for good. */
  private async step(): Promise<boolean> {
    if (this.batcher.congested) return this.batcher.waitBelow().then(() => false); // a full channel (or disk)
    if (this.fh === null) {
      if (await this.openFile(this.opts.file, 0)) {
        this.checkpoint();
        return false;
      }
      if (this.opts.stopWhenGone) return true;
      await this.idle();
      return false;
    }
    const readAt = Date.now();
    const r = await this.readChunk();
    if (r.progress) return false;
    this.checkpoint(); // caught up: put what we have
    const st = await statOrNull(this.opts.file);
    if (st !== null && !sameFile(identityOf(st), this.id)) {
      // Rotated. Late writes to the old file are read until an empty read that began a full poll
      // after the rotation was seen (a slow open or stat on a busy machine is no grace).
      this.goneAt = 0;
      if (this.rotatedAt === 0) {
        // Hold the new file at once, so that a second rotation during the grace cannot hide it.
        this.rotatedAt = Date.now();
        this.next = await openOrNull(this.opts.file);
      }
      if (readAt - this.rotatedAt < this.opts.pollMs) {
        await this.idle();
        return false;
      }
      this.rotatedAt = 0;
      this.ctx.logger.info('File rotated; following the new one.', { file: this.opts.file });
      await this.finishFile(r.partial);
      const next = this.next;
      this.next = null;
      if (next !== null) {
        await this.adopt(next, 0);
        this.checkpoint();
      }
      return false;
    }
    this.rotatedAt = 0;
    if (st === null) {
      // Renamed away, not (yet) replaced: keep reading the old file for late writes.
      if (this.goneAt === 0) this.goneAt = Date.now();
      if (this.opts.stopWhenGone && readAt - this.goneAt >= this.opts.pollMs) {
        await this.finishFile(r.partial);
        return true;
      }
    } else {
      this.goneAt = 0;
      if (st.size < this.readPos) {
        this.ctx.logger.info('File truncated; reading from its start.', { file: this.opts.file, size: st.size, position: this.readPos });
        this.readPos = 0;
        this.skipping = false;
        this.checkpoint();
        return false;
      }
    }
    await this.idle();
    return false;
  }

  /** Picks up where the saved position says, draining a file rotated while we were stopped. */
  private async resume(): Promise<void> {
    let saved: FilePosition | null = null;
    try {
      saved = this.store.load();
    } catch (err) {
      this.ctx.counters.add(ERRORS, 1);
      this.ctx.logger.error('The saved tail position is unreadable; starting as if there were none.', {
        file: this.opts.file,
        error: String(err),
      });
    }
    const st = await statOrNull(this.opts.file);
    if (saved === null) {
      const start = st !== null && this.opts.startFromEnd ? st.size : 0;
      if (st !== null && (await this.openFile(this.opts.file, start))) {
        this.lastCheckpoint = { path: this.opts.file, ...this.id, offset: start };
        // Saved now, while the first batch is read: creating the position file is several file
        // system operations, which the first put would otherwise wait for.
        this.store.save(this.lastCheckpoint);
      }
      if (st !== null && this.fh !== null && this.opts.startFromEnd && st.size > 0) {
        // Starting inside a line that is being written: its rest is not a line of its own.
        const last = Buffer.alloc(1);
        await this.fh!.read(last, 0, 1, st.size - 1);
        if (last[0] !== 0x0a) {
          this.skipping = true;
          this.skipped = 0;
          this.skipQuietly = true;
        }
      }
      return;
    }
    if (st !== null && sameFile(identityOf(st), saved)) {
      if (saved.offset > st.size) {
        await this.openFile(this.opts.file, 0);
        this.lastCheckpoint = { ...saved, offset: 0, pending: undefined };
      } else if (await this.openFile(this.opts.file, saved.offset)) await this.resumeAt(saved, st.size);
      return;
    }
    const old = await findByIdentity(path.dirname(path.resolve(this.opts.file)), saved);
    if (old !== null) {
      this.ctx.logger.info('File rotated while stopped; draining the old one first.', { file: this.opts.file, old, offset: saved.offset });
      if (await this.openFile(old, saved.offset)) {
        await this.resumeAt(saved, (await this.fh!.stat()).size);
        for (;;) {
          const r = await this.readChunk();
          if (this.failed) return;
          if (!r.progress) {
            await this.finishFile(r.partial);
            break;
          }
        }
      }
    } else {
      this.ctx.logger.warn('File replaced while stopped and the old one is gone; its unread lines are lost.', {
        file: this.opts.file,
        offset: saved.offset,
      });
    }
    if (await this.openFile(this.opts.file, 0)) this.checkpoint();
  }

  private async openFile(name: string, position: number): Promise<boolean> {
    await this.closeFile();
    const fh = await openOrNull(name);
    if (fh === null) return false;
    await this.adopt(fh, position);
    return true;
  }

  private async adopt(fh: fs.promises.FileHandle, position: number): Promise<void> {
    await this.closeFile();
    const st = await fh.stat();
    this.fh = fh;
    this.id = identityOf(st);
    this.readPos = position;
    this.skipping = false;
    this.skipQuietly = false;
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (fh) await fh.close();
  }

  /** Reads from `readPos`, turning every complete line into an event. */
  private async readChunk(): Promise<ReadResult> {
    const { bytesRead: n } = await this.fh!.read(this.buf, 0, this.buf.length, this.readPos);
    if (n === 0) return { progress: false, partial: 0 };
    const buf = this.buf.subarray(0, n);
    const builder = this.batcher.builder;
    const host = this.ctx.host;
    const max = this.opts.maxEventBytes;
    const now = Date.now();
    let p = 0;
    let lines = 0;
    if (this.skipping) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        this.skipped += n;
        this.readPos += n;
        return { progress: true, partial: 0 };
      }
      this.skipping = false;
      if (!this.skipQuietly) this.rejects.reject(`line over the ${max}-byte limit`, this.skipped + nl, { file: this.opts.file });
      this.skipQuietly = false;
      p = nl + 1;
    }
    for (;;) {
      p = builder.appendLines(buf, p, n, max, this.batcher.maxEvents, this.batcher.maxBytes, now, Priority.INFO, host);
      lines += builder.lastLines;
      if (this.batcher.full) {
        this.checkpoint(this.readPos + p);
        await this.batcher.waitBelow();
        if (this.failed) break;
        continue;
      }
      // Not full: what stopped it is the end of the complete lines, or a line over the limit.
      const nl = buf.indexOf(0x0a, p);
      if (nl < 0) break;
      const e = nl > p && buf[nl - 1] === 0x0d ? nl - 1 : nl;
      lines++;
      this.rejects.reject(`line over the ${max}-byte limit`, e - p, { file: this.opts.file });
      p = nl + 1;
    }
    if (lines > 0) this.ctx.counters.add(EVENTS_RECEIVED, lines);
    this.ctx.counters.add(BYTES_RECEIVED, p);
    if (p > 0) {
      this.readPos += p;
      return { progress: true, partial: 0 };
    }
    if (n < this.buf.length) return { progress: false, partial: n };
    // One line fills the whole buffer: grow it up to the limit, or drop the line.
    if (this.buf.length <= max) {
      const bigger = Buffer.allocUnsafe(Math.min(this.buf.length * 2, max + 2));
      this.buf = bigger;
      return { progress: true, partial: 0 };
    }
    this.skipping = true;
    this.skipped = n;
    this.readPos += n;
    return { progress: true, partial: 0 };
  }

  /** The file is done (rotated or gone): its last line without newline is a line too. */
  private async finishFile(partial: number): Promise<void> {
    if (partial > 0 && !this.skipping) {
      const r = await this.fh!.read(this.buf, 0, partial, this.readPos);
      if (r.bytesRead === partial) {
        this.batcher.builder.append(this.buf.subarray(0, partial), Date.now(), Priority.INFO, this.ctx.host);
        this.ctx.counters.add(EVENTS_RECEIVED, 1);
        this.readPos += partial;
      }
    }
    this.checkpoint();
    await this.batcher.flush().catch(() => undefined);
    this.opts.onFileDone?.(this.id);
    await this.closeFile();
  }

  /**
   * Puts the open batch and, once it is put, saves `offset` of the current file as the position.
   * Puts and saves happen in call order, so a saved position never runs ahead of the channel.
   */
  private checkpoint(offset = this.readPos): void {
    const last = this.lastCheckpoint;
    const count = this.batcher.builder.count;
    if (count === 0 && last !== null && last.offset === offset && sameFile(last, this.id)) return;
    const pos: FilePosition = { path: this.opts.file, ...this.id, offset };
    this.lastCheckpoint = pos;
    const generation = ++this.generation;
    let seq: number | undefined;
    let beforePut: (() => Promise<void>) | undefined;
    // The batch holds exactly the bytes from the last checkpoint of this file to `offset`: say so
    // before putting it, so a restart can put the same bytes under the same id.
    if (count > 0 && last !== null && sameFile(last, this.id) && last.offset < offset) {
      seq = this.out.nextSeq();
      const pending = { ...last, pending: { end: offset, seq } };
      beforePut = async () => {
        if (this.failed) throw new Error('the tail stopped at an earlier batch'); // not past its lines
        this.savedGeneration = generation;
        this.store.save(pending);
        await this.store.flush();
      };
    }
    this.putThenSave(seq, beforePut, pos, generation);
  }

  /** Puts the open batch and, once it is in, saves `pos` (unless a later save covers it). */
  private putThenSave(seq: number | undefined, beforePut: (() => Promise<void>) | undefined, pos: FilePosition, gen: number): void {
    this.batcher.flush(seq, beforePut).then(
      () => {
        // After a refused batch no position may pass it; a later pending save may cover this one.
        if (!this.failed && this.savedGeneration <= gen) {
          this.savedGeneration = gen;
          this.store.save(pos);
        }
      },
      (err: unknown) => {
        // Refused (closed, over a limit, or still at stop): stop here, so the saved position stays
        // before the lost lines and a restart reads them again.
        if (!this.failed) this.ctx.logger.error('Tail stops: a batch could not be put.', { file: this.opts.file, error: String(err) });
        this.failed = true;
        this.pause.wake();
      },
    );
  }

  /** Takes up a saved position in the open file, first putting again a batch left pending. */
  private async resumeAt(saved: FilePosition, size: number): Promise<void> {
    if (saved.pending && saved.pending.end <= size) this.readPos = await this.replayPending(saved);
    else this.lastCheckpoint = { ...saved, pending: undefined };
  }

  /**
   * A crash may have left the batch of `saved.pending` put or not: put the same bytes again
   * under the same id (the storage writer drops it if it got there) and go on after it.
   */
  private async replayPending(saved: FilePosition): Promise<number> {
    const pending = saved.pending!;
    const length = pending.end - saved.offset;
    const bytes = Buffer.allocUnsafe(length);
    const { bytesRead } = await this.fh!.read(bytes, 0, length, saved.offset);
    if (bytesRead < length) return saved.offset;
    const builder = this.batcher.builder;
    const now = Date.now();
    let p = 0;
    for (;;) {
      const nl = bytes.indexOf(0x0a, p);
      if (nl < 0) break;
      const e = nl > p && bytes[nl - 1] === 0x0d ? nl - 1 : nl;
      if (e - p <= this.opts.maxEventBytes) builder.append(bytes.subarray(p, e), now, Priority.INFO, this.ctx.host);
      p = nl + 1;
    }
    if (p < length) {
      // The range ended with a last line without newline (a rotated file's tail).
      builder.append(bytes.subarray(p, length), now, Priority.INFO, this.ctx.host);
    }
    this.ctx.logger.info('Putting again the batch a stop left unconfirmed.', { file: this.opts.file, seq: pending.seq, bytes: length });
    // Not waited for (a full disk holds it back like any batch); the batches after it follow it.
    const pos: FilePosition = { path: saved.path, dev: saved.dev, ino: saved.ino, birth: saved.birth, offset: pending.end };
    this.lastCheckpoint = pos;
    this.putThenSave(pending.seq, undefined, pos, ++this.generation);
    return pending.end;
  }

  private idle(ms = this.opts.pollMs): Promise<void> {
    return this.pause.sleep(ms);
  }
}
