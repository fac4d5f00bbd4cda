// Objects in the local LFS store: where an object lives, and whether its bytes are the ones its
// pointer names (sha256 and size). Engine code: node:fs and node:crypto; no Temporal.
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LFS_EMPTY_OID, assertLfsOid, lfsObjectRelPath, type LfsPointer } from '../../format/lfs/pointer';
import { isAbortError, throwIfAborted } from './errors';
import { CHUNK, progressEvery, readAt } from './file-io';

export interface LfsObjectCheck {
  /** `<gitDir>/lfs/objects/aa/bb/<oid>` (`/dev/null` for empty content, as in git-lfs). */
  objectPath: string;
  present: boolean;
  /** Size and sha256 both match the pointer. */
  verified: boolean;
  actualSize?: number;
  actualOid?: string;
  /** Why it is not verified, in words. */
  problem?: string;
}

export interface HashOptions {
  /** Checked between chunks: once it is aborted the hash stops with AbortError. */
  signal?: AbortSignal;
  /** The bytes hashed so far, each time another 64 MiB (PROGRESS_BYTES) is done: for heartbeats on large files. */
  onProgress?: (bytes: number) => void;
}

/** sha256 and size of a file, read once in 1 MiB chunks. */
export async function hashFile(path: string, options: HashOptions = {}): Promise<{ sha256: string; bytes: number }> {
  const fh = await open(path, 'r');
  try {
    return await hashFd(fh.fd, path, options);
  } finally {
    await fh.close();
  }
}

/** sha256 and size of the open file `fd` from its start, read in 1 MiB chunks; `what` names it when aborted. */
export async function hashFd(fd: number, what: string, options: HashOptions = {}): Promise<{ sha256: string; bytes: number }> {
  const progress = progressEvery(options.onProgress);
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  let bytes = 0;
  for (;;) {
    throwIfAborted(options.signal, `hashing ${what}`);
    const bytesRead = await readAt(fd, buf, bytes);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    bytes += bytesRead;
    progress(bytes);
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Where the object for `pointer` lives under `gitDir`. Throws LfsPointerError for an invalid oid. */
export function lfsObjectPath(gitDir: string, pointer: LfsPointer): string {
  assertLfsOid(pointer.oid);
  return pointer.oid === LFS_EMPTY_OID && pointer.size === 0 ? '/dev/null' : join(gitDir, lfsObjectRelPath(pointer.oid));
}

/**
 * Is the object for `pointer` in the local store, and do its bytes hash to the pointer's oid with
 * the pointer's size? Reads the whole object once. Never throws for a missing or bad object (see
 * `present`, `verified`, `problem`); throws LfsPointerError if the pointer's oid is invalid, and
 * AbortError once `options.signal` is aborted.
 */
export async function verifyLfsObject(gitDir: string, pointer: LfsPointer, options: HashOptions = {}): Promise<LfsObjectCheck> {
  const objectPath = lfsObjectPath(gitDir, pointer);
  if (objectPath === '/dev/null') return { objectPath, present: true, verified: true, actualSize: 0, actualOid: LFS_EMPTY_OID };
  let info;
  try {
    info = await stat(objectPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { objectPath, present: false, verified: false, problem: code === 'ENOENT' ? `LFS object ${pointer.oid} is not in the local store (${objectPath})` : `cannot read ${objectPath}: ${(err as Error).message}` };
  }
  if (!info.isFile()) return { objectPath, present: false, verified: false, problem: `${objectPath} is not a regular file` };
  let actual;
  try {
    actual = await hashFile(objectPath, options);
  } catch (err) {
    if (isAbortError(err)) throw err;
    return { objectPath, present: true, verified: false, actualSize: info.size, problem: `cannot read ${objectPath}: ${(err as Error).message}` };
  }
  const result: LfsObjectCheck = { objectPath, present: true, verified: false, actualSize: actual.bytes, actualOid: actual.sha256 };
  if (actual.bytes !== pointer.size) result.problem = `LFS object ${pointer.oid} is ${actual.bytes} bytes, its pointer says ${pointer.size} (truncated or corrupt)`;
  else if (actual.sha256 !== pointer.oid) result.problem = `LFS object ${pointer.oid} is corrupt: its bytes hash to ${actual.sha256}`;
  else if (pointer.extensions?.length) result.problem = `the pointer uses extensions (${pointer.extensions.map((e) => e.name).join(', ')}): the object is not the file's content`;
  else result.verified = true;
  return result;
}
