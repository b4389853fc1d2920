/**
 * Batch buffers reused instead of allocated per batch.
 *
 * A source's batch is a few MB. Allocated fresh, every one is external memory that V8 answers
 * with a full GC every few tens of MB, and fresh pages to fault in: at 1M events/s that was about
 * a quarter of the agent's CPU. Builders take their output from `batchPool`, and a channel gives a
 * batch's buffer back once the batch is acked for good (taken and committed): nothing holds a
 * batch after that. A collector copies each batch it receives into one (collector/source/
 * append-stream.ts). Only buffers the pool made are kept; anything else given back is ignored,
 * so a channel may give back every batch it acks.
 *
 * Every buffer handed out starts `headroom` bytes into its memory: the agent sink writes gRPC's
 * 5-byte message prefix there and sends the batch without a copy (core/grpc/frame-in-place.ts).
 */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  private freeBytes = 0;
  private readonly made = new WeakSet<ArrayBuffer>();
  /** The buffer handed out last for each memory not given back since: the one whose headroom is free. */
  private readonly handedOut = new WeakMap<ArrayBuffer, Buffer>();

  /**
   * `maxFreeBytes`: what unused buffers may hold in all; `granule`: sizes are rounded up to a
   * multiple of it; `headroom`: bytes left free in front of every buffer handed out.
   */
  constructor(
    private readonly maxFreeBytes: number,
    private readonly granule = 1024 * 1024,
    readonly headroom = 0,
  ) {}

  /** A buffer of exactly `size` bytes (a view of a pooled one, after its headroom); its contents are arbitrary. */
  take(size: number): Buffer {
    const need = size + this.headroom;
    for (let i = this.free.length - 1; i >= 0; i--) {
      const ab = this.free[i];
      if (ab.byteLength >= need) {
        this.free.splice(i, 1);
        this.freeBytes -= ab.byteLength;
        return this.handOut(ab, size);
      }
    }
    const ab = Buffer.allocUnsafeSlow(Math.ceil(need / this.granule) * this.granule).buffer as ArrayBuffer;
    this.made.add(ab);
    return this.handOut(ab, size);
  }

  /** Gives back a buffer `take` returned, once nothing refers to it any more. */
  give(buf: Buffer): void {
    const ab = buf.buffer as ArrayBuffer;
    this.handedOut.delete(ab);
    if (!this.made.has(ab) || this.freeBytes + ab.byteLength > this.maxFreeBytes || this.free.includes(ab)) return;
    this.free.push(ab);
    this.freeBytes += ab.byteLength;
  }

  /**
   * Never reuse `buf`: something the pool cannot see may still read it (a batch dropped while
   * the gRPC library may still hold it for a send).
   */
  forget(buf: Buffer): void {
    this.made.delete(buf.buffer as ArrayBuffer);
    this.handedOut.delete(buf.buffer as ArrayBuffer);
  }

  /**
   * Whether `buf` is, itself, a buffer `take` returned and not given back: then the `headroom`
   * bytes in front of it belong to it alone (not so for a slice of one, or a copy).
   */
  ownsHeadroom(buf: Buffer): boolean {
    return this.headroom > 0 && this.handedOut.get(buf.buffer as ArrayBuffer) === buf;
  }

  private handOut(ab: ArrayBuffer, size: number): Buffer {
    const buf = Buffer.from(ab, this.headroom, size);
    if (this.headroom > 0) this.handedOut.set(ab, buf);
    return buf;
  }

  /** Unused buffers held now. */
  get size(): number {
    return this.free.length;
  }
}

/** Bytes in front of every pooled batch: gRPC's message prefix (a flag byte and a 32-bit length). */
export const GRPC_FRAME_PREFIX = 5;

/**
 * Up to 8 MB of free buffers, in sizes rounded to 256 KB. A busy node gives back a buffer for
 * about every one it takes (a batch acked, the next one read or built), so a few spare ones keep
 * it from allocating; more only held memory the process never returned (it kept an agent over
 * its 150 MB budget). The finer granule wastes less of each ~2 MB tail batch than 1 MB did.
 */
export const batchPool = new BufferPool(8 * 1024 * 1024, 256 * 1024, GRPC_FRAME_PREFIX);

/**
 * A scratch buffer with room for `extra` more bytes after its first `used`: `buf` itself when it
 * has the room, else a new one of at least twice the size holding a copy of those bytes.
 */
export function withRoom<B extends Buffer>(buf: B, used: number, extra: number): B {
  if (used + extra <= buf.length) return buf;
  let size = Math.max(1, buf.length) * 2;
  while (size < used + extra) size *= 2;
  const next = Buffer.allocUnsafe(size);
  buf.copy(next, 0, 0, used);
  return next as B;
}
