/**
 * What a user finds in a storage directory written by collectorSink / escapedFile: the data
 * files (finished or `.tmp`), leaving out hidden entries such as the writers' `.flume/`
 * bookkeeping, as log readers do.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Every data file under `root`, recursively, sorted by path (roll tags sort in time order). */
export function storageFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile()) out.push(full);
    }
  };
  walk(root);
  return out.sort();
}

/**
 * Every non-empty line of every data file under `root`, file by file. A live writer may rename a
 * `.tmp` file (it rolled) between the listing and the read: then the whole directory is read again.
 */
export function storageLines(root: string): string[] {
  for (let attempt = 1; ; attempt++) {
    try {
      const lines: string[] = [];
      for (const f of storageFiles(root)) {
        for (const line of fs.readFileSync(f, 'utf8').split('\n')) if (line) lines.push(line);
      }
      return lines;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 10) throw err;
    }
  }
}
