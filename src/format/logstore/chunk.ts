// The chunk layer of the LevelDB/Pebble log format (WALs and MANIFESTs): constants, the masked
// CRC32C, and a small writer used by tests and the benchmark to forge logs. formats.md sections 4–5.
import { crc32c } from '@node-rs/crc32';

/** Chunks never cross a 32 KiB block boundary; a block's unused tail is zero padding. */
export const BLOCK_SIZE = 32 * 1024;
export const LEGACY_HEADER = 7; // crc u32 | length u16 | type u8
export const RECYCLABLE_HEADER = 11; // + logNum u32 (low 32 bits of the file number)
export const WAL_SYNC_HEADER = 19; // + syncOffset u64

/** Chunk positions (the low two bits of the type, offset by one per header format). */
export const FULL = 1;
export const FIRST = 2;
export const MIDDLE = 3;
export const LAST = 4;

/** Header size by type byte; 0 for a type no writer emits (0 is reserved for preallocated zeros). */
export const HEADER_SIZE: readonly number[] = [0, 7, 7, 7, 7, 11, 11, 11, 11, 19, 19, 19, 19];
/** FULL/FIRST/MIDDLE/LAST by type byte. */
export const POSITION: readonly number[] = [0, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4];
export const MAX_TYPE = 12;

export type HeaderFormat = 'legacy' | 'recyclable' | 'wal-sync';
export const formatOfType = (type: number): HeaderFormat => (type <= 4 ? 'legacy' : type <= 8 ? 'recyclable' : 'wal-sync');
const TYPE_BASE: Record<HeaderFormat, number> = { legacy: 0, recyclable: 4, 'wal-sync': 8 };
const HEADER_OF: Record<HeaderFormat, number> = { legacy: LEGACY_HEADER, recyclable: RECYCLABLE_HEADER, 'wal-sync': WAL_SYNC_HEADER };

const MASK_DELTA = 0xa282ead8;

/** LevelDB's Mask(): a CRC stored next to the data it covers is rotated so CRCs of CRCs stay strong. */
export const maskCrc = (c: number): number => ((((c >>> 15) | (c << 17)) >>> 0) + MASK_DELTA) >>> 0;
export function unmaskCrc(m: number): number {
  const rot = (m - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

/** Masked CRC32C of `data` (for a chunk: the bytes from the type byte to the payload's end). */
export const maskedCrc32c = (data: Uint8Array): number => maskCrc(crc32c(data));

export interface EncodeOptions {
  /** Chunk header format; 'legacy' (LevelDB, Pebble MANIFESTs) unless set. */
  format?: HeaderFormat;
  /** Written into recyclable and WAL-sync headers (low 32 bits). Default 1. */
  logNumber?: number;
  /** WAL-sync headers: the offset the writer promises is synced. Default: `at`. */
  syncOffset?: number;
  /** Absolute file offset the record is appended at: decides the block position. Default 0. */
  at?: number;
}

/**
 * One record as LevelDB's and Pebble's writers emit it when appended at `at`: zero padding first if
 * fewer than a header's bytes are left in the block, then a FULL chunk or FIRST, MIDDLE..., LAST chunks. With
 * exactly a header's bytes left, a zero-length FIRST fills the block (as both writers do).
 */
export function encodeRecord(payload: Buffer, opts: EncodeOptions = {}): Buffer {
  const format = opts.format ?? 'legacy';
  const hs = HEADER_OF[format];
  const start = opts.at ?? 0;
  const out: Buffer[] = [];
  let pos = start % BLOCK_SIZE;
  let rest = 0;
  let first = true;
  do {
    if (BLOCK_SIZE - pos < hs) {
      out.push(Buffer.alloc(BLOCK_SIZE - pos));
      pos = 0;
    }
    const n = Math.min(payload.length - rest, BLOCK_SIZE - pos - hs);
    const last = rest + n === payload.length;
    const position = first ? (last ? FULL : FIRST) : last ? LAST : MIDDLE;
    const chunk = Buffer.alloc(hs + n);
    chunk.writeUInt16LE(n, 4);
    chunk[6] = TYPE_BASE[format] + position;
    if (hs > LEGACY_HEADER) chunk.writeUInt32LE((opts.logNumber ?? 1) % 2 ** 32, 7);
    if (hs > RECYCLABLE_HEADER) chunk.writeBigUInt64LE(BigInt(opts.syncOffset ?? start), 11);
    payload.copy(chunk, hs, rest, rest + n);
    chunk.writeUInt32LE(maskedCrc32c(chunk.subarray(6)), 0);
    out.push(chunk);
    pos = (pos + hs + n) % BLOCK_SIZE;
    rest += n;
    first = false;
  } while (rest < payload.length);
  return Buffer.concat(out);
}

/** A whole log of `payloads`, and where each record's first header starts and its last chunk ends. */
export function encodeLog(payloads: Buffer[], opts: Omit<EncodeOptions, 'at'> = {}): { bytes: Buffer; records: Array<{ offset: number; end: number }> } {
  const parts: Buffer[] = [];
  const records: Array<{ offset: number; end: number }> = [];
  let at = 0;
  const hs = HEADER_OF[opts.format ?? 'legacy'];
  for (const p of payloads) {
    const bytes = encodeRecord(p, { ...opts, at });
    // The record starts after any padding the writer put before its first header.
    const offset = BLOCK_SIZE - (at % BLOCK_SIZE) < hs ? at + (BLOCK_SIZE - (at % BLOCK_SIZE)) : at;
    parts.push(bytes);
    at += bytes.length;
    records.push({ offset, end: at });
  }
  return { bytes: Buffer.concat(parts), records };
}

/** Pebble's EOF trailer: an empty recyclable FULL header whose log number is the log's plus one. */
export function eofTrailer(logNumber: number): Buffer {
  const b = Buffer.alloc(RECYCLABLE_HEADER);
  b[6] = TYPE_BASE.recyclable + FULL;
  b.writeUInt32LE((logNumber + 1) % 2 ** 32, 7);
  return b;
}
