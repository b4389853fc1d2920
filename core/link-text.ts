/**
 * A few bytes of a node's state (its sequence block, its storage writer id) kept as the target
 * of a symbolic link instead of in a regular file: a short link lives in its inode, so it can be
 * written on a disk another process filled to the last byte (issue 16), where a file's first byte
 * needs a block. `readlink NAME` shows the text. A regular file of that name (older versions) is
 * still read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Replaces `file` with a link holding `text`, atomically and durably (a new link renamed over it, the directory fsynced). */
export function writeLinkText(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  fs.rmSync(tmp, { force: true }); // left by a crash between its creation and the rename
  fs.symlinkSync(text, tmp);
  fs.renameSync(tmp, file);
  const dirFd = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

/** The text of `file`: a link's target, or a regular file's content; throws ENOENT when there is none. */
export function readLinkText(file: string): string {
  try {
    return fs.readlinkSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    return fs.readFileSync(file, 'utf8');
  }
}
