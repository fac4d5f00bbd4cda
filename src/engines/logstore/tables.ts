// Table files (.ldb/.sst) of LevelDB, goleveldb and Pebble, checked the way the engines read them:
// the footer (magic, handles, Pebble v6+'s footer checksum), the metaindex and index blocks, then
// every data block the index names (each block's 5-byte trailer: type byte and masked CRC32C of
// block ‖ type). Only LevelDB-style row blocks are walked (LevelDB, RocksDB v2, Pebble table formats
// v1–v4); Pebble v5+'s columnar index is not decoded, so there only the footer, metaindex and index
// block checksums are verified. Read-only: the caller's handle is only read.
import type { FileHandle } from 'node:fs/promises';
import { crc32c } from '@node-rs/crc32';
import { uncompressSync } from 'snappy';
import { AbortError } from '../../format/logstore/errors';

const LEVELDB_MAGIC = Buffer.from('57fb808b247547db', 'hex'); // 0xdb4775248b80fb57 little-endian
const ROCKSDB_MAGIC = Buffer.from('f7cff485b741e288', 'hex'); // 0x88e241b785f4cff7 little-endian
const PEBBLE_MAGIC = Buffer.from('f09faab3f09faab3', 'hex'); // two 🪳
const LEVELDB_FOOTER = 48;
const ROCKSDB_FOOTER = 53; // checksum type, two handles padded to 40, version, magic
const CHECKED_PEBBLE_FOOTER = 57; // + a CRC of the footer (Pebble table format v6)
const PEBBLE_V7_FOOTER = 61; // + attributes (v7)
const TRAILER = 5;
const CRC32C_CHECKSUM = 1;
const TWO_LEVEL_INDEX = 2;
const NO_COMPRESSION = 0;
const SNAPPY_COMPRESSION = 1;
/** Far above any real block (LevelDB's are ~4 KiB, index blocks rarely MiBs): a larger stated length is damage. */
const MAX_BLOCK = 1 << 28;

export type TableStatus = 'ok' | 'bad-footer' | 'bad-block';

export interface BlockProblem {
  block: 'metaindex' | 'index' | 'index-partition' | 'properties' | 'data';
  offset: number;
  size: number;
  reason: string;
}

export interface TableCheck {
  status: TableStatus;
  /** `leveldb`, `rocksdb-v2`, `pebble-v3`, …: from the footer's magic and version. */
  format?: string;
  /** Why the footer is unusable (bad-footer). */
  footer?: string;
  /** Data blocks whose checksum was verified. */
  dataBlocks: number;
  /** What was not checked and why (a columnar index, another checksum type, a compressed index). */
  unchecked?: string;
  problems: BlockProblem[];
}

export interface Handle {
  offset: number;
  size: number;
}

/** A LevelDB varint at `pos`: [value, next position], or undefined when it runs past `end` or past 2^53. */
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

export const maskCrc = (c: number): number => ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;

/** Key/value entries of a LevelDB row block (prefix-compressed keys, restart array at the end). */
export function rowBlockEntries(block: Buffer): Array<{ key: Buffer; value: Buffer }> {
  if (block.length < 4) throw new Error('block shorter than its restart count');
  const restarts = block.readUInt32LE(block.length - 4);
  const end = block.length - 4 - 4 * restarts;
  if (restarts === 0 || end < 0) throw new Error(`bad restart count ${restarts}`);
  const entries: Array<{ key: Buffer; value: Buffer }> = [];
  let key = Buffer.alloc(0);
  let pos = 0;
  while (pos < end) {
    const shared = readVarint(block, pos, end);
    const unshared = shared && readVarint(block, shared[1], end);
    const vlen = unshared && readVarint(block, unshared[1], end);
    if (!shared || !unshared || !vlen) throw new Error(`bad entry header at ${pos}`);
    pos = vlen[1];
    if (shared[0] > key.length || pos + unshared[0] + vlen[0] > end) throw new Error(`entry at ${pos} runs past the block`);
    key = Buffer.concat([key.subarray(0, shared[0]), block.subarray(pos, pos + unshared[0])]);
    pos += unshared[0];
    entries.push({ key, value: block.subarray(pos, pos + vlen[0]) });
    pos += vlen[0];
  }
  return entries;
}

/** A block handle (offset, size) at the start of `buf`; Pebble's index values carry properties after it. */
function decodeHandle(buf: Buffer, pos = 0): [Handle, number] | undefined {
  const offset = readVarint(buf, pos);
  const size = offset && readVarint(buf, offset[1]);
  return offset && size ? [{ offset: offset[0], size: size[0] }, size[1]] : undefined;
}

/** Reads a file through a 1 MiB window: data blocks come in file order, so most reads are hits. */
class WindowReader {
  private window = Buffer.alloc(0);
  private windowAt = 0;
  constructor(private fh: FileHandle, readonly size: number) {}

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset >= this.windowAt && offset + length <= this.windowAt + this.window.length) {
      return this.window.subarray(offset - this.windowAt, offset - this.windowAt + length);
    }
    const want = Math.min(Math.max(length, 1 << 20), this.size - offset);
    const buf = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.fh.read(buf, got, want - got, offset + got);
      if (!bytesRead) break;
      got += bytesRead;
    }
    if (got < length) throw new Error(`short read at ${offset}: ${got} of ${length} bytes`);
    this.window = buf.subarray(0, got);
    this.windowAt = offset;
    return this.window.subarray(0, length);
  }
}

interface Footer {
  format: string;
  checksumType: number;
  rowBlocks: boolean;
  metaindex: Handle;
  index: Handle;
}

async function readFooter(r: WindowReader): Promise<Footer | string> {
  if (r.size < LEVELDB_FOOTER) return `${r.size} bytes: shorter than any table footer (${LEVELDB_FOOTER} bytes)`;
  const tailLen = Math.min(r.size, PEBBLE_V7_FOOTER);
  const tail = await r.read(r.size - tailLen, tailLen);
  const magic = tail.subarray(tailLen - 8);
  let footer: Buffer;
  let format: string;
  let checksumType = CRC32C_CHECKSUM;
  let rowBlocks = true;
  if (magic.equals(LEVELDB_MAGIC)) {
    footer = tail.subarray(tailLen - LEVELDB_FOOTER);
    format = 'leveldb';
  } else if (magic.equals(ROCKSDB_MAGIC) || magic.equals(PEBBLE_MAGIC)) {
    if (tailLen < ROCKSDB_FOOTER) return `${r.size} bytes: shorter than a RocksDB/Pebble footer`;
    const version = tail.readUInt32LE(tailLen - 12);
    const pebble = magic.equals(PEBBLE_MAGIC);
    if (pebble ? version < 1 || version > 7 : version !== 2) return `unknown ${pebble ? 'Pebble' : 'RocksDB'} table format version ${version}`;
    format = pebble ? `pebble-v${version}` : `rocksdb-v${version}`;
    rowBlocks = !pebble || version <= 4;
    const len = pebble && version >= 7 ? PEBBLE_V7_FOOTER : pebble && version === 6 ? CHECKED_PEBBLE_FOOTER : ROCKSDB_FOOTER;
    if (tailLen < len) return `${r.size} bytes: shorter than a ${format} footer`;
    footer = tail.subarray(tailLen - len);
    if (pebble && version >= 6) {
      const at = len - 8 - 4 - 4;
      const want = footer.readUInt32LE(at);
      const got = maskCrc(crc32c(footer.subarray(at + 4), crc32c(footer.subarray(0, at))));
      if (want !== got) return 'footer checksum mismatch';
    }
    checksumType = footer[0]!;
    footer = footer.subarray(1);
  } else {
    return `bad magic number 0x${Buffer.from(magic).reverse().toString('hex')} (not a LevelDB, RocksDB or Pebble table, or its end is damaged)`;
  }
  const meta = decodeHandle(footer);
  const index = meta && decodeHandle(footer, meta[1]);
  if (!meta || !index) return 'footer block handles do not decode';
  const limit = r.size - TRAILER;
  for (const [what, h] of [['metaindex', meta[0]], ['index', index[0]]] as const) {
    if (h.offset + h.size > limit) return `${what} handle (offset ${h.offset}, ${h.size} bytes) runs past the file`;
  }
  return { format, checksumType, rowBlocks, metaindex: meta[0], index: index[0] };
}

/** A block's bytes after its trailer checked; `reason` when the checksum (or the handle) is bad. */
async function readBlock(r: WindowReader, h: Handle, checksumType: number): Promise<{ raw: Buffer; type: number } | { reason: string }> {
  if (h.offset + h.size + TRAILER > r.size) return { reason: `handle (offset ${h.offset}, ${h.size} bytes) runs past the file (${r.size} bytes)` };
  const buf = await r.read(h.offset, h.size + TRAILER);
  const raw = buf.subarray(0, h.size);
  const type = buf[h.size]!;
  if (checksumType === CRC32C_CHECKSUM) {
    const want = buf.readUInt32LE(h.size + 1);
    const got = maskCrc(crc32c(buf.subarray(0, h.size + 1)));
    if (want !== got) return { reason: `checksum mismatch (stored 0x${want.toString(16)}, computed 0x${got.toString(16)})` };
  }
  return { raw, type };
}

/**
 * A block's contents: as stored (type 0) or Snappy-decoded (type 1, raw Snappy as the engines write
 * it, decoded by the `snappy` package); undefined for another compression type. Throws, with a
 * reason fit for a finding, when the Snappy bytes do not decode.
 */
function decompress(raw: Buffer, type: number): Buffer | undefined {
  if (type === NO_COMPRESSION) return raw;
  if (type !== SNAPPY_COMPRESSION) return undefined;
  // The stated length is checked first: the decoder sizes its output buffer from it before decoding.
  const stated = readVarint(raw, 0, Math.min(raw.length, 5));
  if (!stated) throw new Error('undecodable Snappy: its length header does not decode');
  if (stated[0] > MAX_BLOCK) throw new Error(`undecodable Snappy: its header states ${stated[0]} bytes, more than any block`);
  let plain: string | Buffer;
  try {
    plain = uncompressSync(raw, { asBuffer: true });
  } catch (err) {
    throw new Error(`undecodable Snappy (${(err as Error).message})`, { cause: err });
  }
  if (typeof plain === 'string') throw new Error('undecodable Snappy: the decoder returned text'); // not with asBuffer
  return plain;
}

export interface TableCheckOptions {
  signal?: AbortSignal;
  /** Each data block handle the index names, before it is checked. */
  onDataBlock?: (h: Handle) => void;
}

/** Checks one table through an open handle of `size` bytes. Never throws for damage: it reports it. */
export async function checkTable(fh: FileHandle, size: number, { signal, onDataBlock }: TableCheckOptions = {}): Promise<TableCheck> {
  const r = new WindowReader(fh, size);
  const footer = await readFooter(r);
  if (typeof footer === 'string') return { status: 'bad-footer', footer, dataBlocks: 0, problems: [] };
  const check: TableCheck = { status: 'ok', format: footer.format, dataBlocks: 0, problems: [] };
  const problem = (p: BlockProblem) => {
    check.status = 'bad-block';
    check.problems.push(p);
  };
  const unchecked = (why: string) => {
    check.unchecked = check.unchecked ? `${check.unchecked}; ${why}` : why;
  };
  if (footer.checksumType !== CRC32C_CHECKSUM) unchecked(`block checksums of type ${footer.checksumType} (not CRC32C) are not verified`);

  /** A block read, verified and decompressed; undefined (after reporting why) when it cannot be used. */
  const load = async (block: BlockProblem['block'], h: Handle): Promise<Buffer | undefined> => {
    const got = await readBlock(r, h, footer.checksumType);
    if ('reason' in got) return void problem({ block, offset: h.offset, size: h.size, reason: got.reason });
    try {
      const plain = decompress(got.raw, got.type);
      if (!plain) unchecked(`the ${block} block at ${h.offset} is compressed with type ${got.type} (only none and Snappy are decoded)`);
      return plain;
    } catch (err) {
      return void problem({ block, offset: h.offset, size: h.size, reason: (err as Error).message });
    }
  };
  const entries = (block: BlockProblem['block'], h: Handle, plain: Buffer) => {
    try {
      return rowBlockEntries(plain);
    } catch (err) {
      problem({ block, offset: h.offset, size: h.size, reason: `does not parse: ${(err as Error).message}` });
      return undefined;
    }
  };

  const metaindex = await load('metaindex', footer.metaindex);
  const index = await load('index', footer.index);
  if (!footer.rowBlocks) {
    unchecked(`${footer.format} has a columnar index: data blocks are not walked`);
    return check;
  }
  if (!index) return check;

  // Pebble and RocksDB may partition the index (two-level): the properties block says so.
  let twoLevel = false;
  if (metaindex && footer.format !== 'leveldb') {
    const meta = entries('metaindex', footer.metaindex, metaindex);
    const props = meta?.find((e) => e.key.toString('latin1') === 'rocksdb.properties');
    const ph = props && decodeHandle(props.value)?.[0];
    const plain = ph && (await load('properties', ph));
    const indexType = plain && entries('properties', ph, plain)?.find((e) => e.key.toString('latin1') === 'rocksdb.block.based.table.index.type');
    twoLevel = !!indexType && indexType.value.length >= 4 && indexType.value.readUInt32LE(0) === TWO_LEVEL_INDEX;
  }

  const top = entries('index', footer.index, index);
  if (!top) return check;
  const dataHandles: Handle[] = [];
  for (const e of top) {
    const h = decodeHandle(e.value)?.[0];
    if (!h) {
      problem({ block: 'index', offset: footer.index.offset, size: footer.index.size, reason: 'an entry whose block handle does not decode' });
      continue;
    }
    if (!twoLevel) {
      dataHandles.push(h);
      continue;
    }
    const part = await load('index-partition', h);
    for (const pe of (part && entries('index-partition', h, part)) ?? []) {
      const dh = decodeHandle(pe.value)?.[0];
      if (dh) dataHandles.push(dh);
      else problem({ block: 'index-partition', offset: h.offset, size: h.size, reason: 'an entry whose block handle does not decode' });
    }
  }
  for (const [i, h] of dataHandles.entries()) {
    if (i % 256 === 0 && signal?.aborted) throw new AbortError(`table check at block ${h.offset}`, signal.reason);
    onDataBlock?.(h);
    const got = await readBlock(r, h, footer.checksumType);
    if ('reason' in got) problem({ block: 'data', offset: h.offset, size: h.size, reason: got.reason });
    else check.dataBlocks++;
  }
  return check;
}
