// Path safety of a Lance table: the security boundary between untrusted manifests and the disk.
// Every path a manifest names, and every path a restore writes, passes through here: it must be a
// plain relative path, and it must stay inside the table whatever symlinks (existing or dangling)
// lie on the way. Engine code: node:fs only.
import { type Stats, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { UnsafePathError } from './errors';

/** Why `rel` may not be used as a relative path inside a table, or undefined if it may. */
export function unsafeReason(rel: string): string | undefined {
  if (rel === '') return 'it is empty';
  if (rel.includes('\0')) return 'it contains a NUL byte';
  if (rel.includes('\\')) return 'it contains a backslash';
  if (rel.startsWith('/') || isAbsolute(rel) || /^[A-Za-z]:/.test(rel)) return 'it is absolute';
  if (rel.split('/').includes('..')) return 'it has a ".." segment';
  return undefined;
}

/** Throws UnsafePathError naming `source` if the manifest path `raw` is not a plain relative path. */
export function checkManifestPath(raw: string, source: string): void {
  const reason = unsafeReason(raw);
  if (reason) throw new UnsafePathError(raw, reason, source);
}

const inside = (root: string, target: string): boolean => {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
};

/**
 * resolveInsideTable with the table's real path `root` already known and `source` (the manifest, or
 * the table) for messages; `lstats` caches lstat results across the paths of one inspection.
 */
export function resolveIn(root: string, relPath: string, source: string, original = relPath, depth = 0, lstats?: Map<string, Stats | null>): string {
  const reason = unsafeReason(relPath);
  if (reason) throw new UnsafePathError(original, reason, source);
  const segments = relPath.split('/').filter((s) => s !== '' && s !== '.');
  let current = root;
  for (let i = 0; i < segments.length; i++) {
    const next = join(current, segments[i]!);
    const info = lstatOrNull(next, lstats);
    if (!info) {
      // Absent (or unreadable): nothing below it can be a symlink yet.
      current = join(next, ...segments.slice(i + 1));
      break;
    }
    if (info.isSymbolicLink()) {
      let target: string;
      let dangling = false;
      try {
        target = realpathSync(next);
      } catch {
        // Dangling link: judge where it points, then walk that path the same way (it may itself
        // pass through further links).
        target = resolve(dirname(next), readlinkSync(next));
        dangling = true;
      }
      if (!inside(root, target)) {
        throw new UnsafePathError(original, `${segments.slice(0, i + 1).join('/')} is a symlink to ${target}, outside the table ${root}`, source);
      }
      if (dangling) {
        if (depth >= 40) throw new UnsafePathError(original, 'too many levels of symlinks', source);
        const rest = relative(root, target).split(sep).join('/');
        current = rest === '' ? root : resolveIn(root, rest, source, original, depth + 1, lstats);
      } else {
        current = target;
      }
    } else {
      current = next;
    }
  }
  if (!inside(root, current)) throw new UnsafePathError(original, `it resolves to ${current}, outside the table ${root}`, source);
  return current;
}

/** lstat of `path`, null when it fails; answered from and kept in `lstats` when given (one inspection). */
function lstatOrNull(path: string, lstats?: Map<string, Stats | null>): Stats | null {
  let info = lstats?.get(path);
  if (info === undefined) {
    try {
      info = lstatSync(path, { throwIfNoEntry: false }) ?? null;
    } catch {
      info = null;
    }
    lstats?.set(path, info);
  }
  return info;
}

/**
 * The real absolute path of `relPath` (table-relative, `/`-separated) inside `tableDir`. Throws
 * UnsafePathError if `relPath` is empty or absolute, has `..` segments, backslashes or NUL bytes,
 * or leads (through symlinks, existing or dangling) outside the table. The file need not exist.
 * Restore code calls this before writing any file a manifest names.
 */
export function resolveInsideTable(tableDir: string, relPath: string): string {
  return resolveIn(realpathSync(tableDir), relPath, tableDir);
}
