// What each repair choice would leave of a LevelDB/Pebble store, found by making that choice on a
// scratch copy and asking the real engine (storectl) what it then serves. Nothing here touches the
// store itself: it is only read, and every change happens in `scratch`, which is ours and removed.
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { LogStatus } from '../../format/logstore/types';
import { requireFreeSpace } from '../free-space';
import { recoverStore, scanStore, StoreOpenError, type RecoveredTable, type StoreEngine } from './storectl';

// Moved to ../free-space (the backup precheck uses it too); kept here for the callers that import it from here.
export { NoSpaceError, requireFreeSpace } from '../free-space';

/** A log file (MANIFEST or WAL) as the doctor judged it. */
export interface TailVerdict {
  file: string;
  status: LogStatus;
  validBytes: number;
  fileBytes: number;
}

/** A file to cut back to its last complete record. */
export interface Truncation {
  file: string;
  validBytes: number;
  fileBytes: number;
}

/** What the engine serves after one choice. */
export interface Outcome {
  opens: boolean;
  keys: number | null;
  digest: string | null;
  /** The engine's own words when it refuses. */
  error?: string;
  /** goleveldb Recover: each table and what recovery did with it. */
  tables?: RecoveredTable[];
}

export interface Predictions {
  /** The store as it is. */
  asIs: Outcome;
  /** Every torn or zeroed tail cut back (only when there is one). */
  truncate?: Outcome;
  /** goleveldb Recover with StrictRecovery: corrupted tables dropped. */
  strict?: Outcome;
  /** goleveldb Recover: corrupted tables rebuilt from their good keys. */
  rebuild?: Outcome;
  /**
   * The most keys the engine serves under any way of reading tried here (as is, truncated, or
   * recovered with block checksums ignored): what "keys lost" is counted against. null when the
   * engine serves the store no way at all.
   */
  readableKeys: number | null;
}

/**
 * Every torn or zeroed tail, whether or not the doctor expects cutting it to be enough: the engine
 * has the last word on a scratch copy.
 */
export function truncationsOf(files: TailVerdict[]): Truncation[] {
  return files
    .filter((f) => (f.status === 'torn-tail' || f.status === 'zeroed-tail') && f.validBytes < f.fileBytes)
    .map(({ file, validBytes, fileBytes }) => ({ file, validBytes, fileBytes }));
}

/**
 * Copies the regular files of a store (and of its subfolders) into `to`, which must not exist.
 * Symlinks are not followed and not copied: a store's own files are never links.
 */
export async function copyStore(from: string, to: string, { signal, skip = [] }: { signal?: AbortSignal; skip?: string[] } = {}): Promise<{ files: number }> {
  await mkdir(to, { recursive: false });
  let files = 0;
  for (const entry of await readdir(from, { recursive: true, withFileTypes: true })) {
    signal?.throwIfAborted();
    const source = join(entry.parentPath, entry.name);
    const rel = relative(from, source);
    if (skip.includes(rel)) continue;
    const target = join(to, rel);
    if (entry.isDirectory()) await mkdir(target, { recursive: true });
    if (!entry.isFile()) continue;
    await mkdir(join(target, '..'), { recursive: true });
    // A copy-on-write clone where the filesystem has them (btrfs, XFS): scratch copies cost nothing.
    await copyFile(source, target, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
    files++;
  }
  return { files };
}

/** Cuts `file` in `dir` back to `validBytes`; the file must still be the size the doctor saw. */
export async function truncateTail(dir: string, { file, validBytes, fileBytes }: Truncation): Promise<'truncated' | 'already'> {
  const path = join(dir, logFileName(file));
  const fh = await open(path, constants.O_RDWR | constants.O_NOFOLLOW);
  try {
    const { size } = await fh.stat();
    if (size === validBytes) return 'already';
    if (size !== fileBytes) throw new StoreChangedError(`${path} is ${size} bytes; the diagnosis saw ${fileBytes}: it changed since, diagnose again`);
    await fh.truncate(validBytes);
    await fh.sync();
    return 'truncated';
  } finally {
    await fh.close();
  }
}

/**
 * A log file's own name (a MANIFEST or a WAL), never a path: the names that reach a step come from
 * a plan, and anyone who can reach the Temporal frontend can schedule a step with others.
 */
export function logFileName(file: string): string {
  if (!/^(MANIFEST-\d{1,20}|\d{1,20}\.log)$/.test(file)) throw new StoreChangedError(`${JSON.stringify(file)} is not the name of a MANIFEST or WAL file; refusing to touch it`);
  return file;
}

/** The bytes of a store's regular files. */
export async function storeBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) bytes += (await lstat(join(entry.parentPath, entry.name))).size;
  }
  return bytes;
}

export class StoreChangedError extends Error {
  override name = 'StoreChangedError' as const;
}

async function outcome(work: () => Promise<{ keys: number; digest: string; tables?: RecoveredTable[] }>): Promise<Outcome> {
  try {
    const { keys, digest, tables } = await work();
    return { opens: true, keys, digest, ...(tables ? { tables } : {}) };
  } catch (err) {
    if (!(err instanceof StoreOpenError)) throw err;
    return { opens: false, keys: null, digest: null, error: err.message };
  }
}

export interface PredictOptions {
  signal?: AbortSignal;
  /** Called as each choice is tried: what a heartbeat can show. */
  onProgress?: (step: string) => void;
  /** Skip the recovery choices (a healthy store needs none). */
  recoveries?: boolean;
}

/**
 * Tries each choice on its own scratch copy of `dir` under `scratch` (made here, removed after):
 * as is, truncated, and for goleveldb Recover strict, Recover rebuilding, and Recover with checksums
 * ignored (the most the engine can still read, not a repair offered).
 */
export async function predictOutcomes(engine: StoreEngine, dir: string, truncations: Truncation[], scratch: string, options: PredictOptions = {}): Promise<Predictions> {
  const { signal, onProgress = () => {}, recoveries = true } = options;
  const { firstMade } = await claimScratch(scratch);
  // One scratch copy exists at a time: the store's size is what the plan needs free beside it.
  await requireFreeSpace(scratch, await storeBytes(dir), `trying each repair on a copy of ${dir}`).catch(async (err) => {
    await releaseScratch(scratch, firstMade);
    throw err;
  });
  const tryOn = async (name: string, change: (copy: string) => Promise<RecoveredTable[] | void>, { ignoreChecksums = false } = {}): Promise<Outcome> => {
    onProgress(name);
    const copy = join(scratch, name);
    await copyStore(dir, copy, { signal });
    try {
      return await outcome(async () => {
        const tables = (await change(copy)) ?? undefined;
        const scan = await scanStore(engine, copy, { signal, ignoreChecksums });
        return { ...scan, ...(tables ? { tables } : {}) };
      });
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  };
  try {
    const predictions: Predictions = { asIs: await tryOn('as-is', async () => {}), readableKeys: null };
    if (truncations.length) {
      predictions.truncate = await tryOn('truncate', async (copy) => {
        for (const t of truncations) await truncateTail(copy, t);
      });
    }
    let salvage: Outcome | undefined;
    if (engine === 'goleveldb' && recoveries) {
      predictions.strict = await tryOn('strict', async (copy) => (await recoverStore(copy, { strict: true, signal })).tables);
      predictions.rebuild = await tryOn('rebuild', async (copy) => (await recoverStore(copy, { strict: false, signal })).tables);
      // Recover and read with no checksum verified: every key that still decodes, damaged blocks' too.
      salvage = await tryOn('checksums-ignored', async (copy) => (await recoverStore(copy, { strict: false, ignoreChecksums: true, signal })).tables, { ignoreChecksums: true });
    }
    const counts = [predictions.asIs, predictions.truncate, predictions.strict, predictions.rebuild, salvage].flatMap((o) => (o?.opens && o.keys !== null ? [o.keys] : []));
    predictions.readableKeys = counts.length ? Math.max(...counts) : null;
    return predictions;
  } finally {
    await releaseScratch(scratch, firstMade);
  }
}

/** Marks a folder this tool made for its own copies, so that a retry may clear it and nothing else. */
const SCRATCH_MARK = '.runbook-scratch';

/**
 * An empty folder of ours at `path`: made (with its parents) and marked, or, left by an earlier
 * attempt, emptied. Anything else at `path` is refused, never removed: it may be someone's data.
 */
export async function claimScratch(path: string): Promise<{ firstMade?: string }> {
  const info = await lstat(path).catch(() => undefined);
  if (info) {
    const ours = info.isDirectory() && !info.isSymbolicLink() && (await lstat(join(path, SCRATCH_MARK)).then((m) => m.isFile(), () => false));
    if (!ours) throw new StoreChangedError(`${path} exists and was not made by this tool; refusing to use or remove it`);
    await rm(path, { recursive: true });
  }
  const firstMade = await mkdir(path, { recursive: true });
  await (await open(join(path, SCRATCH_MARK), 'wx')).close();
  return { firstMade };
}

/** Whether `path` is a folder `claimScratch` made (its mark is there). */
export async function isScratch(path: string): Promise<boolean> {
  const info = await lstat(path).catch(() => undefined);
  return !!info?.isDirectory() && (await lstat(join(path, SCRATCH_MARK)).then((m) => m.isFile(), () => false));
}

/**
 * Removes a folder `claimScratch` made (and nothing that lacks its mark), then the parents it made
 * for it if they are empty: a plan leaves no trace.
 */
export async function releaseScratch(path: string, firstMade?: string): Promise<void> {
  if (!(await isScratch(path))) return;
  await rm(path, { recursive: true, force: true });
  if (!firstMade || firstMade === path) return;
  for (let dir = dirname(path); dir.length >= firstMade.length; dir = dirname(dir)) {
    if (!(await rmdir(dir).then(() => true, () => false))) break; // not empty: someone else's too
  }
}
