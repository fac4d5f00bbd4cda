// The full restore of a Lance table's missing files from git-LFS objects: the one step of
// lanceRestore that writes data. It heartbeats per file and per 64 MiB inside a file, honours
// cancellation between chunks, and a retry resumes after the last file that was durable.
import { requireUnderDataRoots } from '../host/data-roots';
import { realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { activityInfo } from '@temporalio/activity';
import type { RestorableFile } from '../engines/lance/doctor';
import { resolveInsideTable } from '../engines/lance/inspect';
import { checkComponents, copyVerifiedObjects, gitDir, hashFile } from '../engines/lfs/store';
import { lfsObjectRelPath } from '../format/lfs/pointer';
import type { FileMove, ListRef } from '../workflows/report';
import { moveRecorded } from './files';
import { cancellationSignal, pause, reportProgress } from './progress';
import { keepList, readList } from './state';

interface RestoreProgress {
  /** Files at the front of the list that are restored, verified and durable: a retry starts after them. */
  done: number;
  bytes: number;
  /** The file being copied now, and how far (for large objects). */
  current?: { path: string; bytes: number; size: number };
}

/**
 * Files per batch: small files are written one after another while their fsyncs run in the thread
 * pool; a large file goes alone. Each file is reported once it is durable.
 */
const RESTORE_BATCH = 64;

/**
 * Copies each file's LFS object into the table: sha256 and size verified while copying, written to a
 * temp file, fsynced, linked into place (never over a file), the directory fsynced. Whatever stood at
 * the path (a pointer text, a short file) is moved to `replacedDir` first. Every write is confined to
 * the table: a directory on a file's way swapped for a symlink during the restore stops it
 * (UnsafePathError, a SafetyViolation) before anything is moved or placed through it. A retry skips the files
 * its last heartbeat counted, finds any later ones in place (`already`, not copied again), and places
 * the complete temp copies a killed attempt left instead of copying them again (`adopted`; partial
 * ones are removed).
 * `pauseMs` paces the restore: that long after each file, heartbeating.
 */
export async function restoreLanceFiles(args: { tableDir: string; lfsRepo: string; files: ListRef<RestorableFile>; replacedDir: string; pauseMs?: number }) {
  await requireUnderDataRoots({ tableDir: args.tableDir, lfsRepo: args.lfsRepo, quarantineDir: args.replacedDir });
  const all = await readList(args.files);
  const resumed = (activityInfo().heartbeatDetails as RestoreProgress | undefined) ?? { done: 0, bytes: 0 };
  const git = await gitDir(args.lfsRepo);
  const progress: RestoreProgress = { done: resumed.done, bytes: resumed.bytes };
  const moved: FileMove[] = [];
  let copied = 0;
  let adopted = 0;
  let stale = 0;
  const root = realpathSync(args.tableDir);
  const files = all.slice(resumed.done).map((file) => ({ file, destination: resolveInsideTable(args.tableDir, file.path) }));
  const { error } = await copyVerifiedObjects(
    files.map(({ file, destination }) => ({ objectPath: join(git, lfsObjectRelPath(file.oid)), pointer: { oid: file.oid, size: file.size }, destination })),
    {
      batchSize: RESTORE_BATCH,
      root,
      adoptLeftovers: true,
      signal: cancellationSignal(),
      onProgress: ({ index, bytes, size }) => reportProgress({ ...progress, current: { path: files[index]!.file.path, bytes, size } }),
      beforeItem: async (i) => {
        const { file, destination } = files[i]!;
        if (file.now === 'missing') return;
        checkComponents(root, destination); // the move aside must not reach through a swapped-in symlink either
        const replaced = await moveAside(destination, join(args.replacedDir, file.path), file);
        if (replaced) moved.push(replaced);
      },
      onFileDone: async (result, i) => {
        if (result.adopted) adopted += 1;
        else if (!result.already) copied += 1;
        stale += result.leftoversRemoved ?? 0;
        progress.done += 1;
        progress.bytes += files[i]!.file.size;
        reportProgress({ done: progress.done, bytes: progress.bytes });
        if (args.pauseMs) await pause(args.pauseMs, { done: progress.done, bytes: progress.bytes });
      },
    },
  );
  if (error !== undefined) throw error;
  return { restored: all.length, resumedAfter: resumed.done, copiedThisAttempt: copied, tempFilesAdopted: adopted, staleTempFilesRemoved: stale, bytes: progress.bytes, filesMoved: await keepList(moved) };
}

/**
 * Moves what stands at `destination` (a pointer text, a short file) to `to` before the restore.
 * A retry after the move finds nothing to move; after the move and the copy (done beyond the last
 * heartbeat) it finds the restored file in its place and `to` taken: nothing to move either.
 */
async function moveAside(destination: string, to: string, file: RestorableFile): Promise<FileMove | undefined> {
  try {
    return await moveRecorded(destination, to);
  } catch (err) {
    if ((err as Error).message.includes('it is gone')) return undefined;
    const restored = await hashFile(destination).catch(() => undefined);
    if (restored && restored.sha256 === file.oid && restored.bytes === file.size && (await stat(to).then(() => true, () => false))) return undefined;
    throw err;
  }
}
