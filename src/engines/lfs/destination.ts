// What stands at a restore's destination, and putting a verified temp file there without ever
// replacing someone else's file. Engine code: node:fs and node:crypto; no Temporal.
import { createHash } from 'node:crypto';
import { linkSync, lstatSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { LFS_POINTER_MAX_BYTES, isLfsPointerText, parseLfsPointer, type LfsPointer } from '../../format/lfs/pointer';
import { LfsDestinationConflictError } from './errors';
import { SMALL_OBJECT } from './file-io';
import { hashFile, type HashOptions } from './objects';

export type Destination =
  | { kind: 'absent' }
  | { kind: 'same' }
  /** Holds exactly this pointer's text. */
  | { kind: 'pointer'; size: number }
  | { kind: 'file'; size: number; oid?: string }
  | { kind: 'other'; size: number };

export const conflict = (destination: string, pointer: LfsPointer, found: Extract<Destination, { size: number }>) =>
  new LfsDestinationConflictError(destination, { oid: pointer.oid, size: pointer.size }, found);

/** What is at the destination now. Hashes it only when its size is the pointer's (synchronously when small). */
export async function inspectDestination(destination: string, pointer: LfsPointer, hashing: HashOptions = {}): Promise<Destination> {
  let info;
  try {
    info = lstatSync(destination);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw err;
  }
  if (!info.isFile()) return { kind: 'other', size: info.size };
  if (info.size !== pointer.size) {
    if (info.size >= LFS_POINTER_MAX_BYTES) return { kind: 'file', size: info.size };
    const text = readFileSync(destination);
    if (isLfsPointerText(text)) {
      let p: LfsPointer | undefined;
      try {
        p = parseLfsPointer(text);
      } catch {
        p = undefined;
      }
      if (p && p.oid === pointer.oid && p.size === pointer.size) return { kind: 'pointer', size: text.length };
    }
    return { kind: 'file', size: text.length };
  }
  const actual = info.size <= SMALL_OBJECT ? hashSmallFile(destination) : await hashFile(destination, hashing);
  if (actual.sha256 === pointer.oid && actual.bytes === pointer.size) return { kind: 'same' };
  return { kind: 'file', size: actual.bytes, oid: actual.sha256 };
}

function hashSmallFile(path: string): { sha256: string; bytes: number } {
  const bytes = readFileSync(path);
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
}

/**
 * Move the verified temp file to `destination` unless something is there already. `at` is the path
 * written (the destination through its open directory, for a confined copy); `destination` names it.
 */
export async function placeWithoutOverwrite(tmp: string, destination: string, pointer: LfsPointer, hashing: HashOptions = {}, at = destination): Promise<'placed' | 'existed'> {
  try {
    linkSync(tmp, at); // fails with EEXIST instead of replacing
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      unlinkSync(tmp);
      const now = await inspectDestination(destination, pointer, hashing);
      if (now.kind === 'same') return 'existed';
      throw conflict(destination, pointer, now.kind === 'absent' ? { kind: 'other', size: 0 } : now);
    }
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK' && code !== 'ENOSYS') throw err;
    // No hard links on this file system: check, then rename (a small window, not atomic).
    const now = await inspectDestination(destination, pointer, hashing);
    if (now.kind !== 'absent') {
      unlinkSync(tmp);
      if (now.kind === 'same') return 'existed';
      throw conflict(destination, pointer, now);
    }
    renameSync(tmp, at);
    return 'placed';
  }
  unlinkSync(tmp);
  return 'placed';
}
