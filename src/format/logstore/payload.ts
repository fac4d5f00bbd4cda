// Reads a VersionEdit payload: unsigned varints (as bigint: 64-bit values do not fit a number) and
// length-prefixed byte strings. Running out of bytes throws VersionEditError in the engine's words:
// the record was complete, so a short payload is corruption, never an end of file.
import { VersionEditError } from './errors';

const U64 = 1n << 64n;
export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export type Engine = 'leveldb' | 'pebble';

export class PayloadReader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly engine: Engine,
    /** LevelDB names the whole entry in its error ("VersionEdit: new-file entry"). */
    public entry = '',
  ) {}

  get atEnd(): boolean {
    return this.pos >= this.buf.length;
  }

  fail(at: number, field: string, pebbleMessage: string): never {
    throw new VersionEditError(at, field, this.engine === 'leveldb' ? `VersionEdit: ${this.entry}` : pebbleMessage);
  }

  /**
   * A varint of at most `maxBytes` (LevelDB: 5 for varint32, 10 for varint64; Go's ReadUvarint: 10,
   * the last one 0 or 1). Higher bits are dropped as LevelDB's GetVarint does.
   */
  uvarint(field: string, maxBytes = 10, shortMessage = 'pebble: corrupt manifest: failed to read uvarint'): bigint {
    const start = this.pos;
    let v = 0n;
    for (let i = 0; ; i++) {
      if (i === maxBytes) this.fail(start, field, 'binary: varint overflows a 64-bit integer');
      const b = this.buf[this.pos];
      if (b === undefined) this.fail(start, field, shortMessage);
      this.pos++;
      if (this.engine === 'pebble' && i === 9 && b > 1) this.fail(start, field, 'binary: varint overflows a 64-bit integer');
      v |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return v % U64;
    }
  }

  /** A varint that must fit a JS number (file numbers, sizes: far below 2^53 in any real store). */
  number(field: string): number {
    const start = this.pos;
    const v = this.uvarint(field);
    if (v > MAX_SAFE) throw new VersionEditError(start, field, `${field} ${v} exceeds 2^53 (unsupported here)`);
    return Number(v);
  }

  /** A level: LevelDB's GetLevel (varint32 < 7), Pebble's readLevel (uvarint < 7). */
  level(field: string): number {
    const start = this.pos;
    const v = this.uvarint(field, this.engine === 'leveldb' ? 5 : 10);
    if (v >= 7n) this.fail(start, field, `pebble: corrupt manifest: level ${v} >= 7`);
    return Number(v);
  }

  /** A length-prefixed byte string (a view into the payload). */
  bytes(field: string): Buffer {
    const start = this.pos;
    const n = this.uvarint(field, this.engine === 'leveldb' ? 5 : 10);
    if (BigInt(this.buf.length - this.pos) < n) this.fail(start, field, `pebble: corrupt manifest: failed to read ${n} bytes`);
    const out = this.buf.subarray(this.pos, this.pos + Number(n));
    this.pos += Number(n);
    return out;
  }

  byte(field: string): number {
    const b = this.buf[this.pos];
    if (b === undefined) this.fail(this.pos, field, 'pebble: corrupt manifest: failed to read 1 bytes');
    this.pos++;
    return b;
  }
}

/** Unsigned LEB128 of a bigint or number (the encoder tests forge payloads with). */
export function putUvarint(out: number[], value: bigint | number): void {
  let v = BigInt(value);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}
