// Raw Snappy decompression (the block format, no framing) and LevelDB varints: what reading a
// compressed index block of a LevelDB, goleveldb or Pebble table needs. Snappy's format:
// github.com/google/snappy format_description.txt. No dependency: it is this small.

/** A varint at `pos`: [value, next position], or undefined when it runs past `end` or past 2^53. */
export function readVarint(buf: Buffer, pos: number, end = buf.length): [number, number] | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10 && pos + i < end; i++) {
    const b = buf[pos + i]!;
    value += (b & 0x7f) * scale;
    if (!(b & 0x80)) return value <= Number.MAX_SAFE_INTEGER ? [value, pos + i + 1] : undefined;
    scale *= 128;
  }
  return undefined;
}

/** Raw Snappy (no framing), as LevelDB, goleveldb and Pebble compress blocks. Throws on bad input. */
export function snappyDecompress(src: Buffer): Buffer {
  const head = readVarint(src, 0);
  if (!head || head[0] > 1 << 28) throw new Error('snappy: bad length');
  const [length, start] = head;
  const out = Buffer.alloc(length);
  let p = start;
  let o = 0;
  const need = (n: number) => {
    if (p + n > src.length) throw new Error('snappy: input ends inside an element');
  };
  while (p < src.length) {
    const tag = src[p++]!;
    let n: number;
    let back: number;
    if ((tag & 3) === 0) {
      n = tag >>> 2;
      if (n >= 60) {
        const bytes = n - 59;
        need(bytes);
        n = 0;
        for (let i = 0; i < bytes; i++) n += src[p + i]! * 2 ** (8 * i);
        p += bytes;
      }
      n += 1;
      need(n);
      if (o + n > length) throw new Error('snappy: literal past the stated length');
      src.copy(out, o, p, p + n);
      p += n;
      o += n;
      continue;
    }
    if ((tag & 3) === 1) {
      need(1);
      n = ((tag >>> 2) & 7) + 4;
      back = ((tag >>> 5) << 8) | src[p]!;
      p += 1;
    } else if ((tag & 3) === 2) {
      need(2);
      n = (tag >>> 2) + 1;
      back = src.readUInt16LE(p);
      p += 2;
    } else {
      need(4);
      n = (tag >>> 2) + 1;
      back = src.readUInt32LE(p);
      p += 4;
    }
    if (back === 0 || back > o || o + n > length) throw new Error('snappy: bad copy');
    for (let i = 0; i < n; i++, o++) out[o] = out[o - back]!;
  }
  if (o !== length) throw new Error(`snappy: ${o} bytes decoded, ${length} stated`);
  return out;
}

