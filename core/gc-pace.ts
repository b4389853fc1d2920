/**
 * Frees the garbage of bulk sends soon, instead of when V8 gets round to it.
 *
 * grpc-js frames every message it sends in a fresh Buffer, a copy of the batch plus 5 bytes
 * (compression-filter.js `writeMessage`): about 2 MB of malloc'd memory per tail batch, dead as
 * soon as the socket has taken it. V8 sees it only as external memory behind small young objects,
 * and frees it when the young generation fills with JS objects or external memory has grown by
 * tens of MB; an agent draining a backlog carried 30–60 MB of dead frames that way (issue 16,
 * item 9: the agent's RSS under 150 MB). A young-generation collection every `everyBytes` sent
 * frees them while they are few; little of the young generation is alive, so it is cheap.
 * Measured on agent-backlog (1 GB, one sitting, load 4–12): 16 MB window 182–214 MB peak RSS,
 * pacing alone 174–178, the 8 MB window alone 165, both 142–149; events/s within the spread.
 * Pooled batches are now framed in place (core/grpc/frame-in-place.ts), so the frames are gone
 * where that works; the pacing still frees what is left: frames of messages not from the pool,
 * and batch buffers the pool had no room to keep.
 *
 * How: V8 installs its `gc` function in contexts created after `--expose-gc` is set, so the flag
 * is set at run time and `gc` taken from a fresh vm context; the process's own global scope never
 * gets one. Where that fails (a V8 that freezes its flags), pacing is off and nothing else changes.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

/** Without options: a full collection, which also clears WeakRefs (`{type: 'major'}` does not). */
type GcFunction = (options?: { type: 'minor' | 'major'; execution: 'sync' | 'async' }) => unknown;

let collect: GcFunction | null | undefined;

/** V8's `gc` for this process (see the header), or null where it cannot be had. */
export function gcFunction(): GcFunction | null {
  if (collect !== undefined) return collect;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn: unknown = vm.runInNewContext('typeof gc === "function" ? gc : null');
    collect = typeof fn === 'function' ? (fn as GcFunction) : null;
  } catch {
    collect = null;
  }
  return collect;
}

/** Counts bytes handed to a socket and asks for a young-generation collection every `everyBytes`. */
export class GcPacer {
  private since = 0;

  constructor(private readonly everyBytes: number) {}

  /** Whether collections can be asked for at all (false: pacing is off). */
  static get available(): boolean {
    return gcFunction() !== null;
  }

  /** `bytes` more were sent; they are garbage once written. */
  sent(bytes: number): void {
    this.since += bytes;
    if (this.since < this.everyBytes) return;
    this.since = 0;
    void gcFunction()?.({ type: 'minor', execution: 'async' });
  }
}
