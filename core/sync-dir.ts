/** Makes a directory's entries durable (a file created, renamed or removed in it): fsync of the directory itself. */
import * as fs from 'node:fs/promises';

export async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
