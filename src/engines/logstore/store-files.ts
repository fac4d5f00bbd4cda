// The files of a LevelDB-family store as the doctor sees them: names sorted into kinds, read without
// following symlinks, and the pointer to the current MANIFEST (LevelDB's CURRENT, goleveldb's
// CURRENT.bak and pending CURRENT.N, Pebble v2's marker.manifest.NNNNNN.MANIFEST-XXXXXX). Read-only.
import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export type StoreEngine = 'leveldb' | 'pebble';

export type EntryType = 'file' | 'symlink' | 'dir' | 'other';

export interface StoreEntry {
  name: string;
  type: EntryType;
  size: number;
}

export const MANIFEST_NAME = /^MANIFEST-(\d+)$/;
export const LOG_NAME = /^(\d+)\.log$/;
export const TABLE_NAME = /^(\d+)\.(ldb|sst)$/;
const PENDING_CURRENT = /^CURRENT\.(\d+)$/;
const MANIFEST_MARKER = /^marker\.manifest\.(\d+)\.(.*)$/;
const FORMAT_MARKER = /^marker\.format-version\.(\d+)\.(\d+)$/;

/** The directory's entries by name (lstat: a symlink is reported as one, never followed). */
export async function listStore(dir: string): Promise<Map<string, StoreEntry>> {
  let info: Stats;
  try {
    info = await stat(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${dir}: no such directory` : `${dir}: cannot read it (${code ?? (err as Error).message})`);
  }
  if (!info.isDirectory()) throw new Error(`${dir}: not a directory (a LevelDB/Pebble store is a directory)`);
  const entries = new Map<string, StoreEntry>();
  for (const name of await readdir(dir)) {
    const s = await lstat(join(dir, name)).catch(() => undefined);
    if (!s) continue; // gone between readdir and lstat
    const type: EntryType = s.isSymbolicLink() ? 'symlink' : s.isFile() ? 'file' : s.isDirectory() ? 'dir' : 'other';
    entries.set(name, { name, type, size: s.size });
  }
  return entries;
}

/** Numbered files of one kind, by number ascending. */
export function numbered(entries: Map<string, StoreEntry>, pattern: RegExp): Array<StoreEntry & { number: number }> {
  const out: Array<StoreEntry & { number: number }> = [];
  for (const e of entries.values()) {
    const m = pattern.exec(e.name);
    if (m) out.push({ ...e, number: Number(m[1]) });
  }
  return out.sort((a, b) => a.number - b.number);
}

/**
 * Opens a regular file read-only without following a symlink (O_NOFOLLOW) and without blocking on a
 * FIFO (O_NONBLOCK); anything but a regular file is refused. The caller closes the handle.
 */
export async function openRegular(path: string): Promise<{ fh: FileHandle; info: Stats }> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new Error(`${path} is a symlink; the doctor does not follow links`);
    throw err;
  }
  const info = await fh.stat();
  if (!info.isFile()) {
    await fh.close();
    throw new Error(`${path} is not a regular file`);
  }
  return { fh, info };
}

/** The first `max` bytes of a small regular file (CURRENT, a marker), read with openRegular. */
export async function readSmall(path: string, max = 4096): Promise<Buffer> {
  const { fh, info } = await openRegular(path);
  try {
    const buf = Buffer.alloc(Math.min(info.size, max));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export type CurrentStatus = 'ok' | 'missing' | 'no-newline' | 'names-missing-manifest' | 'invalid';

export interface PointerReport {
  /** The file read: `CURRENT`, `CURRENT.bak`, `CURRENT.12`, or the marker's name. */
  file: string;
  status: CurrentStatus;
  /** The MANIFEST it names, when it names one. */
  manifest?: string;
  /** What it holds when that is not a MANIFEST name (JSON-escaped, at most 80 characters). */
  content?: string;
}

export interface CurrentReport extends PointerReport {
  /** goleveldb's fallbacks, when present: pending CURRENT.N (newest first) and CURRENT.bak. */
  fallbacks?: PointerReport[];
  /** Pebble: `marker.format-version.*`'s value, the format major version. */
  formatMajorVersion?: number;
}

/** Judges one CURRENT-like file's content. Symlinks are refused by the caller before this. */
export function judgeCurrentText(file: string, raw: Buffer, entries: Map<string, StoreEntry>): PointerReport {
  const text = raw.toString('latin1');
  const newline = text.endsWith('\n');
  const name = newline ? text.slice(0, -1) : text;
  if (!MANIFEST_NAME.test(name)) return { file, status: 'invalid', content: JSON.stringify(text.slice(0, 80)) };
  if (!entries.has(name)) return { file, status: 'names-missing-manifest', manifest: name };
  return { file, status: newline ? 'ok' : 'no-newline', manifest: name };
}

async function readPointer(dir: string, file: string, entries: Map<string, StoreEntry>): Promise<PointerReport> {
  const entry = entries.get(file);
  if (!entry) return { file, status: 'missing' };
  if (entry.type === 'symlink') throw new Error(`${join(dir, file)} is a symlink; refusing to follow it (a store's CURRENT is a plain file)`);
  if (entry.type !== 'file') throw new Error(`${join(dir, file)} is not a regular file`);
  return judgeCurrentText(file, await readSmall(join(dir, file)), entries);
}

/** LevelDB: CURRENT, plus goleveldb's CURRENT.bak and pending CURRENT.N when they exist. */
export async function readLevelDbCurrent(dir: string, entries: Map<string, StoreEntry>): Promise<CurrentReport> {
  const current: CurrentReport = await readPointer(dir, 'CURRENT', entries);
  const pending = numbered(entries, PENDING_CURRENT).reverse();
  const fallbacks: PointerReport[] = [];
  for (const p of pending) fallbacks.push(await readPointer(dir, p.name, entries));
  if (entries.has('CURRENT.bak')) fallbacks.push(await readPointer(dir, 'CURRENT.bak', entries));
  if (fallbacks.length) current.fallbacks = fallbacks;
  return current;
}

/**
 * Pebble v2: the manifest marker with the highest iteration number names the current MANIFEST
 * (the value is in the file's name; the file itself is empty). No marker: status `missing`.
 */
export function readPebbleMarker(dir: string, entries: Map<string, StoreEntry>): CurrentReport {
  let best: { iteration: number; name: string; value: string; type: EntryType } | undefined;
  let format: { iteration: number; version: number } | undefined;
  for (const e of entries.values()) {
    const m = MANIFEST_MARKER.exec(e.name);
    if (m && (!best || Number(m[1]) > best.iteration)) best = { iteration: Number(m[1]), name: e.name, value: m[2]!, type: e.type };
    const f = FORMAT_MARKER.exec(e.name);
    if (f && (!format || Number(f[1]) > format.iteration)) format = { iteration: Number(f[1]), version: Number(f[2]) };
  }
  const extra = format ? { formatMajorVersion: format.version } : {};
  if (!best) return { file: 'marker.manifest.*', status: 'missing', ...extra };
  if (best.type === 'symlink') throw new Error(`${join(dir, best.name)} is a symlink; refusing to follow it (a store's marker is a plain file)`);
  if (!MANIFEST_NAME.test(best.value)) return { file: best.name, status: 'invalid', content: JSON.stringify(best.value.slice(0, 80)), ...extra };
  if (!entries.has(best.value)) return { file: best.name, status: 'names-missing-manifest', manifest: best.value, ...extra };
  return { file: best.name, status: 'ok', manifest: best.value, ...extra };
}

export function hasManifestMarker(entries: Map<string, StoreEntry>): string | undefined {
  for (const name of entries.keys()) if (MANIFEST_MARKER.test(name)) return name;
  return undefined;
}
