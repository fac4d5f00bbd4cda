// Damage done to a real LevelDB/goleveldb/Pebble store the way incidents leave it: a MANIFEST torn
// by a crash while appending (a partial record appended, or the last record cut), a flipped byte in an older record, a record whose checksum is valid but
// whose VersionEdit is one byte short (seed 004), a damaged table block, a lost or torn CURRENT, a
// torn WAL. Offsets are found by reading the files with the format layer, never hard-coded.
import { readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOCK_SIZE, encodeRecord, scanLogFile } from '../../src/format/logstore/records';
import type { LogRecord } from '../../src/format/logstore/types';

const LEGACY_HEADER = 7;

/** The MANIFEST the store reads: CURRENT's, else the newest Pebble manifest marker's, else the newest one. */
export async function currentManifest(dir: string): Promise<string> {
  const names = await readdir(dir);
  if (names.includes('CURRENT')) {
    const named = (await readFile(join(dir, 'CURRENT'), 'utf8')).trim();
    if (names.includes(named)) return named;
  }
  const markers = names.flatMap((n) => {
    const m = /^marker\.manifest\.(\d+)\.(MANIFEST-\d+)$/.exec(n);
    return m ? [{ i: Number(m[1]), manifest: m[2]! }] : [];
  });
  const marked = markers.sort((a, b) => b.i - a.i)[0];
  if (marked) return marked.manifest;
  const newest = names.filter((n) => /^MANIFEST-\d+$/.test(n)).sort().at(-1);
  if (!newest) throw new Error(`${dir}: no MANIFEST`);
  return newest;
}

/** Every complete record of a log file, in order (the file must read clean up to them). */
export async function logRecords(path: string, logNumber?: number): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  await scanLogFile(path, { onRecord: (r) => records.push(r), ...(logNumber === undefined ? {} : { logNumber }) });
  return records;
}

/** A cut point strictly inside `r`: past its first header, before its end. */
const middleOf = (r: LogRecord) => r.offset + Math.max(LEGACY_HEADER + 1, Math.floor((r.end - r.offset) / 2));

export interface Tear {
  file: string;
  /** Where the torn record starts: the doctor's firstBadOffset. */
  recordOffset: number;
  /** Where the record before it ends: the doctor's validBytes. */
  validBytes: number;
  /** The file's new length. */
  cutAt: number;
  /** Complete records left. */
  records: number;
}

async function tearLast(path: string, file: string, logNumber?: number): Promise<Tear> {
  const records = await logRecords(path, logNumber);
  const last = records.at(-1);
  if (!last) throw new Error(`${path} has no complete record to tear`);
  const cutAt = Math.min(middleOf(last), last.end - 1);
  await truncate(path, cutAt);
  return { file, recordOffset: last.offset, validBytes: records.at(-2)?.end ?? 0, cutAt, records: records.length - 1 };
}

/** Truncates the current MANIFEST in the middle of its last record, as a crash while appending leaves it. */
export async function tearLastManifestRecord(dir: string): Promise<Tear & { manifest: string }> {
  const manifest = await currentManifest(dir);
  return { manifest, ...(await tearLast(join(dir, manifest), manifest)) };
}

/**
 * Appends the first part of one more record to the current MANIFEST, as a crash while appending
 * leaves it: the records before it (the committed state) are untouched, so cutting back to
 * `validBytes` (the old end) loses nothing. The torn record repeats the last record's payload.
 */
export async function appendTornRecord(dir: string): Promise<Tear & { manifest: string }> {
  const manifest = await currentManifest(dir);
  const path = join(dir, manifest);
  const records = await logRecords(path);
  const last = records.at(-1);
  if (!last) throw new Error(`${path} has no record to repeat`);
  const validBytes = (await stat(path)).size;
  if (validBytes !== last.end) throw new Error(`${path} does not end at its last record (${last.end} of ${validBytes} bytes)`);
  const encoded = encodeRecord(Buffer.from(last.payload), { at: validBytes });
  // A record starting within a header's bytes of a block's end starts after the block's zero padding.
  const left = BLOCK_SIZE - (validBytes % BLOCK_SIZE);
  const padding = left < LEGACY_HEADER ? left : 0;
  const keep = padding + Math.max(LEGACY_HEADER + 1, Math.floor((encoded.length - padding) / 2));
  const fh = await open(path, 'a');
  try {
    await fh.write(encoded.subarray(0, Math.min(keep, encoded.length - 1)));
  } finally {
    await fh.close();
  }
  const cutAt = (await stat(path)).size;
  return { manifest, file: manifest, recordOffset: validBytes + padding, validBytes, cutAt, records: records.length };
}

/** Flips one payload byte of record `recordIndex` of the current MANIFEST: its checksum then fails. Returns the record's offset. */
export async function flipManifestByte(dir: string, recordIndex: number): Promise<{ manifest: string; offset: number; flippedAt: number; records: number }> {
  const manifest = await currentManifest(dir);
  const path = join(dir, manifest);
  const records = await logRecords(path);
  const r = records[recordIndex];
  if (!r) throw new Error(`${path} has ${records.length} records, not ${recordIndex + 1}`);
  const bytes = await readFile(path);
  // The first chunk with payload: a record may start with an empty FIRST chunk at a block's end.
  let chunk = r.offset;
  while (bytes.readUInt16LE(chunk + 4) === 0) chunk = (Math.floor(chunk / BLOCK_SIZE) + 1) * BLOCK_SIZE;
  const flippedAt = chunk + LEGACY_HEADER + Math.floor(bytes.readUInt16LE(chunk + 4) / 2);
  bytes[flippedAt] = bytes[flippedAt]! ^ 0xff;
  await writeFile(path, bytes);
  return { manifest, offset: r.offset, flippedAt, records: records.length };
}

/**
 * Rewrites the MANIFEST's last record so that its VersionEdit payload is one byte short while its
 * checksum is valid (seed 004: a complete record whose edit does not decode). Returns its offset.
 */
export async function shortPayloadRecord(dir: string): Promise<{ manifest: string; offset: number }> {
  const manifest = await currentManifest(dir);
  const path = join(dir, manifest);
  const records = await logRecords(path);
  const last = records.at(-1);
  if (!last || last.payload.length < 2) throw new Error(`${path} has no last record long enough to shorten`);
  const bytes = await readFile(path);
  const rewritten = encodeRecord(Buffer.from(last.payload.subarray(0, -1)), { at: last.offset });
  await writeFile(path, Buffer.concat([bytes.subarray(0, last.offset), rewritten]));
  return { manifest, offset: last.offset };
}

/** Flips a byte in the middle of the first data block of the largest table (the demo's damage too). */
export { damageTableBlock } from '../../src/demo/log-store-incident';

/** Removes CURRENT (LevelDB), or every manifest marker (Pebble, which has no CURRENT). */
export async function removeCurrent(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  const gone = names.includes('CURRENT') ? ['CURRENT'] : names.filter((n) => n.startsWith('marker.manifest.'));
  for (const n of gone) await rm(join(dir, n));
  return gone;
}

/** CURRENT without its trailing newline, as an interrupted write leaves it. Returns the MANIFEST it names. */
export async function stripCurrentNewline(dir: string): Promise<string> {
  const text = await readFile(join(dir, 'CURRENT'), 'utf8');
  await writeFile(join(dir, 'CURRENT'), text.replace(/\n$/, ''));
  return text.trim();
}

/** Cuts the newest WAL that has records in the middle of its last record. */
export async function tearWal(dir: string): Promise<Tear> {
  const wals = (await readdir(dir)).filter((n) => /^\d+\.log$/.test(n)).sort((a, b) => Number.parseInt(b) - Number.parseInt(a));
  for (const wal of wals) {
    const logNumber = Number.parseInt(wal);
    const path = join(dir, wal);
    if ((await logRecords(path, logNumber)).length) return tearLast(path, wal, logNumber);
  }
  throw new Error(`${dir} has no WAL with a record in it`);
}
