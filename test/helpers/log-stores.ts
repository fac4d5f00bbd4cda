// Real LevelDB-family stores for tests: goleveldb and Pebble stores written by the engines
// themselves (storectl write), and C++ LevelDB stores written by classic-level (leveldb 1.20's
// C++ code, as a Node application would). Damage is done elsewhere (log-store-damage.ts). Also
// what the tests around them share: a scratch folder per test file, and `fingerprint`, which tells
// that a directory was left untouched.
//
// What the engines leave behind, measured with these helpers (goleveldb v1.0.0, Pebble v2.1.7,
// classic-level 3.0.0):
//
// - A fresh goleveldb MANIFEST (MANIFEST-000000, 54 bytes, legacy 7-byte headers) has 2 records,
//   both FULL chunks in the first block:
//     1. the snapshot session.newManifest writes: comparator "leveldb.BytewiseComparator",
//        logNumber 0, nextFileNumber 1, lastSequence 0;
//     2. the edit openDB commits when it makes journal 000001.log: logNumber 1, nextFileNumber 2,
//        lastSequence 0.
//   Both hold a next-file number; the second's (2) is the one in force. So unlike C++ LevelDB, a
//   goleveldb store whose second record is torn still opens (record 1 alone is a complete state,
//   and journal 000001.log, ≥ logNumber 0, is replayed): storectl scan gives every key.
// - A fresh C++ LevelDB store after open (classic-level) has MANIFEST-000002 (NewDB's
//   MANIFEST-000001 is replaced at the first open), 2 records: 1. comparator only (the snapshot);
//   2. logNumber 3, prevLogNumber 0, nextFileNumber 4, lastSequence 0. Only the second holds the
//   next-file number, hence "no meta-nextfile entry in descriptor" when it is torn.
// - goleveldb with tables ≥ 1: each table costs 2 MANIFEST records (the memdb flush at level 0,
//   then the range compaction that rewrites it into level 1 under a new number: 000004, 000007, …),
//   so the MANIFEST has 2 + 2T records. The journal holds one record per batch.
// - Pebble (default format 013, FormatFlushableIngest): WALs use recyclable chunk headers (11
//   bytes, types 5–8, logNum = the file number); a cleanly closed WAL ends with an EOF trailer, a
//   zero-length recyclable FULL chunk whose logNum is the file number + 1. Flushed WALs are kept for
//   reuse, so after flushes the live WAL is a recycled file: stale chunks of the old log follow the
//   trailer, and an obsolete WAL (records intact) is still in the directory. With pebbleFormat
//   'newest' (024) records use WAL-sync chunks (19 bytes, types 9–12, with a sync offset), the EOF
//   trailer is still a recyclable chunk, and the format upgrade at open leaves a first WAL holding
//   only a trailer. Pebble's memtable starts at 256 KiB and doubles, so more than ~250 KiB of
//   WAL-only keys spread over several WAL files (never flushed: writeStore's memtable is big).
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { writeStoreWithEngine, type StoreEngine, type WriteStoreOptions } from '../../src/engines/logstore/storectl';

export type { WriteStoreOptions } from '../../src/engines/logstore/storectl';

/**
 * A store written by the real engine into `dir` (absent or empty) and closed cleanly: keys
 * `key-000000`…, values of `valueBytes` (100) pseudo-random bytes from `seed` (1). Returns the
 * key count and the digest storectl scan gives for exactly these pairs.
 */
export async function writeStore(engine: StoreEngine, dir: string, opts: WriteStoreOptions): Promise<{ keys: number; digest: string }> {
  return writeStoreWithEngine(engine, dir, opts);
}

/** storectl's key names. */
export const keyOf = (i: number): string => `key-${String(i).padStart(6, '0')}`;

const M64 = (1n << 64n) - 1n;
const GOLDEN = 0x9e3779b97f4a7c15n;

/** storectl's values (splitmix64 seeded by seed and index), so a C++ store can hold the same pairs. */
export function valueOf(i: number, valueBytes = 100, seed = 1): Buffer {
  const out = Buffer.alloc(Math.ceil(valueBytes / 8) * 8);
  let x = (BigInt(seed) * GOLDEN + BigInt(i)) & M64;
  for (let off = 0; off < valueBytes; off += 8) {
    x = (x + GOLDEN) & M64;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
    out.writeBigUInt64LE(z ^ (z >> 31n), off);
  }
  return out.subarray(0, valueBytes);
}

/** storectl's digest: sha256 over uvarint(len key) key uvarint(len value) value, in key order. */
export function digestOf(pairs: Iterable<[Buffer | string, Buffer]>): string {
  const h = createHash('sha256');
  const uvarint = (n: number) => {
    const bytes: number[] = [];
    for (; n >= 0x80; n = Math.floor(n / 128)) bytes.push((n % 128) | 0x80);
    bytes.push(n);
    return Buffer.from(bytes);
  };
  for (const [k, v] of pairs) {
    const key = Buffer.from(k);
    h.update(uvarint(key.length)).update(key).update(uvarint(v.length)).update(v);
  }
  return h.digest('hex');
}

/**
 * A C++ LevelDB store (classic-level) holding storectl's first `keys` pairs: the first half put,
 * closed and opened again (C++ LevelDB's open writes the recovered log into a level-0 .ldb table),
 * the second half put and closed, so it stays in the new .log. Returns the same count and digest
 * `writeStore` would for these keys.
 */
export async function writeCppLevelDb(dir: string, keys: number, { valueBytes = 100, seed = 1 } = {}): Promise<{ keys: number; digest: string }> {
  await mkdir(dir, { recursive: true });
  const pairs = Array.from({ length: keys }, (_, i): [string, Buffer] => [keyOf(i), valueOf(i, valueBytes, seed)]);
  const half = Math.ceil(keys / 2);
  for (const part of [pairs.slice(0, half), pairs.slice(half)]) {
    const db = new ClassicLevel<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    await db.open();
    try {
      if (part.length) await db.batch(part.map(([key, value]) => ({ type: 'put' as const, key, value })));
    } finally {
      await db.close();
    }
  }
  return { keys, digest: digestOf(pairs) };
}

/**
 * Every entry's name, mode, size, mtime (ns) and content hash (a symlink: its target), and the
 * dir's own mtime: equal before and after means nothing in `dir` was written, created or removed.
 */
export async function fingerprint(dir: string): Promise<string> {
  const lines = [`. ${(await stat(dir, { bigint: true })).mtimeNs}`];
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const s = await lstat(path, { bigint: true });
    const what = s.isSymbolicLink() ? `-> ${await readlink(path)}` : s.isFile() ? createHash('sha256').update(await readFile(path)).digest('hex') : '-';
    lines.push(`${name} ${s.mode} ${s.size} ${s.mtimeNs} ${what}`);
  }
  return lines.join('\n');
}

/** Moves `name` from `dir` into `outside` and leaves a symlink to it in its place. */
export async function symlinkOut(dir: string, name: string, outside: string): Promise<void> {
  await rename(join(dir, name), join(outside, name));
  await symlink(join(outside, name), join(dir, name));
}

let work: string | undefined;
let seq = 0;

/** Gives the calling test file a scratch folder, made before its tests and removed after them. */
export function useScratch(prefix: string): void {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });
}

/** A new path (not created) in the scratch folder. */
export function fresh(): string {
  assert.ok(work, 'useScratch() first');
  return join(work, `s${++seq}`);
}
