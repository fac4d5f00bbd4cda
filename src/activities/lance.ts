// Lance table repair steps. Each checks the table before acting and can run twice. Long lists stay
// on this host (state.ts); payloads carry counts and the first few items.
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { diagnoseLance as diagnose, type Finding, type RestorableFile, type UnrestorableFile } from '../engines/lance/doctor';
import { resolveInsideTable } from '../engines/lance/inspect';
import type { FileMove, ListRef } from '../workflows/report';
import { safetyViolation, verificationFailed } from './failures';
import { MOVES_JOURNAL, moveRecorded, readJournal, snapshotTree } from './files';
import { reportProgress } from './progress';
import { keepList, readList } from './state';
import { requireUnderDataRoots } from '../host/data-roots';

export { restoreLanceFiles } from './lance-restore';

/** What the plan needs of a diagnosis, small enough for a payload at any table size. */
export interface LanceFacts {
  path: string;
  lfsRepo: string;
  healthy: boolean;
  currentVersion: number;
  currentRows: number;
  latestCompleteVersion: number | null;
  latestCompleteRows: number | null;
  versionCount: number;
  missingCount: number;
  brokenVersions: ListRef<number>;
  /** Manifests and transaction files of the broken versions: what a fallback moves aside. */
  brokenFiles: ListRef<string>;
  restorable: ListRef<RestorableFile>;
  /** Bytes the restorable files hold together. */
  restorableBytes: number;
  unrestorable: ListRef<UnrestorableFile>;
  findings: ListRef<Finding>;
  /** The whole diagnosis (every version, orphans), on this host. */
  diagnosis: ListRef<unknown>;
}

export async function diagnoseLance(args: { tableDir: string; lfsRepo?: string }): Promise<LanceFacts> {
  await requireUnderDataRoots({ tableDir: args.tableDir, lfsRepo: args.lfsRepo });
  const d = await diagnose(args.tableDir, { lfsRepo: args.lfsRepo, onProgress: reportProgress });
  const complete = d.versions.find((v) => v.version === d.latestCompleteVersion);
  const [brokenVersions, brokenFiles, restorable, unrestorable, findings, diagnosis] = await Promise.all([
    keepList(d.brokenVersions),
    keepList(d.brokenFiles),
    keepList(d.restorable),
    keepList(d.unrestorable),
    keepList(d.findings),
    keepList([d], { always: true }),
  ]);
  // The default LFS repository is the table's git top level, which may lie above the data roots.
  await requireUnderDataRoots({ lfsRepo: d.lfsRepo });
  return {
    path: d.path,
    lfsRepo: d.lfsRepo,
    healthy: d.healthy,
    currentVersion: d.currentVersion,
    currentRows: d.currentRows,
    latestCompleteVersion: d.latestCompleteVersion,
    latestCompleteRows: complete?.rows ?? null,
    versionCount: d.versions.length,
    missingCount: d.missingCount,
    brokenVersions,
    brokenFiles,
    restorable,
    restorableBytes: d.restorable.reduce((sum, f) => sum + f.size, 0),
    unrestorable,
    findings,
    diagnosis: { ...diagnosis, first: [] },
  };
}

export async function snapshotLanceMetadata(args: { tableDir: string; destination: string }) {
  await requireUnderDataRoots({ tableDir: args.tableDir, quarantineDir: args.destination });
  return snapshotTree(args.tableDir, ['_versions', '_transactions', '_deletions'], args.destination);
}

/**
 * Moves the planned files (manifests and transaction files of the broken versions) out of the
 * table, never deleting. The list comes from the approved plan, not from the table as it is now,
 * so a retry after a crash between two moves still knows every file. Each move is journaled in the
 * destination before it happens, for the undo.
 */
export async function quarantineLanceVersions(args: { tableDir: string; destination: string; files: ListRef<string> }) {
  await requireUnderDataRoots({ tableDir: args.tableDir, quarantineDir: args.destination });
  const files = await readList(args.files);
  const journal = join(args.destination, MOVES_JOURNAL);
  const moves: FileMove[] = [];
  for (const name of files) {
    moves.push(await moveRecorded(resolveInsideTable(args.tableDir, name), join(args.destination, name), journal));
    reportProgress({ moved: moves.length, of: files.length });
  }
  return { filesMoved: await keepList(moves) };
}

/**
 * Undo of a quarantine, from what is on disk: every move the destination's journal records whose
 * file is in quarantine goes back, checked against its recorded sha256. Safe whatever point the
 * quarantine reached, and safe to run twice.
 */
export async function returnQuarantinedFiles(args: { destination: string }) {
  await requireUnderDataRoots({ quarantineDir: args.destination });
  const moves = await readJournal(join(args.destination, MOVES_JOURNAL));
  const back: FileMove[] = [];
  for (const move of moves.reverse()) {
    const returned = await moveRecorded(move.to, move.from).catch((err: Error) => {
      // Never moved (the step died between journal and rename): the file is still in the table.
      if (err.message.includes('it is gone')) return undefined;
      throw err;
    });
    if (!returned) continue;
    if (returned.sha256 !== move.sha256) throw safetyViolation(`${move.to} changed in quarantine (sha256 ${returned.sha256}, recorded ${move.sha256})`);
    back.push(returned);
    reportProgress({ returned: back.length, of: moves.length });
  }
  return { filesMoved: await keepList(back) };
}

/**
 * Opens the table as its readers do and reads every fragment: `countRows()` alone answers from the
 * manifest and cannot see missing files, so the scan is the proof.
 */
export async function verifyLanceTable(args: { tableDir: string; expectVersion: number; expectedRows?: number }) {
  await requireUnderDataRoots({ tableDir: args.tableDir });
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
