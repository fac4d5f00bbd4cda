// Finding the LFS pointer a path had: in the working tree, at HEAD, or in history (formats.md
// section 2). Engine code: node:fs and git; no Temporal.
import { lstat, open } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { LFS_POINTER_MAX_BYTES, isLfsPointerText, parseLfsPointer, type LfsPointer } from '../../format/lfs/pointer';
import { catBlobSizes, catBlobs, git } from './git';

/** Above this many distinct directories, list the whole tree instead of passing pathspecs. */
const MAX_PATHSPECS = 256;

export type PointerSource = 'worktree' | 'head' | 'history';

export interface FoundPointer {
  pointer: LfsPointer;
  /** The working-tree file is a pointer text; or the blob at HEAD; or the newest commit that had one. */
  source: PointerSource;
  /** For 'history': the commit whose blob the pointer was read from. */
  commit?: string;
}

/**
 * The LFS pointer for each repo-relative path (`/`-separated, relative to the top level), from
 * the first place that has one:
 *  1. the working-tree file, if it is a pointer text (a checkout without smudge);
 *  2. the blob at HEAD (one `git ls-tree` and one `git cat-file --batch` for all paths);
 *  3. the newest commit on any ref or reflog entry that added or changed the path to a pointer
 *     (one `git log --raw` and two `git cat-file` for all paths).
 * Paths with no pointer anywhere, and paths that leave the repository, are absent from the map.
 * A pointer-looking text that breaks the spec is skipped (the next place is tried).
 */
export async function findPointers(repoRoot: string, paths: string[]): Promise<Map<string, FoundPointer>> {
  const found = new Map<string, FoundPointer>();
  // clean path -> the keys the caller used for it
  const wanted = new Map<string, string[]>();
  for (const p of paths) {
    const clean = cleanRepoPath(p);
    if (clean === undefined) continue;
    const keys = wanted.get(clean);
    if (keys) keys.push(p);
    else wanted.set(clean, [p]);
  }
  const settle = (clean: string, value: FoundPointer) => {
    for (const key of wanted.get(clean) ?? []) found.set(key, value);
    wanted.delete(clean);
  };

  // 1. working tree
  const worktree = await mapLimit([...wanted.keys()], 32, async (clean) => [clean, await readWorktreePointer(join(repoRoot, clean))] as const);
  for (const [clean, pointer] of worktree) if (pointer) settle(clean, { pointer, source: 'worktree' });
  if (!wanted.size) return found;

  // 2. HEAD
  const head = await git(repoRoot, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}']).then(
    (out) => out.trim(),
    () => undefined,
  );
  if (head) {
    const listing = await git(repoRoot, ['--literal-pathspecs', 'ls-tree', '-r', '-l', '-z', '--full-tree', head, '--', ...pathspecs(wanted.keys())]);
    const blobs = new Map<string, string>(); // clean path -> blob oid
    for (const entry of listing.split('\0')) {
      const tab = entry.indexOf('\t');
      if (tab < 0) continue;
      const path = entry.slice(tab + 1);
      if (!wanted.has(path)) continue;
      const [mode, type, oid, size] = entry.slice(0, tab).split(/ +/);
      if (type !== 'blob' || !isFileMode(mode) || !oid || Number(size) >= LFS_POINTER_MAX_BYTES) continue;
      blobs.set(path, oid);
    }
    const contents = await catBlobs(repoRoot, new Set(blobs.values()));
    for (const [path, oid] of blobs) {
      const pointer = pointerFromBlob(contents.get(oid));
      if (pointer) settle(path, { pointer, source: 'head' });
    }
  }
  if (!wanted.size) return found;

  // 3. history, newest first
  const log = await git(repoRoot, [
    '--literal-pathspecs',
    'log',
    '--all',
    '--reflog',
    '--no-renames',
    '--raw',
    '--no-abbrev',
    '-z',
    '--format=%x01%H',
    '--diff-filter=AMT',
    '--',
    ...pathspecs(wanted.keys()),
  ]).catch(() => ''); // no commits at all
  const candidates = new Map<string, Array<{ commit: string; blob: string }>>();
  let commit = '';
  const tokens = log.split('\0');
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!.replace(/^\n/, '');
    if (token.startsWith('\x01')) {
      commit = token.slice(1);
    } else if (token.startsWith(':')) {
      const path = tokens[++i] ?? '';
      const [, newMode, , blob] = token.slice(1).split(' ');
      if (!commit || !blob || !isFileMode(newMode) || !wanted.has(path)) continue;
      const list = candidates.get(path);
      if (list) list.push({ commit, blob });
      else candidates.set(path, [{ commit, blob }]);
    }
  }
  const allBlobs = new Set([...candidates.values()].flatMap((list) => list.map((c) => c.blob)));
  const sizes = await catBlobSizes(repoRoot, allBlobs);
  const small = new Set([...allBlobs].filter((b) => (sizes.get(b) ?? Infinity) < LFS_POINTER_MAX_BYTES));
  const contents = await catBlobs(repoRoot, small);
  for (const [path, list] of candidates) {
    for (const { commit, blob } of list) {
      const pointer = pointerFromBlob(contents.get(blob));
      if (pointer) {
        settle(path, { pointer, source: 'history', commit });
        break;
      }
    }
  }
  return found;
}

/** A normalized `/`-separated path inside the repository, or undefined for one that escapes it. */
function cleanRepoPath(p: string): string | undefined {
  if (!p || p.includes('\0') || p.includes('\n')) return undefined;
  const clean = posix.normalize(p.replaceAll('\\', '/')).replace(/\/+$/, '');
  if (clean === '.' || clean === '..' || clean.startsWith('../') || clean.startsWith('/') || clean === '.git' || clean.startsWith('.git/')) return undefined;
  return clean;
}

/** The distinct parent directories of the paths, as literal pathspecs; none (whole tree) when too many. */
function pathspecs(paths: Iterable<string>): string[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    const dir = posix.dirname(p);
    if (dir === '.') return [];
    dirs.add(dir);
  }
  return dirs.size > MAX_PATHSPECS ? [] : [...dirs];
}

const isFileMode = (mode: string | undefined) => mode === '100644' || mode === '100755';

async function readWorktreePointer(file: string): Promise<LfsPointer | undefined> {
  try {
    const info = await lstat(file);
    if (!info.isFile() || info.size === 0 || info.size >= LFS_POINTER_MAX_BYTES) return undefined;
    const fh = await open(file, 'r');
    try {
      const buf = new Uint8Array(LFS_POINTER_MAX_BYTES);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const bytes = buf.subarray(0, bytesRead);
      return isLfsPointerText(bytes) ? parseLfsPointer(bytes) : undefined;
    } finally {
      await fh.close();
    }
  } catch {
    return undefined; // missing, unreadable, or a pointer that breaks the spec
  }
}

function pointerFromBlob(bytes: Uint8Array | undefined): LfsPointer | undefined {
  if (!bytes || bytes.length === 0 || !isLfsPointerText(bytes)) return undefined;
  try {
    return parseLfsPointer(bytes);
  } catch {
    return undefined;
  }
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
