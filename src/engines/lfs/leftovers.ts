// The temp files a killed copy left beside its destinations (`<name>.restore-tmp-<hex>-<digits>`,
// the names copy.ts gives them). One that holds exactly the object is adopted: hashed, not written
// again, then placed like a new temp file. The others are removed: partial or wrong copies of ours.
// Names of any other shape are never touched. Engine code: node:fs only; no Temporal.
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { LfsPointer } from '../../format/lfs/pointer';
import { closeConfined, inDir, openConfined, type ConfinedDir } from './confine';
import { isAbortError } from './errors';
import { rmQuietly } from './file-io';
import { hashFd, type HashOptions } from './objects';

const LEFTOVER = /^(.+)\.restore-tmp-[0-9a-f]+-\d+$/;

/** The leftover temp names beside each destination (by the destination as given): one readdir per directory. */
export async function findLeftovers(destinations: string[]): Promise<Map<string, string[]>> {
  const byDir = new Map<string, Map<string, string>>();
  for (const d of destinations) {
    const names = byDir.get(dirname(d)) ?? new Map<string, string>();
    byDir.set(dirname(d), names.set(basename(d), d));
  }
  const found = new Map<string, string[]>();
  for (const [dir, names] of byDir) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const base = LEFTOVER.exec(name)?.[1];
      const destination = base === undefined ? undefined : names.get(base);
      if (destination !== undefined) found.set(destination, [...(found.get(destination) ?? []), name]);
    }
  }
  return found;
}

export interface Leftover {
  fd: number;
  /** Its path: through the open directory when confined. */
  tmp: string;
  dir?: ConfinedDir;
}

/**
 * The leftovers `names` beside `destination`: with `adopt`, the first that holds exactly the
 * pointer's bytes is returned open (with the directory it is placed through, when confined to
 * `root`); every other one is removed. Confined, nothing is read or removed but through the checked,
 * open directory.
 */
export async function takeLeftovers(destination: string, names: string[], pointer: LfsPointer, adopt: boolean, root: string | undefined, hashing: HashOptions): Promise<{ adopted?: Leftover; removed: number }> {
  let dir: ConfinedDir | undefined;
  try {
    if (root !== undefined) dir = openConfined(root, destination, false).dir;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { removed: 0 }; // the directory is gone, and they with it
    throw err;
  }
  const at = (name: string) => (dir ? inDir(dir, name) : join(dirname(destination), name));
  let adopted: Leftover | undefined;
  let removed = 0;
  try {
    for (const name of names) {
      const fd = adopt && !adopted ? await openIfHolding(at(name), pointer, hashing) : undefined;
      if (fd !== undefined) adopted = { fd, tmp: at(name), dir };
      else if (rmQuietly(at(name))) removed += 1; // unlink: a symlink goes, never what it points to
    }
  } catch (err) {
    closeConfined(dir);
    throw err;
  }
  if (!adopted) closeConfined(dir);
  return { adopted, removed };
}

/**
 * Opened only as our temp files are: a regular file (never through a symlink, never waiting on a
 * FIFO), ours, with one link (no other name can change it) and not writable by others; then its
 * bytes are hashed. The open fd when they are the pointer's.
 */
async function openIfHolding(path: string, pointer: LfsPointer, hashing: HashOptions): Promise<number | undefined> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined; // a symlink (ELOOP), gone, unreadable: not adopted
  }
  try {
    const s = fstatSync(fd);
    if (s.isFile() && s.nlink === 1 && s.uid === (process.geteuid?.() ?? s.uid) && (s.mode & 0o7022) === 0 && s.size === pointer.size) {
      const actual = await hashFd(fd, path, hashing);
      if (actual.sha256 === pointer.oid && actual.bytes === pointer.size) return fd;
    }
  } catch (err) {
    closeSync(fd);
    if (isAbortError(err)) throw err;
    return undefined; // unreadable: a new copy is made instead
  }
  closeSync(fd);
  return undefined;
}
