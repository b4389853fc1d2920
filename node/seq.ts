/**
 * Batch sequence numbers unique per origin across restarts, without a disk write per batch.
 *
 * `<dataDir>/seq` holds the end of the block of numbers reserved so far. Opening reads it and
 * reserves the next block (a new `seq.tmp` renamed over `seq`, then the directory fsynced); the
 * numbers handed out come from the reserved block, and a new block is reserved, synchronously,
 * when it runs out. A crash loses at most the rest of a block: numbers skip, never repeat.
 *
 * `seq` is a symbolic link whose target is the number (`readlink seq`; core/link-text.ts), so a
 * node opens on a disk another process filled to the last byte.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FlumeError } from '../core/errors';
import { readLinkText, writeLinkText } from '../core/link-text';

const SEQ_BLOCK = 100_000;
const FILE = 'seq';

export class SequenceAllocator {
  private next: number;
  private reservedEnd: number;

  private constructor(
    private readonly dir: string,
    start: number,
    private readonly block: number,
  ) {
    this.next = start;
    this.reservedEnd = start - 1;
  }

  /** Opens (creating) the allocator of a data directory; the first number is ≥ 1. */
  static open(dir: string, block = SEQ_BLOCK): SequenceAllocator {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, FILE);
    let end = 0;
    try {
      const text = readLinkText(file).trim();
      end = Number(text);
      if (!Number.isSafeInteger(end) || end < 0) throw new FlumeError(`sequence file ${file} holds ${JSON.stringify(text)}, not a count`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const alloc = new SequenceAllocator(dir, end + 1, block);
    alloc.reserve();
    return alloc;
  }

  nextSeq(): number {
    if (this.next > this.reservedEnd) this.reserve();
    return this.next++;
  }

  private reserve(): void {
    const end = this.next + this.block - 1;
    writeLinkText(path.join(this.dir, FILE), String(end));
    this.reservedEnd = end;
  }
}
