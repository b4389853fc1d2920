/**
 * A file that only grows by whole writes: what a storage writer, its journal and its index of
 * stored ids append to.
 *
 * A full disk makes `write(2)` short (some bytes written, no error) or fail midway. Taking a short
 * write as whole acks bytes that never reached the file, and leaving the part that did reach it
 * makes a torn line the next write glues onto. So:
 * - `append` writes every byte at `size` (positioned writes, looping over short ones) and only
 *   then moves `size` on. If a write fails, the file is cut back to `size` (truncating needs no
 *   space) and the error goes to the caller, who retries the same bytes later (a full disk is
 *   retriable: core/errors.ts).
 * - `cutBack(offset)` drops what was appended after `offset`: a batch written to several files
 *   that failed in one is taken back from all of them.
 * - If a cut back fails too, the file is marked torn and the next `append`, `cutBack` or `sync`
 *   cuts it first: a torn tail never stays under bytes written after it.
 *
 * Callers serialise calls on one file (each writer has its one queue).
 */
import * as fs from 'node:fs/promises';

export class AppendFile {
  /** Bytes written whole; the file is never longer once a call has settled, except while torn. */
  size: number;
  private torn = false;

  private constructor(
    readonly path: string,
    readonly handle: fs.FileHandle,
    size: number,
  ) {
    this.size = size;
  }

  /**
   * Opens `file` for appending at its end. `exclusive`: it must not exist (a fresh `.tmp` name).
   * Never opened with O_APPEND: positioned writes must land where `size` says.
   */
  static async open(file: string, exclusive = false): Promise<AppendFile> {
    const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | (exclusive ? fs.constants.O_EXCL : 0);
    const handle = await fs.open(file, flags, 0o666);
    try {
      return new AppendFile(file, handle, (await handle.stat()).size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Writes all of `data` at the end; on failure the file is as it was before the call. */
  async append(data: Uint8Array | string): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.torn) await this.cutBack(this.size);
    let written = 0;
    try {
      while (written < buf.length) {
        const { bytesWritten } = await this.handle.write(buf, written, buf.length - written, this.size + written);
        // write(2) returns 0 for a non-empty buffer only when nothing can be written at all.
        if (bytesWritten === 0) throw Object.assign(new Error(`no byte could be written to ${this.path}`), { code: 'EIO' });
        written += bytesWritten;
      }
    } catch (err) {
      if (written > 0) await this.cutBack(this.size).catch(() => undefined);
      throw err;
    }
    this.size += buf.length;
  }

  /** Drops every byte from `offset` on. */
  async cutBack(offset: number): Promise<void> {
    // Until the truncate succeeds, the bytes past `offset` are a torn tail to cut first.
    this.size = offset;
    this.torn = true;
    await this.handle.truncate(offset);
    this.torn = false;
  }

  /** fdatasync, after cutting off a torn tail. */
  async sync(): Promise<void> {
    if (this.torn) await this.cutBack(this.size);
    await this.handle.datasync();
  }

  async close(): Promise<void> {
    if (this.torn) await this.cutBack(this.size).catch(() => undefined);
    await this.handle.close();
  }
}
