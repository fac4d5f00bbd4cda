// The local Git LFS object store (formats.md section 2): find the pointer a path had (working tree,
// HEAD, or history), check an object against its pointer, and copy an object back into place
// without ever writing bytes that do not match. Engine code: node:fs, node:crypto and git via execa;
// no Temporal.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsync, linkSync, lstatSync, mkdirSync, openSync, read, readFileSync, readSync, renameSync, rmdirSync, statSync, unlinkSync, write, writeSync } from 'node:fs';
import { lstat, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import { execa } from 'execa';
import {
  LFS_EMPTY_OID,
  LFS_POINTER_MAX_BYTES,
  LfsPointerError,
  assertLfsOid,
  isLfsPointerText,
  lfsObjectRelPath,
  parseLfsPointer,
  type LfsPointer,
} from '../../format/lfs/pointer';

/** Read and write unit for object copies and hashing. */
const CHUNK = 1024 * 1024;
/** git output can be large for big trees and histories; execa's default limit is 100 MB. */
const MAX_GIT_OUTPUT = 1024 * 1024 * 1024;
/** Above this many distinct directories, list the whole tree instead of passing pathspecs. */
const MAX_PATHSPECS = 256;

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * `dir` is not inside a git working tree (or does not exist, or git is not installed). Nothing can
 * be looked up in LFS for it: check the path, or pass the repository explicitly.
 */
export class NotAGitRepositoryError extends Error {
  override name = 'NotAGitRepositoryError' as const;
  constructor(
    readonly dir: string,
    readonly detail: string,
  ) {
    super(`not a git repository (or no work tree): ${dir}${detail ? `: ${detail}` : ''}`);
  }
}

/**
 * The object the pointer names is not in the local LFS store. It may still exist on the LFS
 * server (`git lfs fetch`) or in another clone; retrying here will not help.
 */
export class LfsObjectMissingError extends Error {
  override name = 'LfsObjectMissingError' as const;
  constructor(
    readonly objectPath: string,
    readonly oid: string,
  ) {
    super(`LFS object ${oid} is not in the local store: ${objectPath} does not exist`);
  }
}

/**
 * The object's bytes do not hash to the pointer's oid or have another size: the store holds a
 * corrupt or truncated object (`git lfs fsck` would call it corrupt). Nothing was written at the
 * destination. Do not retry; get the object again (`git lfs fetch`, another clone, a backup).
 */
export class LfsObjectMismatchError extends Error {
  override name = 'LfsObjectMismatchError' as const;
  constructor(
    readonly objectPath: string,
    readonly expected: { oid: string; size: number },
    readonly actual: { oid: string; size: number },
  ) {
    super(
      `LFS object ${objectPath} does not match its pointer: expected sha256 ${expected.oid} (${expected.size} bytes), ` +
        `got sha256 ${actual.oid} (${actual.size} bytes); nothing was written`,
    );
  }
}

/**
 * The destination already exists with other content than the pointer's. Restores never overwrite
 * a file: move it aside (it may be a newer version, or the only copy of something) and run again.
 */
export class LfsDestinationConflictError extends Error {
  override name = 'LfsDestinationConflictError' as const;
  constructor(
    readonly destination: string,
    readonly expected: { oid: string; size: number },
    readonly actual: { oid?: string; size: number; kind: 'file' | 'pointer' | 'other' },
  ) {
    super(
      `refusing to overwrite ${destination}: it exists with other content (` +
        (actual.kind === 'other'
          ? 'not a regular file'
          : actual.kind === 'pointer'
            ? `this object's LFS pointer text, ${actual.size} bytes`
            : `${actual.size} bytes${actual.oid ? `, sha256 ${actual.oid}` : ''}`) +
        `) than the LFS object ${expected.oid} (${expected.size} bytes)`,
    );
  }
}

/** Name-based guards: they also match after serialization (an activity failure's `type`). */
const isNamed = (name: string) => (error: unknown) => (error as { name?: unknown } | null)?.name === name;
export const isNotAGitRepositoryError = isNamed('NotAGitRepositoryError') as (e: unknown) => e is NotAGitRepositoryError;
export const isLfsObjectMissingError = isNamed('LfsObjectMissingError') as (e: unknown) => e is LfsObjectMissingError;
export const isLfsObjectMismatchError = isNamed('LfsObjectMismatchError') as (e: unknown) => e is LfsObjectMismatchError;
export const isLfsDestinationConflictError = isNamed('LfsDestinationConflictError') as (e: unknown) => e is LfsDestinationConflictError;

// ---------------------------------------------------------------------------------------------
// git

async function git(cwd: string, args: string[], input?: string): Promise<string> {
  const result = await execa('git', args, { cwd, input, maxBuffer: MAX_GIT_OUTPUT, stripFinalNewline: false, env: { GIT_TERMINAL_PROMPT: '0' } });
  return result.stdout;
}

async function gitBytes(cwd: string, args: string[], input: string): Promise<Uint8Array> {
  const result = await execa('git', args, { cwd, input, encoding: 'buffer', maxBuffer: MAX_GIT_OUTPUT, env: { GIT_TERMINAL_PROMPT: '0' } });
  return result.stdout;
}

function gitFailure(err: unknown): string {
  const e = err as { stderr?: unknown; code?: unknown; shortMessage?: unknown; message?: unknown };
  if (e.code === 'ENOENT') return 'git is not installed or not on PATH';
  const stderr = typeof e.stderr === 'string' ? e.stderr.trim() : '';
  return stderr || String(e.shortMessage ?? e.message ?? err);
}

/** The top level of the working tree that contains `dir` (`git rev-parse --show-toplevel`), an absolute path. */
export async function gitTopLevel(dir: string): Promise<string> {
  try {
    return (await git(dir, ['rev-parse', '--show-toplevel'])).trim();
  } catch (err) {
    throw new NotAGitRepositoryError(dir, gitFailure(err));
  }
}

/**
 * The absolute git directory that holds the LFS store (`<gitDir>/lfs/objects`) for `repoRoot`:
 * `git rev-parse --git-common-dir`, which is `.git` for a plain clone and the main repository's
 * git dir for a linked worktree (git-lfs keeps one store per repository). A custom `lfs.storage`
 * setting is not followed.
 */
export async function gitDir(repoRoot: string): Promise<string> {
  const plain = plainGitDir(repoRoot);
  if (plain) return plain;
  try {
    return resolve(repoRoot, (await git(repoRoot, ['rev-parse', '--git-common-dir'])).trim());
  } catch (err) {
    throw new NotAGitRepositoryError(repoRoot, gitFailure(err));
  }
}

/**
 * `<repoRoot>/.git` when it is an ordinary repository's git directory (HEAD, objects and refs in it,
 * no `commondir`: not a linked worktree's) and no GIT_* variable redirects git: what git itself
 * would answer, without starting it (a process start costs more than a small restore's copies).
 */
function plainGitDir(repoRoot: string): string | undefined {
  if (process.env.GIT_DIR || process.env.GIT_COMMON_DIR || process.env.GIT_WORK_TREE) return undefined;
  const dir = resolve(repoRoot, '.git');
  try {
    if (!lstatSync(dir).isDirectory() || !lstatSync(join(dir, 'HEAD')).isFile()) return undefined;
    if (!statSync(join(dir, 'objects')).isDirectory() || !statSync(join(dir, 'refs')).isDirectory()) return undefined;
  } catch {
    return undefined;
  }
  return existsSync(join(dir, 'commondir')) ? undefined : dir;
}

// ---------------------------------------------------------------------------------------------
// Finding pointers

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

/** The contents of the blobs, by oid, from one `git cat-file --batch`. */
async function catBlobs(repoRoot: string, oids: Set<string>): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  if (!oids.size) return out;
  const buf = await gitBytes(repoRoot, ['cat-file', '--batch'], [...oids].join('\n') + '\n');
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) break;
    const header = new TextDecoder().decode(buf.subarray(pos, nl)).split(' ');
    pos = nl + 1;
    if (header.length !== 3) continue; // "<oid> missing"
    const size = Number(header[2]);
    if (header[1] === 'blob') out.set(header[0]!, buf.subarray(pos, pos + size));
    pos += size + 1;
  }
  return out;
}

/** The sizes of the objects, by oid, from one `git cat-file --batch-check`. */
async function catBlobSizes(repoRoot: string, oids: Set<string>): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!oids.size) return out;
  const text = await git(repoRoot, ['cat-file', '--batch-check'], [...oids].join('\n') + '\n');
  for (const line of text.split('\n')) {
    const [oid, type, size] = line.split(' ');
    if (oid && type === 'blob') out.set(oid, Number(size));
  }
  return out;
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

// ---------------------------------------------------------------------------------------------
// Checking and copying objects

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

/** sha256 and size of a file, read once in 1 MiB chunks. */
export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const fh = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, bytes);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    return { sha256: hash.digest('hex'), bytes };
  } finally {
    await fh.close();
  }
}

/** Where the object for `pointer` lives under `gitDir`. Throws LfsPointerError for an invalid oid. */
export function lfsObjectPath(gitDir: string, pointer: LfsPointer): string {
  assertLfsOid(pointer.oid);
  return pointer.oid === LFS_EMPTY_OID && pointer.size === 0 ? '/dev/null' : join(gitDir, lfsObjectRelPath(pointer.oid));
}

/**
 * Is the object for `pointer` in the local store, and do its bytes hash to the pointer's oid with
 * the pointer's size? Reads the whole object once. Never throws for a missing or bad object (see
 * `present`, `verified`, `problem`); throws LfsPointerError if the pointer's oid is invalid.
 */
export async function verifyLfsObject(gitDir: string, pointer: LfsPointer): Promise<LfsObjectCheck> {
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
    actual = await hashFile(objectPath);
  } catch (err) {
    return { objectPath, present: true, verified: false, actualSize: info.size, problem: `cannot read ${objectPath}: ${(err as Error).message}` };
  }
  const result: LfsObjectCheck = { objectPath, present: true, verified: false, actualSize: actual.bytes, actualOid: actual.sha256 };
  if (actual.bytes !== pointer.size) result.problem = `LFS object ${pointer.oid} is ${actual.bytes} bytes, its pointer says ${pointer.size} (truncated or corrupt)`;
  else if (actual.sha256 !== pointer.oid) result.problem = `LFS object ${pointer.oid} is corrupt: its bytes hash to ${actual.sha256}`;
  else if (pointer.extensions?.length) result.problem = `the pointer uses extensions (${pointer.extensions.map((e) => e.name).join(', ')}): the object is not the file's content`;
  else result.verified = true;
  return result;
}

export interface CopyVerifiedOptions {
  /**
   * Replace a destination that holds exactly this pointer's text (a checkout without smudge), as
   * `git lfs checkout` does. Off by default: any existing destination with other content is refused.
   */
  replacePointerFile?: boolean;
}

export interface CopyVerifiedResult {
  sha256: string;
  bytes: number;
  /** The destination already held these bytes: nothing was written (it was only fsynced). */
  already: boolean;
}

export interface CopyVerifiedItem {
  objectPath: string;
  pointer: LfsPointer;
  destination: string;
}

/**
 * Copy the LFS object at `objectPath` to `destination`, verifying it while copying (one read pass).
 *
 * The bytes go to `destination.restore-tmp-<random>` first; only when their sha256 and size match
 * the pointer is the file fsynced, moved into place without overwriting (a hard link, so a file
 * that appeared meanwhile is never replaced) and the directory fsynced. On a mismatch nothing is
 * written and LfsObjectMismatchError is thrown: nothing is left at the destination.
 *
 * An existing destination with the right content counts as done (`already: true`; it is fsynced,
 * never rewritten); with other content LfsDestinationConflictError is thrown. A missing object
 * throws LfsObjectMissingError; a pointer with an invalid oid or with extensions throws LfsPointerError.
 */
export async function copyVerifiedObject(
  objectPath: string,
  pointer: LfsPointer,
  destination: string,
  options: CopyVerifiedOptions = {},
): Promise<CopyVerifiedResult> {
  const { results, error } = await copyVerifiedObjects([{ objectPath, pointer, destination }], options);
  if (error !== undefined || !results[0]) throw error;
  return results[0];
}

export interface CopyVerifiedBatchOptions extends CopyVerifiedOptions {
  /** Items per batch: the unit of event-loop blocking, of directory fsyncs and of `afterBatch`. All in one by default. */
  batchSize?: number;
  /** Called (and awaited) just before item `index` is read: to move aside what stands at its destination, say. */
  beforeItem?: (index: number) => Promise<void> | void;
  /** Called (and awaited) with each batch's results, in order, once they are durable; `first` is the index of the first. */
  afterBatch?: (results: CopyVerifiedResult[], first: number) => Promise<void> | void;
}

/**
 * `copyVerifiedObject` for many objects, with the same guarantees for each, in a fraction of the
 * time for small objects: their bytes are read, verified and written to temp files with synchronous
 * calls (no thread-pool round trip per call), the temp files' fsyncs run concurrently in the thread
 * pool, and each directory is fsynced once per batch. While one batch's last fsyncs complete, it is
 * placed and its directories fsynced, the next batch is already being copied.
 *
 * Items are handled in order and the first failure stops everything: `results` holds one result for
 * each item before it (each verified, fsynced, in place, its directory fsynced: durable; reported
 * batch by batch to `afterBatch`), and `error` the failure. Nothing of the failed item or of later
 * ones is left behind (no temp file, no destination written).
 */
export async function copyVerifiedObjects(
  items: CopyVerifiedItem[],
  options: CopyVerifiedBatchOptions = {},
): Promise<{ results: CopyVerifiedResult[]; error?: unknown }> {
  const size = Math.max(1, options.batchSize ?? items.length);
  const tag = randomBytes(6).toString('hex'); // temp files are `<destination>.restore-tmp-<tag>-<index>`
  const results: CopyVerifiedResult[] = [];
  let index = 0;
  let stageError: unknown;
  let staging = true;
  let pending: Staged[] | undefined;
  while (pending || (staging && index < items.length)) {
    // Copy the next batch (mostly synchronous) while the pending batch's fsyncs run in the pool.
    let next: Staged[] | undefined;
    if (staging && index < items.length) {
      next = [];
      for (const end = Math.min(index + size, items.length); index < end; index++) {
        try {
          await options.beforeItem?.(index);
          next.push(await stage(items[index]!, `${tag}-${index}`, options));
        } catch (err) {
          stageError = err;
          staging = false;
          break;
        }
      }
    }
    if (pending) {
      const first = results.length;
      const finished = await finishBatch(pending);
      results.push(...finished.results);
      let error = finished.error;
      if (finished.results.length) {
        try {
          await options.afterBatch?.(finished.results, first);
        } catch (err) {
          error ??= err;
        }
      }
      if (error !== undefined) {
        if (next) await abandonBatch(next);
        return { results, error };
      }
    }
    pending = next?.length ? next : undefined;
  }
  return staging ? { results } : { results, error: stageError };
}

/** Into place, in order, each once its fsync is done; then each directory fsynced. Stops at the first failure. */
async function finishBatch(staged: Staged[]): Promise<{ results: CopyVerifiedResult[]; error?: unknown }> {
  const results: CopyVerifiedResult[] = [];
  const placed: Staged[] = [];
  let error: unknown;
  let stopped = false;
  for (const s of staged) {
    let syncError = await s.synced;
    try {
      closeSync(s.fd);
    } catch (err) {
      syncError ??= err;
    }
    if (stopped) {
      discard(s);
      continue;
    }
    try {
      if (syncError) throw syncError;
      if (s.tmp && s.replace) {
        renameSync(s.tmp, s.destination);
      } else if (s.tmp) {
        if ((await placeWithoutOverwrite(s.tmp, s.destination, s.pointer)) === 'existed') s.already = true;
      }
      s.tmp = undefined;
      placed.push(s);
      results.push({ sha256: s.sha256, bytes: s.bytes, already: s.already });
    } catch (err) {
      error = err;
      stopped = true;
      discard(s);
    }
  }
  // The directory entries: each directory once (and the parents of directories made here).
  const dirs = new Set<string>();
  for (const s of placed) {
    dirs.add(dirname(s.destination));
    if (s.madeDir) for (let d = dirname(s.destination); d.length >= s.madeDir.length; d = dirname(d)) dirs.add(dirname(d));
  }
  try {
    await Promise.all([...dirs].map(fsyncDir));
  } catch (err) {
    return { results: [], error: err }; // in place, but not known durable: a retry finds them and syncs again
  }
  return stopped ? { results, error } : { results };
}

/** A staged batch that will not be placed: wait for its fsyncs, then close and remove everything. */
async function abandonBatch(staged: Staged[]): Promise<void> {
  for (const s of staged) {
    await s.synced;
    try {
      closeSync(s.fd);
    } catch {
      /* closing is all that is left to do */
    }
    discard(s);
  }
}

/** Objects up to this size are copied from one buffer with synchronous calls; larger ones are streamed. */
const SMALL_OBJECT = CHUNK;

interface Staged {
  destination: string;
  pointer: LfsPointer;
  sha256: string;
  bytes: number;
  /** The destination already holds these bytes: `fd` is the destination, only fsynced. */
  already: boolean;
  /** Open on the verified temp file (or the destination when `already`); closed in step 2. */
  fd: number;
  /** The fsync of `fd`, started when staged: resolves to its error, if any (never rejects). */
  synced: Promise<unknown>;
  /** The verified temp file, until it is in place. */
  tmp?: string;
  /** Rename over the destination (it holds this pointer's text and replacePointerFile is set). */
  replace: boolean;
  /** The first directory that `mkdir -p` made for the destination. */
  madeDir?: string;
}

/** Verify the object against its pointer and write it to a new temp file next to the destination. */
async function stage({ objectPath, pointer, destination }: CopyVerifiedItem, tmpSuffix: string, options: CopyVerifiedOptions): Promise<Staged> {
  assertLfsOid(pointer.oid);
  const expected = { oid: pointer.oid, size: pointer.size };
  if (pointer.extensions?.length) {
    throw new LfsPointerError('unsupported-extension', `the pointer uses extensions (${pointer.extensions.map((e) => e.name).join(', ')}): the stored object is not the file's content`);
  }
  const base = { destination, pointer, sha256: pointer.oid, bytes: pointer.size };

  let replace = false;
  const existing = await inspectDestination(destination, pointer);
  if (existing.kind === 'same') {
    const fd = openSync(destination, 'r');
    return { ...base, already: true, fd, synced: fsyncFd(fd), replace };
  }
  if (existing.kind === 'pointer' && options.replacePointerFile) replace = true;
  else if (existing.kind !== 'absent') throw conflict(destination, pointer, existing);

  let source: number;
  try {
    source = openSync(objectPath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new LfsObjectMissingError(objectPath, pointer.oid);
    throw err;
  }
  const dir = dirname(destination);
  const tmp = `${destination}.restore-tmp-${tmpSuffix}`;
  let madeDir: string | undefined;
  let fd: number | undefined;
  try {
    if (pointer.size <= SMALL_OBJECT) {
      // One read of up to size + 1 bytes tells a short or long object from a good one.
      const buf = Buffer.allocUnsafe(pointer.size + 1);
      const bytes = readFully(source, buf);
      const sha256 = bytes === pointer.size ? createHash('sha256').update(buf.subarray(0, bytes)).digest('hex') : '';
      if (sha256 !== pointer.oid) {
        const actual = bytes === pointer.size ? { sha256, bytes } : await hashFile(objectPath);
        throw new LfsObjectMismatchError(objectPath, expected, { oid: actual.sha256, size: actual.bytes });
      }
      ({ fd, madeDir } = createTemp(tmp, dir));
      writeFully(fd, buf.subarray(0, bytes));
    } else {
      const size = fstatSync(source).size;
      if (size !== pointer.size) {
        // Known bad before writing anything: hash for the report, write nothing.
        const actual = await hashFile(objectPath);
        throw new LfsObjectMismatchError(objectPath, expected, { oid: actual.sha256, size: actual.bytes });
      }
      ({ fd, madeDir } = createTemp(tmp, dir));
      const hash = createHash('sha256');
      const bytes = await copyHashing(source, fd, hash);
      const sha256 = hash.digest('hex');
      if (sha256 !== pointer.oid || bytes !== pointer.size) throw new LfsObjectMismatchError(objectPath, expected, { oid: sha256, size: bytes });
    }
    return { ...base, already: false, fd, synced: fsyncFd(fd), tmp, replace, madeDir };
  } catch (err) {
    if (fd !== undefined) {
      closeSync(fd);
      rmQuietly(tmp);
    }
    if (madeDir) removeMadeDirs(dir, madeDir);
    throw err;
  } finally {
    closeSync(source);
  }
}

/** A failed or abandoned item: its temp file and the directories made for it go (its fd is closed). */
function discard(s: Staged): void {
  if (s.tmp) rmQuietly(s.tmp);
  s.tmp = undefined;
  if (s.madeDir) removeMadeDirs(dirname(s.destination), s.madeDir);
}

const rmQuietly = (path: string) => {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
};

/** Create the temp file exclusively, making its directory (`mkdir -p`) only if it is missing. */
function createTemp(tmp: string, dir: string): { fd: number; madeDir?: string } {
  try {
    return { fd: openSync(tmp, 'wx', 0o644) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const madeDir = mkdirSync(dir, { recursive: true });
  try {
    return { fd: openSync(tmp, 'wx', 0o644), madeDir };
  } catch (err) {
    if (madeDir) removeMadeDirs(dir, madeDir);
    throw err;
  }
}

/** Read from the start of `fd` until `buf` is full or the file ends; the number of bytes read. */
function readFully(fd: number, buf: Buffer): number {
  let pos = 0;
  while (pos < buf.length) {
    const n = readSync(fd, buf, pos, buf.length - pos, pos);
    if (n === 0) break;
    pos += n;
  }
  return pos;
}

function writeFully(fd: number, bytes: Buffer): void {
  let pos = 0;
  while (pos < bytes.length) pos += writeSync(fd, bytes, pos, bytes.length - pos, pos);
}

/** fsync in the thread pool (several run at once): resolves to the error, if any, never rejects. */
function fsyncFd(fd: number): Promise<unknown> {
  return new Promise((resolve) => fsync(fd, (err) => resolve(err ?? undefined)));
}

/** Copy `source` to the temp file `out` in 1 MiB chunks, reading the next chunk while the last is written. */
async function copyHashing(source: number, out: number, hash: Hash): Promise<number> {
  const buffers = [takeBuffer(), takeBuffer()] as const;
  let writing: Promise<void> = Promise.resolve();
  try {
    let which = 0;
    let pos = 0;
    for (;;) {
      const buf = buffers[which]!;
      const bytesRead = await readAt(source, buf, pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      hash.update(chunk);
      await writing;
      writing = writeAllAt(out, chunk, pos);
      pos += bytesRead;
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

const readAt = (fd: number, buf: Buffer, position: number) =>
  new Promise<number>((resolve, reject) => read(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n))));

async function writeAllAt(fd: number, chunk: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < chunk.length) {
    done += await new Promise<number>((resolve, reject) =>
      write(fd, chunk, done, chunk.length - done, position + done, (err, n) => (err ? reject(err) : resolve(n))),
    );
  }
}

type Destination =
  | { kind: 'absent' }
  | { kind: 'same' }
  /** Holds exactly this pointer's text. */
  | { kind: 'pointer'; size: number }
  | { kind: 'file'; size: number; oid?: string }
  | { kind: 'other'; size: number };

const conflict = (destination: string, pointer: LfsPointer, found: Extract<Destination, { size: number }>) =>
  new LfsDestinationConflictError(destination, { oid: pointer.oid, size: pointer.size }, found);

/** What is at the destination now. Hashes it only when its size is the pointer's (synchronously when small). */
async function inspectDestination(destination: string, pointer: LfsPointer): Promise<Destination> {
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
  const actual = info.size <= SMALL_OBJECT ? hashSmallFile(destination) : await hashFile(destination);
  if (actual.sha256 === pointer.oid && actual.bytes === pointer.size) return { kind: 'same' };
  return { kind: 'file', size: actual.bytes, oid: actual.sha256 };
}

function hashSmallFile(path: string): { sha256: string; bytes: number } {
  const bytes = readFileSync(path);
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
}

/** Move the verified temp file to `destination` unless something is there already. */
async function placeWithoutOverwrite(tmp: string, destination: string, pointer: LfsPointer): Promise<'placed' | 'existed'> {
  try {
    linkSync(tmp, destination); // fails with EEXIST instead of replacing
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      unlinkSync(tmp);
      const now = await inspectDestination(destination, pointer);
      if (now.kind === 'same') return 'existed';
      throw conflict(destination, pointer, now.kind === 'absent' ? { kind: 'other', size: 0 } : now);
    }
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK' && code !== 'ENOSYS') throw err;
    // No hard links on this file system: check, then rename (a small window, not atomic).
    const now = await inspectDestination(destination, pointer);
    if (now.kind !== 'absent') {
      unlinkSync(tmp);
      if (now.kind === 'same') return 'existed';
      throw conflict(destination, pointer, now);
    }
    renameSync(tmp, destination);
    return 'placed';
  }
  unlinkSync(tmp);
  return 'placed';
}

async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM') throw err;
  } finally {
    await fh?.close();
  }
}

/** Undo `mkdir -p`: remove `dir` and its parents up to and including `firstMade`, if empty. */
function removeMadeDirs(dir: string, firstMade: string): void {
  for (let d = dir; d.length >= firstMade.length; d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
    if (d === firstMade) return;
  }
}
