// bbolt's on-disk layout (go.etcd.io/bbolt v1.4.x, formats.md §3): page header, meta, elements.
// Pure functions over bytes; reading the file is file.ts's job. bbolt writes its structs in native
// byte order through unsafe casts, so a file from x86 or arm64 is little-endian: that is what we read.

export const PAGE_HEADER_SIZE = 16;
/** Both element kinds (branch: pos, ksize, pgid; leaf: flags, pos, ksize, vsize) are 16 bytes. */
export const ELEMENT_SIZE = 16;
/** A bucket value starts with InBucket{root u64, sequence u64}; an inline bucket's page follows. */
export const BUCKET_HEADER_SIZE = 16;

export const BRANCH_PAGE = 0x01;
export const LEAF_PAGE = 0x02;
export const META_PAGE = 0x04;
export const FREELIST_PAGE = 0x10;
/** Leaf element flag: the value is a bucket. */
export const BUCKET_LEAF_FLAG = 0x01;

export const MAGIC = 0xed0cdaed;
export const VERSION = 2;
/** The meta's freelist pgid when no freelist is persisted (NoFreelistSync, as etcd runs bbolt). */
export const NO_FREELIST = 0xffffffffffffffffn;
/** The meta starts after the page header; its checksum covers meta bytes [0, 56) = page [16, 72). */
export const META_OFFSET = PAGE_HEADER_SIZE;
export const META_END = META_OFFSET + 64;

/**
 * A u64 as a number: exact below 2^53, which covers every page id and txid of a real file (2^53
 * pages of 4 KiB is 32 ZiB). Above that the value is rounded; it is then out of bounds anyway.
 */
export function u64(buf: Buffer, off: number): number {
  const hi = buf.readUInt32LE(off + 4);
  return hi < 0x200000 ? hi * 0x1_0000_0000 + buf.readUInt32LE(off) : Number(buf.readBigUInt64LE(off));
}

/** Go's `%s` of a page's type (`common.Page.Typ`), for bbolt's own messages. */
export function pageTypeName(flags: number): string {
  switch (flags) {
    case BRANCH_PAGE:
      return 'branch';
    case LEAF_PAGE:
      return 'leaf';
    case META_PAGE:
      return 'meta';
    case FREELIST_PAGE:
      return 'freelist';
  }
  return `unknown<${flags.toString(16).padStart(2, '0')}>`;
}

export interface PageHeader {
  id: number;
  flags: number;
  count: number;
  overflow: number;
}

export function pageHeader(buf: Buffer, off = 0): PageHeader {
  return { id: u64(buf, off), flags: buf.readUInt16LE(off + 8), count: buf.readUInt16LE(off + 10), overflow: buf.readUInt32LE(off + 12) };
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const M64 = 0xffffffffffffffffn;

/**
 * FNV-1a 64 (Go's hash/fnv New64a), as bbolt's Meta.Sum64. Hand-written, not a package: npm has a
 * maintained 64-bit one (@sindresorhus/fnv1a, BigInt), but it is not among our dependencies and
 * this is 56 bytes hashed twice per check, where these lines are all it takes; BigInt keeps the
 * 64-bit multiply exact, and its speed does not matter at this size.
 */
export function fnv1a64(bytes: Uint8Array): bigint {
  let h = FNV_OFFSET;
  for (const b of bytes) h = ((h ^ BigInt(b)) * FNV_PRIME) & M64;
  return h;
}

/** bbolt's `errors` package words for Meta.Validate's three refusals, in its order. */
export type MetaError = 'invalid database' | 'version mismatch' | 'checksum error';

export interface MetaFields {
  magic: number;
  version: number;
  pageSize: number;
  flags: number;
  root: number;
  sequence: bigint;
  /** null when no freelist is persisted (NO_FREELIST). */
  freelist: number | null;
  /** The high-water mark: the first page id never allocated. */
  pgid: number;
  txid: bigint;
  checksum: bigint;
  /** Meta.Validate's verdict: undefined when valid. */
  error?: MetaError;
}

/** The meta whose page starts at `off` in `buf` (≥ META_END bytes from there), validated as bbolt does. */
export function parseMeta(buf: Buffer, off = 0): MetaFields {
  const m = off + META_OFFSET;
  const freelist = buf.readBigUInt64LE(m + 32);
  const meta: MetaFields = {
    magic: buf.readUInt32LE(m),
    version: buf.readUInt32LE(m + 4),
    pageSize: buf.readUInt32LE(m + 8),
    flags: buf.readUInt32LE(m + 12),
    root: u64(buf, m + 16),
    sequence: buf.readBigUInt64LE(m + 24),
    freelist: freelist === NO_FREELIST ? null : u64(buf, m + 32),
    pgid: u64(buf, m + 40),
    txid: buf.readBigUInt64LE(m + 48),
    checksum: buf.readBigUInt64LE(m + 56),
  };
  // Meta.Validate: magic, then version, then checksum.
  if (meta.magic !== MAGIC) meta.error = 'invalid database';
  else if (meta.version !== VERSION) meta.error = 'version mismatch';
  else if (meta.checksum !== fnv1a64(buf.subarray(m, m + 56))) meta.error = 'checksum error';
  return meta;
}

/** Writes the meta checksum bbolt would write for the meta page at `off` (test damage, surgery). */
export function sealMeta(buf: Buffer, off = 0): void {
  const m = off + META_OFFSET;
  buf.writeBigUInt64LE(fnv1a64(buf.subarray(m, m + 56)), m + 56);
}

/** A key for a message: hex as bbolt's HexKVStringer prints it, cut after 128 bytes. */
export function hexKey(key: Buffer | null): string {
  if (key === null) return '';
  return key.length > 128 ? `${key.subarray(0, 128).toString('hex')}…(${key.length} bytes)` : key.toString('hex');
}

/** Go's `%v` of a []Pgid: `[921 2733 2213]`. */
export const goStack = (ids: readonly number[]): string => `[${ids.join(' ')}]`;

/**
 * A bucket name for reports: printable ASCII as is, other bytes and `%` `/` as %XX, so names
 * join with `/` into an unambiguous path (`bucket-000/nested`).
 */
export function bucketName(name: Buffer): string {
  let out = '';
  for (const b of name) out += b > 0x20 && b < 0x7f && b !== 0x25 && b !== 0x2f ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}
