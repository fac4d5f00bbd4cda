// One object of a verified copy, staged: checked against its pointer and written to a new temp file
// beside its destination (through its checked, open directory when the copy is confined to a root),
// whose fsync then runs in the background; or a complete temp file a killed copy left there, adopted
// instead (leftovers.ts). Placing it is copy.ts's job.
// Engine code: node:fs and node:crypto; no Temporal.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { LfsPointerError, assertLfsOid, type LfsPointer } from '../../format/lfs/pointer';
import { LfsObjectMismatchError, LfsObjectMissingError, throwIfAborted } from './errors';
import { CHUNK, SMALL_OBJECT, createTemp, fsyncFd, progressEvery, readAt, readFully, removeMadeDirs, rmQuietly, writeAllAt, writeFully } from './file-io';
import { closeConfined, inDir, openConfined, verifyConfined, type ConfinedDir } from './confine';
import { conflict, inspectDestination } from './destination';
import { takeLeftovers } from './leftovers';
import { hashFile, type HashOptions } from './objects';

export interface CopyVerifiedItem {
  objectPath: string;
  pointer: LfsPointer;
  destination: string;
}

export interface CopyVerifiedOptions {
  /**
   * Replace a destination that holds exactly this pointer's text (a checkout without smudge), as
   * `git lfs checkout` does. Off by default: any existing destination with other content is refused.
   */
  replacePointerFile?: boolean;
  /**
   * Checked before each file and between the 1 MiB chunks of one. Once it is aborted the copy stops:
   * the temp file being written is removed, its destination is left as it was, and the error is an
   * AbortError (`name === 'AbortError'`, the signal's reason as `cause`).
   */
  signal?: AbortSignal;
  /**
   * How far the copy of item `index` (of `size` bytes) is: `bytes` read of it so far, each time
   * another 64 MiB is done (copying it, or hashing a file already at its destination). Small files
   * get no call; their completion is the signal.
   */
  onProgress?: (progress: { index: number; bytes: number; size: number }) => void;
  /**
   * The real path of the tree every destination must stay inside (a table's realpath). When set, the
   * directories from it down to each destination's are lstatted before the temp file is made and
   * again just before the file is placed, and the temp file is made and placed through the open
   * directory: a symlink among them (one swapped in during the copy, say) stops the copy with
   * UnsafePathError naming it, and nothing is written outside `root`.
   */
  root?: string;
  /**
   * Look for the temp files a killed earlier copy of these items left beside them
   * (`<destination>.restore-tmp-<hex>-<digits>`): one holding exactly the object is placed instead of
   * a new copy (read to hash it, not written again; the result says `adopted`), the others are
   * removed once their item is reached. Nothing else is touched.
   */
  adoptLeftovers?: boolean;
}

export interface Staged {
  /** The item's position in the caller's list. */
  index: number;
  destination: string;
  pointer: LfsPointer;
  sha256: string;
  bytes: number;
  /** The destination already holds these bytes: `fd` is the destination, only fsynced. */
  already: boolean;
  /** Open on the verified temp file (or the destination when `already`); closed when placed. */
  fd: number;
  /** The fsync of `fd`, started when staged: resolves to its error, if any (never rejects). */
  synced: Promise<unknown>;
  /** The verified temp file, until it is in place. */
  tmp?: string;
  /** Rename over the destination (it holds this pointer's text and replacePointerFile is set). */
  replace: boolean;
  /** The first directory that `mkdir -p` made for the destination. */
  madeDir?: string;
  /** The destination's open directory, when the copy is confined to a root; closed when placed. */
  dir?: ConfinedDir;
  /** `tmp` is a complete copy a killed earlier copy left (adoptLeftovers). */
  adopted?: boolean;
  /** Partial or wrong leftovers of this item removed (adoptLeftovers). */
  leftoversRemoved?: number;
}

/** The signal and progress of item `index`, in the shape hashFile takes. */
export function hashingFor(index: number, size: number, { signal, onProgress }: CopyVerifiedOptions): HashOptions {
  return { signal, onProgress: onProgress && ((bytes) => onProgress({ index, bytes, size })) };
}

/**
 * Verify the object against its pointer and write it to a new temp file next to the destination;
 * or take a complete one of `leftovers` (temp names an earlier copy left beside it) instead.
 */
export async function stage({ objectPath, pointer, destination }: CopyVerifiedItem, index: number, tmpSuffix: string, options: CopyVerifiedOptions, leftovers?: string[]): Promise<Staged> {
  assertLfsOid(pointer.oid);
  const expected = { oid: pointer.oid, size: pointer.size };
  if (pointer.extensions?.length) {
    throw new LfsPointerError('unsupported-extension', `the pointer uses extensions (${pointer.extensions.map((e) => e.name).join(', ')}): the stored object is not the file's content`);
  }
  const hashing = hashingFor(index, pointer.size, options);

  let replace = false;
  const existing = await inspectDestination(destination, pointer, hashing);
  // Adopted only where a new copy would be written; otherwise they all go.
  const writes = existing.kind === 'absent' || (existing.kind === 'pointer' && !!options.replacePointerFile);
  const left = leftovers?.length ? await takeLeftovers(destination, leftovers, pointer, writes, options.root, hashing) : undefined;
  const base = { index, destination, pointer, sha256: pointer.oid, bytes: pointer.size, ...(left?.removed ? { leftoversRemoved: left.removed } : {}) };
  if (existing.kind === 'same') {
    const dir = options.root ? openConfined(options.root, destination, false).dir : undefined;
    let fd: number;
    try {
      fd = openSync(destination, 'r');
    } catch (err) {
      closeConfined(dir);
      throw err;
    }
    return { ...base, already: true, fd, synced: fsyncFd(fd), replace, dir };
  }
  if (existing.kind === 'pointer' && options.replacePointerFile) replace = true;
  else if (existing.kind !== 'absent') throw conflict(destination, pointer, existing);
  if (left?.adopted) {
    const { fd, tmp, dir } = left.adopted;
    return { ...base, already: false, adopted: true, fd, synced: fsyncFd(fd), tmp, replace, dir };
  }

  let source: number;
  try {
    source = openSync(objectPath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new LfsObjectMissingError(objectPath, pointer.oid);
    throw err;
  }
  let tmp = '';
  let madeDir: string | undefined;
  let dir: ConfinedDir | undefined;
  let fd: number | undefined;
  try {
    if (pointer.size <= SMALL_OBJECT) {
      // One read of up to size + 1 bytes tells a short or long object from a good one.
      const buf = Buffer.allocUnsafe(pointer.size + 1);
      const bytes = readFully(source, buf);
      const sha256 = bytes === pointer.size ? createHash('sha256').update(buf.subarray(0, bytes)).digest('hex') : '';
      if (sha256 !== pointer.oid) {
        const actual = bytes === pointer.size ? { sha256, bytes } : await hashFile(objectPath, hashing);
        throw new LfsObjectMismatchError(objectPath, expected, { oid: actual.sha256, size: actual.bytes });
      }
      ({ fd, tmp, madeDir, dir } = makeTemp(destination, tmpSuffix, options.root));
      writeFully(fd, buf.subarray(0, bytes));
    } else {
      const size = fstatSync(source).size;
      if (size !== pointer.size) {
        // Known bad before writing anything: hash for the report, write nothing.
        const actual = await hashFile(objectPath, hashing);
        throw new LfsObjectMismatchError(objectPath, expected, { oid: actual.sha256, size: actual.bytes });
      }
      ({ fd, tmp, madeDir, dir } = makeTemp(destination, tmpSuffix, options.root));
      const hash = createHash('sha256');
      const bytes = await copyHashing(source, fd, hash, destination, hashing);
      const sha256 = hash.digest('hex');
      if (sha256 !== pointer.oid || bytes !== pointer.size) throw new LfsObjectMismatchError(objectPath, expected, { oid: sha256, size: bytes });
    }
    return { ...base, already: false, fd, synced: fsyncFd(fd), tmp, replace, madeDir, dir };
  } catch (err) {
    if (fd !== undefined) {
      closeSync(fd);
      rmQuietly(tmp);
    }
    undoMadeDirs(destination, madeDir, dir);
    closeConfined(dir);
    throw err;
  } finally {
    closeSync(source);
  }
}

/** The temp file `<destination>.restore-tmp-<suffix>`: made through the checked, open directory when confined to `root`. */
function makeTemp(destination: string, suffix: string, root: string | undefined): { fd: number; tmp: string; madeDir?: string; dir?: ConfinedDir } {
  const name = `${basename(destination)}.restore-tmp-${suffix}`;
  if (root === undefined) {
    const tmp = `${destination}.restore-tmp-${suffix}`;
    return { ...createTemp(tmp, dirname(destination)), tmp };
  }
  const { dir, madeDir } = openConfined(root, destination, true);
  const tmp = inDir(dir, name);
  try {
    return { fd: openSync(tmp, 'wx', 0o644), tmp, madeDir, dir };
  } catch (err) {
    undoMadeDirs(destination, madeDir, dir);
    closeConfined(dir);
    throw err;
  }
}

/** Undo the `mkdir -p` of a destination's directories; when confined, only while they are still the ones checked (rmdir never goes through a swapped symlink). */
function undoMadeDirs(destination: string, madeDir: string | undefined, dir: ConfinedDir | undefined): void {
  if (!madeDir) return;
  if (dir) {
    try {
      verifyConfined(dir, destination);
    } catch {
      return;
    }
  }
  removeMadeDirs(dirname(destination), madeDir);
}

/** Where the destination is written: through its open directory when confined. */
export const placeAt = (s: Staged): string => (s.dir ? inDir(s.dir, basename(s.destination)) : s.destination);

/** A failed or abandoned item: its temp file and the directories made for it go (its fd is closed; its directory is closed here). */
export function discard(s: Staged): void {
  if (s.tmp) rmQuietly(s.tmp);
  s.tmp = undefined;
  undoMadeDirs(s.destination, s.madeDir, s.dir);
  closeConfined(s.dir);
  s.dir = undefined;
}

/**
 * Copy `source` to the temp file `out` in 1 MiB chunks, reading the next chunk while the last is
 * written; the signal is checked and progress reported between chunks.
 */
async function copyHashing(source: number, out: number, hash: Hash, destination: string, { signal, onProgress }: HashOptions): Promise<number> {
  const progress = progressEvery(onProgress);
  const buffers = [takeBuffer(), takeBuffer()] as const;
  let writing: Promise<void> = Promise.resolve();
  try {
    let which = 0;
    let pos = 0;
    for (;;) {
      throwIfAborted(signal, `copying to ${destination}`);
      const buf = buffers[which]!;
      const bytesRead = await readAt(source, buf, pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      await writing;
      writing = writeAllAt(out, chunk, pos);
      pos += bytesRead;
      progress(pos);
      which ^= 1;
    }
    await writing;
    return pos;
  } finally {
    await writing.catch(() => {}); // never reuse a buffer under a pending write
    if (spareBuffers.length < 16) spareBuffers.push(...buffers);
  }
}

/** Reused 1 MiB buffers: allocating two per file costs more than copying a small file. */
const spareBuffers: Buffer[] = [];
const takeBuffer = () => spareBuffers.pop() ?? Buffer.allocUnsafe(CHUNK);
