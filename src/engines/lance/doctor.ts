// `runbook doctor lance` and the lanceRestore diagnosis: which versions are whole, which files are
// missing, and where each missing file can come back from (git-LFS), all read-only.
import { realpath } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { findPointers, gitDir, gitTopLevel, verifyLfsObject } from '../lfs/store';
import { inspectTable, type VersionInspection } from './inspect';

export interface Finding {
  code: string;
  message: string;
}

export interface RestorableFile {
  /** Table-relative, e.g. `data/0110…e3.lance`. */
  path: string;
  oid: string;
  size: number;
  /** What is at the path now: nothing, a pointer text, or content of the wrong size (moved aside first). */
  now: 'missing' | 'pointer' | 'wrong-size';
  /** Where the pointer came from: the working tree, HEAD, or an older commit. */
  source: 'worktree' | 'head' | 'history';
}

export interface UnrestorableFile {
  path: string;
  reason: string;
}

export interface LanceDiagnosis {
  engine: 'lance';
  path: string;
  lfsRepo: string;
  /** No findings at all: the doctor's exit contract (0 healthy, 1 any finding) follows this. */
  healthy: boolean;
  /** Every file the version Lance reads is in place (a table can be readable and still have findings). */
  currentComplete: boolean;
  /** The version Lance opens: the highest manifest number. */
  currentVersion: number;
  currentRows: number;
  latestCompleteVersion: number | null;
  /** Versions newer than the newest complete one: what a fallback moves aside. */
  brokenVersions: number[];
  /** Table-relative manifests and transaction files of the broken versions: what a fallback moves aside. */
  brokenFiles: string[];
  missingCount: number;
  versions: Array<Pick<VersionInspection, 'version' | 'rows' | 'complete' | 'missing' | 'pointers'> & { wrongSize: string[] }>;
  restorable: RestorableFile[];
  unrestorable: UnrestorableFile[];
  orphans: string[];
  findings: Finding[];
}

export interface DiagnoseOptions {
  /** The git repository holding the LFS objects; default: the git top level of the table. */
  lfsRepo?: string;
  /** Called as files are checked, for heartbeats. */
  onProgress?: (detail: { checked: number; of: number }) => void;
}

export async function diagnoseLance(tableDir: string, options: DiagnoseOptions = {}): Promise<LanceDiagnosis> {
  const inspection = await inspectTable(tableDir);
  const { currentVersion, latestCompleteVersion } = inspection;
  const findings: Finding[] = [...inspection.findings];
  const current = inspection.versions.find((v) => v.version === currentVersion)!;
  const broken = inspection.versions.filter((v) => v.version > (latestCompleteVersion ?? -1) && !v.complete);

  // Every file a broken version needs and lacks: these decide between restore and fallback.
  const needed = new Map<string, RestorableFile['now']>();
  for (const v of broken) {
    for (const p of v.missing) needed.set(p, 'missing');
    for (const p of v.pointers) needed.set(p, 'pointer');
    for (const w of v.wrongSize) needed.set(w.path, 'wrong-size');
  }

  const restorable: RestorableFile[] = [];
  const unrestorable: UnrestorableFile[] = [];
  let lfsRepo = options.lfsRepo ?? '';
  if (needed.size) {
    try {
      lfsRepo ||= await gitTopLevel(tableDir);
      const git = await gitDir(lfsRepo);
      // gitTopLevel answers with the real path; a table reached through a symlink must match it.
      const realTable = await realpath(tableDir);
      const repoPath = (p: string) => relative(lfsRepo, join(realTable, p));
      const pointers = await findPointers(lfsRepo, [...needed.keys()].map(repoPath));
      let checked = 0;
      for (const [path, now] of needed) {
        const found = pointers.get(repoPath(path));
        options.onProgress?.({ checked: ++checked, of: needed.size });
        if (!found) {
          unrestorable.push({ path, reason: 'no LFS pointer for it in the working tree, at HEAD or in history' });
          continue;
        }
        const object = await verifyLfsObject(git, found.pointer);
        if (object.verified) restorable.push({ path, oid: found.pointer.oid, size: found.pointer.size, now, source: found.source });
        else unrestorable.push({ path, reason: object.problem ?? `LFS object ${found.pointer.oid} is not usable` });
      }
    } catch (err) {
      for (const path of needed.keys()) unrestorable.push({ path, reason: (err as Error).message });
    }
  }

  if (!current.complete) {
    findings.push({
      code: 'CURRENT_VERSION_INCOMPLETE',
      message: `version ${currentVersion} (the one Lance reads, ${current.rows} rows) lacks ${current.missing.length} files, has ${current.pointers.length} LFS pointers in place of content and ${current.wrongSize.length} files of the wrong size; scans touching them fail with "Not found"`,
    });
  }
  if (latestCompleteVersion === null) findings.push({ code: 'NO_COMPLETE_VERSION', message: 'no version of the table has all its files' });
  if (restorable.length) findings.push({ code: 'RESTORABLE_FROM_LFS', message: `${restorable.length} files can be restored from verified LFS objects` });
  for (const u of unrestorable) findings.push({ code: 'UNRESTORABLE', message: `${u.path}: ${u.reason}` });
  if (inspection.orphans.length) findings.push({ code: 'ORPHAN_FILES', message: `${inspection.orphans.length} files in data/ are referenced by no version` });

  return {
    engine: 'lance',
    path: tableDir,
    lfsRepo,
    // Any finding counts, an unreadable older manifest or orphan files included: a table reported as
    // healthy must have nothing for an operator to look at.
    healthy: findings.length === 0,
    currentComplete: current.complete,
    currentVersion,
    currentRows: current.rows,
    latestCompleteVersion,
    brokenVersions: broken.map((v) => v.version).sort((a, b) => a - b),
    brokenFiles: broken.sort((a, b) => a.version - b.version).flatMap((v) => [v.file, ...(v.transactionFile && !v.transactionMissing ? [v.transactionFile] : [])]),
    missingCount: needed.size,
    versions: inspection.versions.map((v) => ({ version: v.version, rows: v.rows, complete: v.complete, missing: v.missing, pointers: v.pointers, wrongSize: v.wrongSize.map((w) => w.path) })),
    restorable,
    unrestorable,
    orphans: inspection.orphans,
    findings,
  };
}
