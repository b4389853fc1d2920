/**
 * Batch sequence numbers unique per origin across restarts, without a disk write per batch.
 *
 * The file `<dataDir>/seq` holds the end of the block of numbers reserved so far. Opening reads
 * it and reserves the next block (write to a temp file, fsync, rename, fsync the directory); the
 * numbers handed out come from the reserved block, and a new block is reserved, synchronously,
 * when it runs out. A crash loses at most the rest of a block: numbers skip, never repeat.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FlumeError } from '../core/errors';

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
      const text = fs.readFileSync(file, 'utf8').trim();
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
    const file = path.join(this.dir, FILE);
    const tmp = `${file}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, `${end}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    const dirFd = fs.openSync(this.dir, 'r');
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
    this.reservedEnd = end;
  }
}
