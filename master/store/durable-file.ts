/**
 * Durable file writes on a worker thread, each resolved once all of it is done:
 * - `write`: replaces a file atomically (write a temp file, fsync it, rename it over the old one,
 *   fsync the directory). A crash leaves either the old file or the new one, never a torn one.
 * - `append`: appends to a file and fdatasyncs it (the file is created, and its directory
 *   fsynced, on the first append). A crash can leave the appended bytes torn: the reader checks.
 * - `truncate`: empties a file and fsyncs it.
 *
 * Why a thread: on the event loop the fsyncs stall every control stream of the fleet for their
 * duration (2 ms on average under a 10,000-node load, far more at worst); as a chain of
 * fs.promises calls each of the eight steps waits for a turn of a busy event loop (a commit
 * took 7 ms at the median and 75 ms at worst at 10,000 nodes, and a node hears of a commit only
 * after it). On the thread the steps run back to back: one message each way.
 *
 * Operations are done in the order they are asked for (one thread, one queue); the thread keeps
 * a file it appends to open until `close`. The thread does not keep the process alive.
 */
import { Worker } from 'node:worker_threads';
import { FlumeError } from '../../core/errors';

/** The thread: one write per message, answered with its id (and the error, if any). */
const WORKER_SOURCE = `
const fs = require('node:fs');
const { parentPort } = require('node:worker_threads');
const open = new Map();
function syncDir(dir) {
  const dirFd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}
function appendFd(file, dir) {
  let fd = open.get(file);
  if (fd === undefined) {
    const existed = fs.existsSync(file);
    fd = fs.openSync(file, 'a');
    open.set(file, fd);
    if (!existed) syncDir(dir);
  }
  return fd;
}
function closeAll() {
  for (const fd of open.values()) fs.closeSync(fd);
  open.clear();
}
parentPort.on('message', ({ id, op, file, dir, text }) => {
  try {
    if (op === 'append') {
      const fd = appendFd(file, dir);
      fs.writeFileSync(fd, text);
      fs.fdatasyncSync(fd);
    } else if (op === 'truncate') {
      const fd = appendFd(file, dir);
      fs.ftruncateSync(fd, 0);
      fs.fsyncSync(fd);
    } else if (op === 'close') {
      closeAll();
    } else {
      const tmp = file + '.tmp';
      const fd = fs.openSync(tmp, 'w');
      try {
        fs.writeFileSync(fd, text);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, file);
      syncDir(dir);
    }
    parentPort.postMessage({ id });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message), code: err && err.code });
  }
});
`;

/** A durable write failed (its message and errno code are the file system's). */
export class DurableWriteError extends FlumeError {
  constructor(
    readonly file: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(`could not write ${file}: ${message}`);
  }
}

interface Waiting {
  resolve: () => void;
  reject: (err: Error) => void;
  file: string;
}

export class DurableFileWriter {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  /** Replaces `file` (in directory `dir`) with `text`; resolves once it is durable. */
  write(file: string, dir: string, text: string): Promise<void> {
    return this.ask('replace', file, dir, text);
  }

  /** Appends `text` to `file` (in directory `dir`); resolves once it is durable. */
  append(file: string, dir: string, text: string): Promise<void> {
    return this.ask('append', file, dir, text);
  }

  /** Empties `file` (in directory `dir`); resolves once that is durable. */
  truncate(file: string, dir: string): Promise<void> {
    return this.ask('truncate', file, dir, '');
  }

  /** Closes the files kept open and stops the thread; operations still waiting are rejected. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (worker) await this.ask('close', '', '', '').catch(() => undefined);
    this.worker = undefined;
    if (worker) await worker.terminate();
    this.failAll('the writer was closed');
  }

  private ask(op: 'replace' | 'append' | 'truncate' | 'close', file: string, dir: string, text: string): Promise<void> {
    const worker = this.started();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, file });
      worker.postMessage({ id, op, file, dir, text });
    });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    worker.on('message', (m: { id: number; error?: string; code?: string }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error === undefined) w.resolve();
      else w.reject(new DurableWriteError(w.file, m.code, m.error));
    });
    const gone = (why: string): void => {
      if (this.worker === worker) this.worker = undefined;
      this.failAll(why);
    };
    worker.on('error', (err) => gone(`the writer thread failed: ${err.message}`));
    worker.on('exit', (code) => gone(`the writer thread exited (${code})`));
    this.worker = worker;
    return worker;
  }

  private failAll(why: string): void {
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id);
      w.reject(new DurableWriteError(w.file, undefined, why));
    }
  }
}
