/**
 * Finding the files a follower reads: by name, where a name that is gone is an answer (null), not
 * an error, and by identity (offset-store.ts), to find a file rotated away under another name.
 *
 * Contract: only ENOENT means "not there"; any other failure (permissions, I/O) throws, so the
 * follower keeps its position and tries again rather than taking the file for gone.
 * `findByIdentity` looks in one directory only (where rotation renames to) and treats an
 * unreadable directory or entry as no match.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type FileIdentity, identityOf, sameFile } from './offset-store';

/** Opens `name` for reading; null if it does not exist. */
export async function openOrNull(name: string): Promise<fs.promises.FileHandle | null> {
  try {
    return await fs.promises.open(name, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Stats `p`; null if it does not exist. */
export async function statOrNull(p: string): Promise<fs.Stats | null> {
  try {
    return await fs.promises.stat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The path in `dir` of the file with this identity, or null. */
export async function findByIdentity(dir: string, id: FileIdentity): Promise<string | null> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    return null;
  }
  for (const name of names) {
    const full = path.join(dir, name);
    const st = await statOrNull(full).catch(() => null);
    if (st !== null && st.isFile() && sameFile(identityOf(st), id)) return full;
  }
  return null;
}
