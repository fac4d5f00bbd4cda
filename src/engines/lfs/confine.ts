// Keeping a copy's writes inside one directory tree (a table) while that tree may change under it.
// A destination's directory is checked component by component (lstat: no symlink, a directory),
// opened, and checked again; the temp file is made and placed through the open directory
// (`/proc/self/fd/<fd>/<name>`, openat in effect), and the whole chain is checked once more just
// before placing. A directory swapped for a symlink at any point stops the copy with UnsafePathError
// naming it, and nothing is written outside the tree. Engine code: node:fs only.
import { closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readlinkSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { UnsafePathError } from '../lance/errors';

/** The open directory a destination is written through. */
export interface ConfinedDir {
  /** The real path of the tree (a table), already realpath-resolved by the caller. */
  root: string;
  /** The destination's directory, as a path. */
  path: string;
  fd: number;
  dev: number;
  ino: number;
}

/** Linux names an open directory's entries through /proc; elsewhere (no /proc) paths are used, checked the same way. */
const PROC_FD = existsSync('/proc/self/fd');

/** The path of `name` inside the open directory: it cannot be redirected by a swapped parent. */
export const inDir = (dir: ConfinedDir, name: string): string => (PROC_FD ? `/proc/self/fd/${dir.fd}/${name}` : join(dir.path, name));

/** The directories from `root` (exclusive) down to `dir`, outermost first. */
function components(root: string, destination: string): string[] {
  const rel = relative(root, dirname(destination));
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw unsafe(root, destination, `it is outside ${root}`);
  const out: string[] = [];
  for (const segment of rel === '' ? [] : rel.split(sep)) out.push(join(out.at(-1) ?? root, segment));
  return out;
}

const unsafe = (root: string, destination: string, reason: string) => new UnsafePathError(relative(root, destination), reason, root);

/** Why the directory entry `info` at `path` may not be written through, or undefined. */
function refusal(root: string, path: string, info: Stats): string | undefined {
  const name = relative(root, path);
  if (info.isSymbolicLink()) {
    let target = '?';
    try {
      target = readlinkSync(path);
    } catch {
      /* gone again: the name is what matters */
    }
    return `${name} is a symlink (to ${target}), not a directory of ${root} (swapped in during the copy?); nothing is written through it`;
  }
  if (!info.isDirectory()) return `${name} is not a directory`;
  return undefined;
}

/**
 * Throws UnsafePathError naming the first component between `root` and `destination`'s directory
 * that is a symlink or not a directory; with `make`, absent ones are made one at a time (never
 * through a symlink). Returns the first directory made, and the lstat of the last one (undefined
 * when a component is absent and `make` is off).
 */
export function checkComponents(root: string, destination: string, make = false): { madeDir?: string; last?: Stats } {
  let madeDir: string | undefined;
  let last: Stats | undefined = lstatSync(root);
  for (const path of components(root, destination)) {
    let info = lstatSync(path, { throwIfNoEntry: false });
    if (!info && make) {
      try {
        mkdirSync(path, 0o755);
        madeDir ??= path;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      info = lstatSync(path);
    }
    if (!info) return { madeDir, last: undefined };
    const reason = refusal(root, path, info);
    if (reason) throw unsafe(root, destination, reason);
    last = info;
  }
  return { madeDir, last };
}

/**
 * Opens `destination`'s directory under `root` for writing through, making it if `make` (the first
 * directory made is returned, for undoing). The open directory is the one the checked chain leads to.
 */
export function openConfined(root: string, destination: string, make: boolean): { dir: ConfinedDir; madeDir?: string } {
  const { madeDir } = checkComponents(root, destination, make);
  const path = dirname(destination);
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  const { dev, ino } = fstatSync(fd);
  const dir = { root, path, fd, dev, ino };
  try {
    verifyConfined(dir, destination);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return { dir, madeDir };
}

/**
 * Checks again that the chain from the root to `dir.path` holds no symlink and still leads to the
 * directory that is open: call it just before placing a file. Throws UnsafePathError otherwise.
 */
export function verifyConfined(dir: ConfinedDir, destination: string): void {
  const { last } = checkComponents(dir.root, destination);
  if (!last || last.dev !== dir.dev || last.ino !== dir.ino) {
    throw unsafe(dir.root, destination, `${relative(dir.root, dir.path) || '.'} is no longer the directory the copy opened: it was moved or replaced during the copy`);
  }
}

export function closeConfined(dir: ConfinedDir | undefined): void {
  if (!dir) return;
  try {
    closeSync(dir.fd);
  } catch {
    /* closing is all that is left to do */
  }
}
