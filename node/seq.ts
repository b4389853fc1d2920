/**
 * Batch sequence numbers unique per origin across restarts, without a disk write per batch.
 *
 * `<dataDir>/seq` holds the end of the block of numbers reserved so far. Opening reads it and
 * reserves the next block (a new `seq.tmp` renamed over `seq`, then the directory fsynced); the
 * numbers handed out come from the reserved block, and a new block is reserved, synchronously,
 * when it runs out. A crash loses at most the rest of a block: numbers skip, never repeat.
 *
 * `seq` is a symbolic link whose target is the number (`readlink seq`), not a file holding it: a
 * short link lives in its inode, so a node opens on a disk another process filled to the last
 * byte (issue 16), where a file's first byte needs a block. A regular file (older versions) is
 * still read.
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
      const text = readSeq(file).trim();
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
    fs.rmSync(tmp, { force: true }); // left by a crash between its creation and the rename
    fs.symlinkSync(String(end), tmp);
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

/** The reserved end: a link's target, or a regular file's content (older versions). */
function readSeq(file: string): string {
  try {
    return fs.readlinkSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    return fs.readFileSync(file, 'utf8');
  }
}
