// Copying LFS objects back into place, verified: sha256 and size checked while copying (one read
// pass), a temp file, fsync, a link that never replaces a file, the directory fsynced; confined to a
// root, each file's directory chain is checked for symlinks again just before it is placed. Many files go
// in pipelined batches; each is reported to the caller once it is durable, so a caller can resume
// after the last one reported. Engine code: node:fs and node:crypto; no Temporal.
import { randomBytes } from 'node:crypto';
import { closeSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LfsPointer } from '../../format/lfs/pointer';
import { throwIfAborted } from './errors';
import { PROGRESS_BYTES, fsyncDir } from './file-io';
import { closeConfined, verifyConfined } from './confine';
import { placeWithoutOverwrite } from './destination';
import { findLeftovers } from './leftovers';
import { discard, hashingFor, placeAt, stage, type CopyVerifiedItem, type CopyVerifiedOptions, type Staged } from './stage';

export type { CopyVerifiedItem, CopyVerifiedOptions } from './stage';

export interface CopyVerifiedResult {
  sha256: string;
  bytes: number;
  /** The destination already held these bytes: nothing was written (it was only fsynced). */
  already: boolean;
  /** Placed from the complete temp copy a killed earlier copy left: read to hash it, not written again (adoptLeftovers). */
  adopted?: true;
  /** How many partial or wrong temp copies of this item an earlier copy left were removed (adoptLeftovers). */
  leftoversRemoved?: number;
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
 * throws LfsObjectMissingError; a pointer with an invalid oid or with extensions throws LfsPointerError;
 * an aborted `options.signal` throws AbortError (see CopyVerifiedOptions).
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
  /** Items per batch at most: the unit of event-loop blocking and of directory fsyncs. All in one by default. */
  batchSize?: number;
  /** Called (and awaited) just before item `index` is read: to move aside what stands at its destination, say. */
  beforeItem?: (index: number) => Promise<void> | void;
  /**
   * Called (and awaited) for each item, in order, once it is durable: its file and its directory
   * fsynced. A caller that records `index + 1` here resumes after it; on a retry, items placed after
   * that point are found in place (`already`) and not copied again.
   */
  onFileDone?: (result: CopyVerifiedResult, index: number) => Promise<void> | void;
  /** Called (and awaited) with each batch's results, in order, once they are durable; `first` is the index of the first. */
  afterBatch?: (results: CopyVerifiedResult[], first: number) => Promise<void> | void;
}

/**
 * Bytes per batch at most. A file larger than this is copied alone, with nothing else in flight: the
 * batch before it is durable before it starts, and it is durable before the next file starts, so a
 * retry after a crash inside it redoes that file only.
 */
const BATCH_BYTES = PROGRESS_BYTES;
const copiedAlone = (item: CopyVerifiedItem) => item.pointer.size > BATCH_BYTES;

/**
 * `copyVerifiedObject` for many objects, with the same guarantees for each, in a fraction of the
 * time for small objects: their bytes are read, verified and written to temp files with synchronous
 * calls (no thread-pool round trip per call), the temp files' fsyncs run concurrently in the thread
 * pool, and each directory is fsynced once per batch. While one batch's last fsyncs complete, it is
 * placed and its directories fsynced, the next batch is already being copied. With `adoptLeftovers`,
 * a complete temp copy a killed earlier call left is placed the same way instead of a new copy.
 *
 * Items are handled in order and the first failure stops everything: `results` holds one result for
 * each item before it (each verified, fsynced, in place, its directory fsynced: durable; reported
 * one by one to `onFileDone` and batch by batch to `afterBatch`), and `error` the failure. Nothing of
 * the failed item or of later ones is left behind (no temp file, no destination written). An aborted
 * `signal` is such a failure (AbortError): the items already copied are still placed and reported.
 */
export async function copyVerifiedObjects(
  items: CopyVerifiedItem[],
  options: CopyVerifiedBatchOptions = {},
): Promise<{ results: CopyVerifiedResult[]; error?: unknown }> {
  const size = Math.max(1, options.batchSize ?? items.length);
  const tag = randomBytes(6).toString('hex'); // temp files are `<destination>.restore-tmp-<tag>-<index>`
  const leftovers = options.adoptLeftovers ? await findLeftovers(items.map((i) => i.destination)) : undefined;
  const results: CopyVerifiedResult[] = [];

  /** Places a staged batch and reports it: the first error, if any. */
  const settle = async (staged: Staged[]): Promise<unknown> => {
    const first = results.length;
    const finished = await finishBatch(staged, options);
    results.push(...finished.results);
    try {
      for (const [i, result] of finished.results.entries()) await options.onFileDone?.(result, first + i);
      if (finished.results.length) await options.afterBatch?.(finished.results, first);
    } catch (err) {
      return finished.error ?? err;
    }
    return finished.error;
  };

  let index = 0;
  let pending: Staged[] = [];
  while (index < items.length) {
    const alone = copiedAlone(items[index]!);
    if (alone && pending.length) {
      const error = await settle(pending);
      pending = [];
      if (error !== undefined) return { results, error };
    }
    // Copy the next batch (mostly synchronous) while the pending batch's fsyncs run in the pool.
    const next: Staged[] = [];
    let bytes = 0;
    let stageError: unknown;
    while (index < items.length && next.length < size) {
      const item = items[index]!;
      if (next.length && (copiedAlone(item) || bytes + item.pointer.size > BATCH_BYTES)) break;
      try {
        throwIfAborted(options.signal, `copying to ${item.destination}`);
        await options.beforeItem?.(index);
        const left = leftovers?.get(item.destination);
        leftovers?.delete(item.destination); // handled once, by the first item with that destination
        next.push(await stage(item, index, `${tag}-${index}`, options, left));
      } catch (err) {
        stageError = err;
        break;
      }
      bytes += item.pointer.size;
      index++;
    }
    if (pending.length) {
      const error = await settle(pending);
      if (error !== undefined) {
        await abandonBatch(next);
        return { results, error };
      }
    }
    pending = next;
    if (alone || stageError !== undefined) {
      const error = pending.length ? await settle(pending) : undefined;
      pending = [];
      if (error !== undefined || stageError !== undefined) return { results, error: error ?? stageError };
    }
  }
  const error = pending.length ? await settle(pending) : undefined;
  return error === undefined ? { results } : { results, error };
}

/** Into place, in order, each once its fsync is done; then each directory fsynced. Stops at the first failure. */
async function finishBatch(staged: Staged[], options: CopyVerifiedOptions): Promise<{ results: CopyVerifiedResult[]; error?: unknown }> {
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
      // The last look before the link or rename: no directory on the way was swapped for a symlink.
      if (s.dir) verifyConfined(s.dir, s.destination);
      if (s.tmp && s.replace) {
        renameSync(s.tmp, placeAt(s));
      } else if (s.tmp) {
        if ((await placeWithoutOverwrite(s.tmp, s.destination, s.pointer, hashingFor(s.index, s.bytes, options), placeAt(s))) === 'existed') s.already = true;
      }
      s.tmp = undefined;
      closeConfined(s.dir);
      s.dir = undefined;
      placed.push(s);
      const result: CopyVerifiedResult = { sha256: s.sha256, bytes: s.bytes, already: s.already };
      if (s.adopted && !s.already) result.adopted = true;
      if (s.leftoversRemoved) result.leftoversRemoved = s.leftoversRemoved;
      results.push(result);
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
