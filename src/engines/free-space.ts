// Free space on the filesystem that holds (or will hold) a path: checked before a step writes a
// copy, a snapshot or a backup, so a full disk refuses the work up front instead of failing half-way.
// Engine code: node:fs only.
import { lstat, statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export class NoSpaceError extends Error {
  override name = 'NoSpaceError' as const;
}

/** `path` itself if it exists, else its nearest parent that does: the folder it will be made in. */
export async function nearestExisting(path: string): Promise<string> {
  let existing = resolve(path);
  while (!(await lstat(existing).then(() => true, () => false)) && existing !== dirname(existing)) existing = dirname(existing);
  return existing;
}

/**
 * Bytes a writer may still use on the filesystem of `path` (or of its nearest existing parent):
 * statfs bavail × bsize, so root's reserved blocks do not count, as in `df`'s "Avail".
 */
export async function freeBytes(path: string): Promise<number> {
  const { bavail, bsize } = await statfs(await nearestExisting(path));
  return bavail * bsize;
}

/** Refuses, naming the numbers, when the filesystem that holds (or will hold) `dir` has less than `bytes` free (plus 5%). */
export async function requireFreeSpace(dir: string, bytes: number, what: string): Promise<void> {
  const free = await freeBytes(dir);
  const needed = Math.ceil(bytes * 1.05);
  if (free < needed) throw new NoSpaceError(`${what} needs ${needed} bytes on the filesystem of ${dir}; ${free} are free`);
}
