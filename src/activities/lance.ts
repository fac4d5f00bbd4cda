// Lance table repair steps. Each checks the table before acting and can run twice.
import { readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { activityInfo, sleep } from '@temporalio/activity';
import * as lancedb from '@lancedb/lancedb';
import { diagnoseLance as diagnose, type LanceDiagnosis, type RestorableFile } from '../engines/lance/doctor';
import { resolveInsideTable } from '../engines/lance/inspect';
import { copyVerifiedObjects, gitDir, hashFile } from '../engines/lfs/store';
import { lfsObjectRelPath } from '../format/lfs/pointer';
import type { FileMove } from '../workflows/report';
import { ApplicationFailure } from '@temporalio/activity';
import { invalidInput, safetyViolation } from './failures';
import { moveRecorded, snapshotTree } from './files';
import { reportProgress } from './progress';

/** Format and path-safety errors of the engine layer become failures no retry can fix. */
function asFailure(err: unknown): unknown {
  const name = (err as Error)?.name;
  if (name === 'UnsafePathError') return safetyViolation((err as Error).message);
  if (name === 'LanceFormatError' || name === 'LfsPointerError') return invalidInput((err as Error).message);
  if (name === 'LfsObjectMismatchError') return safetyViolation((err as Error).message);
  return err;
}

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw asFailure(err);
  }
}

export async function diagnoseLance(args: { tableDir: string; lfsRepo?: string }): Promise<LanceDiagnosis> {
  return guarded(() => diagnose(args.tableDir, { lfsRepo: args.lfsRepo, onProgress: reportProgress }));
}

export async function snapshotLanceMetadata(args: { tableDir: string; destination: string }) {
  return snapshotTree(args.tableDir, ['_versions', '_transactions', '_deletions'], args.destination);
}

interface RestoreProgress {
  /** Files at the front of the list that are restored, verified and durable: a retry starts after them. */
  done: number;
  bytes: number;
}

/**
 * Files per batch: their copies are written one after another while their fsyncs run in the thread
 * pool, each directory is fsynced once per batch, and the heartbeat follows the batch. The next
 * batch is copied while one is placed; larger batches block the event loop longer (some 10-30 ms
 * for 64 small files) and heartbeat less often.
 */
const RESTORE_BATCH = 64;

/**
 * Copies each file's LFS object into the table: sha256 and size verified before anything is written,
 * written to a temp file, fsynced, linked into place (never over a file), the directory fsynced.
 * Whatever stood at the path (a pointer text, a short file) is moved to `replacedDir` first. Files
 * go in batches; the heartbeat after each batch counts the files restored and durable so far, so a
 * retry skips them (and finds any later ones already in place: `already`, not copied again).
 * `pauseMs` paces the restore: that long per file, after each batch.
 */
export async function restoreLanceFiles(args: { tableDir: string; lfsRepo: string; files: RestorableFile[]; replacedDir: string; pauseMs?: number }) {
  return guarded(async () => {
    const resumed = (activityInfo().heartbeatDetails as RestoreProgress | undefined) ?? { done: 0, bytes: 0 };
    const [git, stale] = await Promise.all([gitDir(args.lfsRepo), removeStaleTempFiles(args.tableDir, args.files)]);
    const progress: RestoreProgress = { ...resumed };
    const moved: FileMove[] = [];
    let copied = 0;
    const files = args.files.slice(resumed.done).map((file) => ({ file, destination: resolveInsideTable(args.tableDir, file.path) }));
    const { error } = await copyVerifiedObjects(
      files.map(({ file, destination }) => ({ objectPath: join(git, lfsObjectRelPath(file.oid)), pointer: { oid: file.oid, size: file.size }, destination })),
      {
        batchSize: RESTORE_BATCH,
        beforeItem: async (i) => {
          const { file, destination } = files[i]!;
          if (file.now === 'missing') return;
          const replaced = await moveAside(destination, join(args.replacedDir, file.path), file);
          if (replaced) moved.push(replaced);
        },
        afterBatch: async (results, first) => {
          results.forEach((result, i) => {
            if (!result.already) copied += 1;
            progress.done += 1;
            progress.bytes += files[first + i]!.file.size;
          });
          reportProgress({ ...progress });
          if (args.pauseMs) await sleep(args.pauseMs * results.length);
        },
      },
    );
    if (error !== undefined) throw error;
    return { restored: args.files.length, resumedAfter: resumed.done, copiedThisAttempt: copied, staleTempFilesRemoved: stale, bytes: progress.bytes, filesMoved: moved };
  });
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

/**
 * A worker killed mid-copy leaves `<file>.restore-tmp-<random>` behind: our own partial copy of a file
 * still missing, never operator data. Remove those of the files this step restores, and nothing else.
 */
async function removeStaleTempFiles(tableDir: string, files: RestorableFile[]): Promise<number> {
  const ours = new Set(files.map((f) => resolveInsideTable(tableDir, f.path)));
  const dirs = new Set([...ours].map((p) => dirname(p)));
  let removed = 0;
  for (const dir of dirs) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const at = name.indexOf('.restore-tmp-');
      if (at > 0 && ours.has(join(dir, name.slice(0, at)))) {
        await unlink(join(dir, name));
        removed += 1;
      }
    }
  }
  return removed;
}

/** Moves the manifests of `versions`, and their transaction files, out of the table: never deleted. */
export async function quarantineLanceVersions(args: { tableDir: string; destination: string; versions: number[] }) {
  return guarded(async () => {
    const { inspectTable } = await import('../engines/lance/inspect');
    const inspection = await inspectTable(args.tableDir).catch(() => undefined);
    const filesMoved: FileMove[] = [];
    for (const version of args.versions) {
      const v = inspection?.versions.find((x) => x.version === version);
      const names = [v?.file ?? `_versions/${version}.manifest`, ...(v?.transactionFile ? [v.transactionFile] : [])];
      for (const name of names) {
        filesMoved.push(await moveRecorded(resolveInsideTable(args.tableDir, name), join(args.destination, name)));
      }
    }
    return { filesMoved };
  });
}

/** Undo of a quarantine: every file back where it was, checked against its recorded sha256. */
export async function returnQuarantinedFiles(args: { moves: FileMove[] }) {
  const filesMoved: FileMove[] = [];
  for (const move of [...args.moves].reverse()) {
    const back = await moveRecorded(move.to, move.from);
    if (back.sha256 !== move.sha256) throw safetyViolation(`${move.to} changed in quarantine (sha256 ${back.sha256}, recorded ${move.sha256})`);
    filesMoved.push(back);
  }
  return { filesMoved };
}

/**
 * Opens the table as its readers do and reads every fragment: `countRows()` alone answers from the
 * manifest and cannot see missing files, so the scan is the proof.
 */
export async function verifyLanceTable(args: { tableDir: string; expectVersion: number; expectedRows?: number }) {
  const dir = args.tableDir.replace(/\/+$/, '');
  const name = dir.slice(dir.lastIndexOf('/') + 1).replace(/\.lance$/, '');
  const db = await lancedb.connect(dir.slice(0, dir.lastIndexOf('/')) || '/');
  const table = await db.openTable(name);
  try {
    const version = await table.version();
    const countRows = await table.countRows();
    let scannedRows = 0;
    try {
      for await (const batch of table.query()) {
        scannedRows += batch.numRows;
        reportProgress({ scannedRows });
      }
    } catch (err) {
      throw verificationFailed(`scan of version ${version} failed: ${(err as Error).message}`);
    }
    const problems = [
      version !== args.expectVersion && `opens at version ${version}, expected ${args.expectVersion}`,
      scannedRows !== countRows && `scan read ${scannedRows} rows, the manifest says ${countRows}`,
      args.expectedRows !== undefined && countRows !== args.expectedRows && `${countRows} rows, expected ${args.expectedRows}`,
    ].filter(Boolean);
    if (problems.length) throw verificationFailed(`${args.tableDir}: ${problems.join('; ')}`);
    return { version, countRows, scannedRows };
  } finally {
    table.close();
    db.close();
  }
}

function verificationFailed(message: string) {
  return ApplicationFailure.create({ type: 'VerificationFailed', message, nonRetryable: true });
}
