/**
 * HPACK (RFC 7541) for the master's own HTTP/2 server (h2-connection.ts) and the benchmark's
 * caller: a full decoder (static and dynamic tables, Huffman strings, table size updates) and an
 * encoder of literal fields that never touches the dynamic table, so an encoded header block can
 * be built once and sent any number of times.
 */

/** RFC 7541 Appendix A. Index 0 is unused. */
const STATIC: ReadonlyArray<readonly [string, string]> = [
  ['', ''], [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/**
 * Code length in bits of each symbol 0..256 (256 = EOS) of the HPACK Huffman code, as
 * `'0' + length`. The code is canonical (codes assigned in order of length, then symbol), so
 * the lengths alone define it.
 */
const HUFFMAN_LENGTHS = '=GLLLLLLLHNLLNLLLLLLLLNLLLLLLLLL6::<=68;::8;8666555666666678?6<:=67777777777777777777777878=C=>6?56565666577666567655677777?;>=LDFDDFFFGFGGGGGHGHHFGHGGGGEFGFGGHFEDFFGGEGFFHEFGGEEFEGFGGDFFFGFFGJJDCFGFIJJJKKJHICEJKKJKHEEJJLKKKDHDEFEEGFFIIHHJGJKJJKKKKKLKKKKKJN';

const EOS = 256;

/** The decoding tree: node n has children at tree[2n] (bit 0) and tree[2n+1] (bit 1); a leaf is -(symbol + 1). */
const TREE: Int32Array = (() => {
  const lengths = Array.from(HUFFMAN_LENGTHS, (c) => c.charCodeAt(0) - 48);
  const order = lengths.map((_, s) => s).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const tree = new Int32Array(2 * 2 * 257).fill(0);
  let nodes = 1;
  let code = 0;
  for (let i = 0; i < order.length; i++) {
    const s = order[i];
    if (i > 0) code = (code + 1) * 2 ** (lengths[s] - lengths[order[i - 1]]);
    let node = 0;
    for (let bit = lengths[s] - 1; bit >= 0; bit--) {
      const slot = 2 * node + (Math.floor(code / 2 ** bit) & 1);
      if (bit === 0) tree[slot] = -(s + 1);
      else {
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot];
      }
    }
  }
  return tree;
})();

export class HpackError extends Error {}

/**
 * Where Huffman strings are decoded before becoming JS strings: one for the process, since a
 * decode runs to completion on the event loop (a buffer per decoder would cost 64 KiB for each of
 * thousands of node connections). A string decodes to at most 8/5 of its encoded length.
 */
let scratch: Buffer | undefined;

function huffmanDecode(src: Buffer, start: number, end: number): string {
  scratch ??= Buffer.allocUnsafe(64 * 1024);
  if (Math.ceil(((end - start) * 8) / 5) > scratch.length) scratch = Buffer.allocUnsafe(Math.ceil(((end - start) * 8) / 5));
  let out = 0;
  let node = 0;
  let depth = 0; // bits since the last symbol, all ones so far if `ones`
  let ones = true;
  for (let i = start; i < end; i++) {
    const byte = src[i];
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >> bit) & 1;
      const next = TREE[2 * node + b];
      depth++;
      ones &&= b === 1;
      if (next < 0) {
        const sym = -next - 1;
        if (sym === EOS) throw new HpackError('EOS inside a Huffman string');
        scratch[out++] = sym;
        node = 0;
        depth = 0;
        ones = true;
      } else {
        node = next;
      }
    }
  }
  if (depth > 7 || !ones) throw new HpackError('bad Huffman padding');
  return scratch.toString('latin1', 0, out);
}

/** Decodes the header blocks of one connection, in order (the dynamic table is shared by all). */
export class HpackDecoder {
  private readonly dynamic: Array<[string, string]> = [];
  private size = 0;
  private pos = 0;

  constructor(private maxSize = 4096) {}

  /** Calls `onField(name, value)` for each field of `block` in order. */
  decode(block: Buffer, onField: (name: string, value: string) => void): void {
    this.pos = 0;
    while (this.pos < block.length) {
      const b = block[this.pos];
      if (b & 0x80) {
        const [name, value] = this.entry(this.int(block, 7));
        onField(name, value);
      } else if (b & 0x40) {
        const index = this.int(block, 6);
        const name = index === 0 ? this.str(block) : this.entry(index)[0];
        const value = this.str(block);
        this.insert(name, value);
        onField(name, value);
      } else if (b & 0x20) {
        const size = this.int(block, 5);
        if (size > 4096) throw new HpackError(`table size update to ${size} over the limit`);
        this.maxSize = size;
        this.evict(0);
      } else {
        const index = this.int(block, 4); // without indexing (0000) or never indexed (0001)
        const name = index === 0 ? this.str(block) : this.entry(index)[0];
        onField(name, this.str(block));
      }
    }
  }

  private entry(index: number): readonly [string, string] {
    if (index > 0 && index < STATIC.length) return STATIC[index];
    const e = this.dynamic[index - STATIC.length];
    if (!e) throw new HpackError(`no header table entry ${index}`);
    return e;
  }

  private insert(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.evict(size);
    if (size <= this.maxSize) {
      this.dynamic.unshift([name, value]);
      this.size += size;
    }
  }

  private evict(room: number): void {
    while (this.dynamic.length > 0 && this.size + room > this.maxSize) {
      const [n, v] = this.dynamic.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }

  private int(block: Buffer, prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let value = block[this.pos++] & mask;
    if (value < mask) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= block.length || shift > 28) throw new HpackError('bad integer');
      const b = block[this.pos++];
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
  }

  private str(block: Buffer): string {
    if (this.pos >= block.length) throw new HpackError('truncated header block');
    const huffman = (block[this.pos] & 0x80) !== 0;
    const length = this.int(block, 7);
    const start = this.pos;
    this.pos += length;
    if (this.pos > block.length) throw new HpackError('truncated header block');
    return huffman ? huffmanDecode(block, start, this.pos) : block.toString('latin1', start, this.pos);
  }
}

function encodeInt(out: number[], first: number, prefixBits: number, value: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(first | value);
    return;
  }
  out.push(first | mask);
  value -= mask;
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

/**
 * A header block of literal fields without indexing (plain strings, names by static index when
 * there is one). Depends on no decoder state, so it can be sent any number of times.
 */
export function encodeHeaderBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const full = STATIC.findIndex(([n, v], i) => i > 0 && n === name && v === value);
    if (full > 0) {
      encodeInt(out, 0x80, 7, full);
      continue;
    }
    const named = STATIC.findIndex(([n], i) => i > 0 && n === name);
    if (named > 0) encodeInt(out, 0x00, 4, named);
    else {
      out.push(0x00);
      encodeInt(out, 0x00, 7, Buffer.byteLength(name, 'latin1'));
      out.push(...Buffer.from(name, 'latin1'));
    }
    encodeInt(out, 0x00, 7, Buffer.byteLength(value, 'latin1'));
    out.push(...Buffer.from(value, 'latin1'));
  }
  return Buffer.from(out);
}

/** A dynamic table size update instruction (RFC 7541 6.3), to start the next header block. */
export function tableSizeUpdate(size: number): Buffer {
  const out: number[] = [];
  encodeInt(out, 0x20, 5, size);
  return Buffer.from(out);
}
