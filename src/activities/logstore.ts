// LevelDB/Pebble store recovery steps (logStoreRecover). Each checks the store before acting and
// can run twice. The store is changed only by cutting a torn tail (its bytes stay in the snapshot)
// or by swapping in a recovered copy (the damaged store is kept, renamed into quarantine).
import { constants } from 'node:fs';
import { copyFile, lstat, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { doctorLogStore, type LogStoreDiagnosis } from '../engines/logstore/doctor';
import { claimScratch, copyStore, isScratch, requireFreeSpace, storeBytes, logFileName, predictOutcomes, truncateTail, truncationsOf, type Predictions, type Truncation } from '../engines/logstore/candidates';
import { recoverStore, scanStore, StoreOpenError, type StoreEngine } from '../engines/logstore/storectl';
import { fsyncDir, fsyncPath } from '../engines/lfs/file-io';
import { realPathOf, requireUnderDataRoots } from '../host/data-roots';
import { lockHolders, requireNotOpen } from '../engines/logstore/lock-holder';
import type { FileMove, ListRef } from '../workflows/report';
import { invalidInput, safetyViolation, verificationFailed } from './failures';
import { copyVerified, readSums, sha256File } from './files';
import { cancellationSignal, heartbeatWhile, reportProgress } from './progress';
import { keepList } from './state';

/** The quarantine must lie outside the store: a snapshot or a copy inside it would copy itself, and the engine would see it. */
async function requireOutsideStore(dir: string, quarantine: string): Promise<void> {
  const [store, q] = await Promise.all([realPathOf(dir), realPathOf(quarantine)]);
  if (q === store || q.startsWith(`${store}/`)) throw safetyViolation(`quarantineDir ${quarantine} is inside the store ${dir}; choose a folder outside it`);
}

const doctorEngine = (engine: StoreEngine) => (engine === 'goleveldb' ? 'leveldb' : 'pebble');

type LogFile = LogStoreDiagnosis['logs'][number];

/** What the plan needs of a diagnosis: small, and the same on every run over the same bytes. */
export interface LogStoreFacts {
  path: string;
  engine: StoreEngine;
  healthy: boolean;
  /** Pids holding the store's LOCK now: the engine has it open. */
  openBy: number[];
  /** Every problem is a torn or zeroed tail that cutting back repairs. */
  truncatable: boolean;
  manifest: LogStoreDiagnosis['manifest'];
  /** WALs that are not clean. */
  damagedLogs: LogFile[];
  missingTables: number[];
  findings: ListRef<LogStoreDiagnosis['findings'][number]>;
  truncations: Truncation[];
  predictions: Predictions;
}

/**
 * Reads the store (the doctor), then tries each repair on scratch copies under `scratchDir` and
 * asks the real engine what it serves after each. The store itself is only read.
 */
export async function diagnoseLogStore(args: { dir: string; engine: StoreEngine; scratchDir: string }): Promise<LogStoreFacts> {
  await requireUnderDataRoots({ dir: args.dir, quarantineDir: args.scratchDir });
  await requireOutsideStore(args.dir, args.scratchDir);
  const signal = cancellationSignal();
  let d: LogStoreDiagnosis;
  try {
    d = await doctorLogStore(doctorEngine(args.engine), args.dir, { signal, onProgress: (detail: unknown) => reportProgress({ doctor: detail }) });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw invalidInput((err as Error).message); // the doctor's words name the path
  }
  const truncations = truncationsOf([...(d.manifest ? [d.manifest] : []), ...d.logs]);
  const predictions = await heartbeatWhile(
    predictOutcomes(args.engine, args.dir, truncations, args.scratchDir, { signal, recoveries: !d.healthy, onProgress: (choice) => reportProgress({ trying: choice }) }),
    { predicting: args.dir },
  );
  return {
    path: d.path,
    engine: args.engine,
    openBy: [...new Set((await lockHolders(args.dir)).map((h) => h.pid))],
    healthy: d.healthy && predictions.asIs.opens,
    truncatable: d.truncatable,
    manifest: d.manifest,
    damagedLogs: d.logs.filter((l) => l.status !== 'clean'),
    missingTables: d.missingTables,
    findings: await keepList(d.findings),
    truncations,
    predictions,
  };
}

/**
 * Copies every file of the store into `destination` with a SHA256SUMS list, then proves the copy:
 * each source file hashed again must match its line. A retry copies again what had no list yet.
 */
export async function snapshotLogStore(args: { dir: string; destination: string }) {
  await requireUnderDataRoots({ dir: args.dir, quarantineDir: args.destination });
  await requireOutsideStore(args.dir, args.destination);
  await requireNotOpen(args.dir, 'snapshot it');
  // Checked before the first copy only: a retry finds part of the snapshot already taking space.
  if (!(await lstat(args.destination).then(() => true, () => false))) await requireFreeSpace(args.destination, await storeBytes(args.dir), `the snapshot of ${args.dir}`);
  return copyVerified(args.dir, args.destination);
}

/**
 * Cuts each torn tail back to its last complete record. Before cutting, the snapshot must hold the
 * file's bytes as they are now (sha256), so nothing cut is lost. Already cut: nothing to do.
 */
export async function truncateLogTails(args: { dir: string; snapshot: string; truncations: Truncation[] }) {
  await requireUnderDataRoots({ dir: args.dir, quarantineDir: args.snapshot });
  for (const t of args.truncations) logFileName(t.file);
  await requireNotOpen(args.dir, 'cut its files');
  const sums = await readSums(args.snapshot);
  const done: Array<Truncation & { bytesRemoved: number; already: boolean }> = [];
  for (const t of args.truncations) {
    const path = join(args.dir, logFileName(t.file));
    const kept = sums.get(t.file);
    if (!kept) throw safetyViolation(`the snapshot ${args.snapshot} has no copy of ${t.file}; refusing to cut it`);
    const { size } = await lstat(path);
    if (size === t.fileBytes && (await sha256File(path)) !== kept) throw safetyViolation(`${path} differs from its snapshot copy; refusing to cut it`);
    const result = await truncateTail(args.dir, t).catch((err: Error) => {
      throw err.name === 'StoreChangedError' ? safetyViolation(err.message) : err;
    });
    await fsyncDir(args.dir);
    done.push({ ...t, bytesRemoved: t.fileBytes - t.validBytes, already: result === 'already' });
    reportProgress({ truncated: t.file });
  }
  return { truncated: done, bytesRemoved: done.reduce((sum, t) => sum + t.bytesRemoved, 0) };
}

/** Undo of truncateLogTails: each cut file gets its snapshot bytes back (written aside, then renamed over). */
export async function restoreLogTails(args: { dir: string; snapshot: string; truncations: Truncation[] }) {
  await requireUnderDataRoots({ dir: args.dir, quarantineDir: args.snapshot });
  for (const t of args.truncations) logFileName(t.file);
  const sums = await readSums(args.snapshot);
  const restored: string[] = [];
  for (const t of args.truncations) {
    const path = join(args.dir, logFileName(t.file));
    const kept = join(args.snapshot, t.file);
    if ((await lstat(path).catch(() => undefined))?.size === t.fileBytes) continue;
    if ((await sha256File(kept)) !== sums.get(t.file)) throw safetyViolation(`${kept} no longer matches the snapshot's SHA256SUMS; restore ${t.file} by hand`);
    const aside = `${path}.runbook-restore`;
    await rm(aside, { force: true });
    await copyFile(kept, aside, constants.COPYFILE_EXCL);
    await fsyncPath(aside);
    await rename(aside, path);
    await fsyncDir(args.dir);
    restored.push(t.file);
  }
  return { restored };
}

/**
 * Builds the recovered store in `work` (ours, beside the store): a copy of the snapshot, recovered
 * there by goleveldb's own Recover. The store is not touched. A retry starts the copy again.
 */
export async function recoverLogStoreCopy(args: { dir: string; snapshot: string; work: string; strict: boolean }) {
  await requireUnderDataRoots({ dir: args.dir, quarantineDir: args.work });
  await requireOutsideStore(args.dir, args.work);
  const signal = cancellationSignal();
  await claimScratch(args.work);
  const store = join(args.work, 'store');
  await heartbeatWhile(copyStore(args.snapshot, store, { signal, skip: ['SHA256SUMS'] }), { copying: args.snapshot });
  const { tables } = await heartbeatWhile(recoverStore(store, { strict: args.strict, signal }), { recovering: store });
  return { store, tables };
}

/**
 * Swaps the recovered copy in: the damaged store is renamed to `aside` (kept, never deleted) and the
 * copy to the store's path. Both renames are on one filesystem; each state a crash can leave is
 * recognised and finished.
 */
export async function swapLogStore(args: { dir: string; recovered: string; aside: string; snapshot: string }) {
  await requireUnderDataRoots({ dir: args.dir, quarantineDir: args.aside });
  const [dir, recovered, aside] = await Promise.all([args.dir, args.recovered, args.aside].map((p) => lstat(p).then((i) => i, () => undefined)));
  if (recovered && !(await isScratch(dirname(args.recovered)))) throw safetyViolation(`${args.recovered} is not a copy this tool recovered; refusing to swap it in`);
  if (aside?.isSymbolicLink() || dir?.isSymbolicLink()) throw safetyViolation(`${args.dir} or ${args.aside} is a symlink; refusing to rename through it`);
  if (dir) await requireNotOpen(args.dir, 'swap it out');
  // A directory has no sha256 of its own: the move records the one of its snapshot's SHA256SUMS.
  const record: FileMove = { from: args.dir, to: args.aside, sha256: await sha256File(join(args.snapshot, 'SHA256SUMS')) };
  const filesMoved: ListRef<FileMove> = { count: 1, first: [record], sha256: record.sha256 };
  if (aside && !recovered && dir) return { swapped: false, already: true, filesMoved };
  if (!recovered) throw safetyViolation(`the recovered copy ${args.recovered} is gone; run the recovery again`);
  if (dir && aside) throw safetyViolation(`${args.aside} already exists; refusing to overwrite it`);
  if (dir) await rename(args.dir, args.aside);
  await rename(args.recovered, args.dir);
  await Promise.all([fsyncDir(dirname(args.dir)), fsyncDir(dirname(args.aside)), fsyncDir(dirname(args.recovered))]);
  return { swapped: true, already: false, filesMoved };
}

/** Undo of swapLogStore: the recovered store goes back to `recovered`, the damaged one to its path. */
export async function unswapLogStore(args: { dir: string; recovered: string; aside: string }) {
  await requireUnderDataRoots({ dir: args.dir, quarantineDir: args.aside });
  const [dir, recovered, aside] = await Promise.all([args.dir, args.recovered, args.aside].map((p) => lstat(p).then(() => true, () => false)));
  if (!aside) return { unswapped: false, reason: 'the damaged store was never moved' };
  if (dir && recovered) throw safetyViolation(`both ${args.dir} and ${args.recovered} exist; put the damaged store back from ${args.aside} by hand`);
  if (!(await isScratch(dirname(args.recovered)))) throw safetyViolation(`${args.recovered} is not inside a folder this tool made; refusing to move the store there`);
  if (dir) await rename(args.dir, args.recovered);
  await rename(args.aside, args.dir);
  await Promise.all([fsyncDir(dirname(args.dir)), fsyncDir(dirname(args.aside))]);
  return { unswapped: true };
}

/** The real engine opens the store and iterates every key; the count and digest must be the plan's. */
export async function verifyLogStore(args: { dir: string; engine: StoreEngine; expectKeys: number; expectDigest: string }) {
  await requireUnderDataRoots({ dir: args.dir });
  try {
    const scan = await heartbeatWhile(scanStore(args.engine, args.dir, { signal: cancellationSignal() }), { scanning: args.dir });
    const problems = [
      scan.keys !== args.expectKeys && `${scan.keys} keys, the plan expected ${args.expectKeys}`,
      scan.digest !== args.expectDigest && `digest ${scan.digest.slice(0, 16)}…, the plan expected ${args.expectDigest.slice(0, 16)}…`,
    ].filter(Boolean);
    if (problems.length) throw verificationFailed(`${args.dir}: ${problems.join('; ')}`);
    return scan;
  } catch (err) {
    if (err instanceof StoreOpenError) throw verificationFailed(`${args.dir}: the engine does not open it: ${err.message}`);
    throw err;
  }
}
