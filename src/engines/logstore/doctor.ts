// `runbook doctor leveldb|pebble` and the logStoreRecover diagnosis: what state a LevelDB, goleveldb
// or Pebble store is in, file by file, and whether cutting torn tails back repairs it. Read-only: no
// file is written or created, and no symlink is followed (CURRENT, a marker or the MANIFEST being
// one is refused; a WAL or table being one is a finding). No Temporal imports.
import type { Stats } from 'node:fs';
import { lstat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { AbortError } from '../../format/logstore/errors';
import { scanLogFile } from '../../format/logstore/records';
import type { LogStatus, LogVerdict } from '../../format/logstore/types';
import { replayManifest } from '../../format/logstore/version-edit';
import { currentFinding, logFinding, manifestFinding, tableFinding, truncateLosesFinding, type LogStoreFinding } from './doctor-findings';
import {
  hasManifestMarker,
  listStore,
  LOG_NAME,
  MANIFEST_NAME,
  numbered,
  openRegular,
  readLevelDbCurrent,
  readPebbleMarker,
  TABLE_NAME,
  type CurrentReport,
  type StoreEngine,
  type StoreEntry,
} from './store-files';
import { checkTable, type BlockProblem } from './tables';

export type { LogStoreFinding } from './doctor-findings';
export type { CurrentReport, StoreEngine } from './store-files';

/** A file in the log format (the MANIFEST or a WAL): the format layer's verdict, and what the doctor adds. */
export interface LogFileReport extends LogVerdict {
  file: string;
  /** A torn or zeroed tail that cutting back to validBytes repairs (never for a clean file). */
  truncatable: boolean;
}

export interface ManifestReport extends LogFileReport {
  /** What named it: `CURRENT`, a fallback (`CURRENT.bak`), the marker, or `newest-on-disk`. */
  chosenBy: string;
  /** Fields the engine requires that the state after the last complete record lacks. */
  missingAfterTruncate: string[];
  comparator: string | null;
  logNumber: number | null;
  prevLogNumber: number | null;
  nextFileNumber: number | null;
  /** A decimal string: sequence numbers are 56-bit. */
  lastSequence: string | null;
  /** Tables in the version the complete records describe. */
  liveTables: number;
}

export interface WalReport extends LogFileReport {
  number: number;
  /** Replayed at open: numbered at or above the MANIFEST's log number (or its prev log number). */
  live: boolean;
}

export type TableStatus = 'ok' | 'missing' | 'size-mismatch' | 'bad-footer' | 'bad-block' | 'symlink' | 'not-a-file' | 'unreferenced';

export interface TableReport {
  file: string;
  number: number;
  status: TableStatus;
  /** In the version the MANIFEST's complete records describe. */
  live: boolean;
  level: number | null;
  /** Bytes on disk (null when missing). */
  size: number | null;
  /** Bytes the MANIFEST records (null when unreferenced). */
  expectedSize: number | null;
  format?: string;
  /** Data blocks whose checksum was verified. */
  dataBlocks?: number;
  /** What was not verified, and why. */
  unchecked?: string;
  problems?: BlockProblem[];
}

export interface LogStoreDiagnosis {
  engine: StoreEngine;
  path: string;
  /** No finding above `info`: the doctor's exit contract (0 healthy, 1 otherwise) follows this. */
  healthy: boolean;
  /** There is something to cut, and every problem found is a torn or zeroed tail that cutting back to validBytes repairs. */
  truncatable: boolean;
  current: CurrentReport;
  manifest: ManifestReport | null;
  logs: WalReport[];
  tables: TableReport[];
  missingTables: number[];
  findings: LogStoreFinding[];
}

export interface DoctorOptions {
  signal?: AbortSignal;
  /** Called per file checked, for heartbeats. */
  onProgress?: (detail: { file: string; checked: number; of: number }) => void;
}

const TAIL_CODES = new Set(['manifest-torn-tail', 'manifest-zeroed-tail', 'log-torn-tail', 'log-zeroed-tail']);
const isTail = (s: LogStatus) => s === 'torn-tail' || s === 'zeroed-tail';
const fileName = (n: number, ext: string) => `${String(n).padStart(6, '0')}.${ext}`;
const num = (v: number | bigint | string | null | undefined): number | null => (v === undefined || v === null ? null : Number(v));

function notPlain(file: string, type: StoreEntry['type'], what: string, meaning: string): LogStoreFinding {
  const link = type === 'symlink';
  return { code: link ? 'symlink' : 'not-a-file', severity: 'error', file, offset: null, message: `${file} is ${link ? 'a symlink' : `a ${type}, not a regular file`}: not read (a store's files are plain files; the doctor follows no links); as ${what}, ${meaning}` };
}

/**
 * Runs `read` on `path` while holding it open (openRegular: a regular file, no link followed), then
 * checks the name still is that file: the format layer opens by name again, so a different file
 * renamed into place meanwhile would be read instead.
 */
async function readStable<T>(path: string, read: (fh: FileHandle, info: Stats) => Promise<T>): Promise<T> {
  const { fh, info } = await openRegular(path);
  try {
    const result = await read(fh, info);
    const now = await lstat(path);
    if (now.ino !== info.ino || now.dev !== info.dev) throw new Error(`${path} was replaced while it was read`);
    return result;
  } finally {
    await fh.close();
  }
}

/** LogVerdict's fields in report order; `satisfies` makes a field added to LogVerdict fail to compile until listed. */
const VERDICT_ORDER = { status: 1, fileBytes: 1, validBytes: 1, firstBadOffset: 1, corruption: 1, validRecordsAfter: 1, records: 1, headerFormat: 1, stoppedAt: 1, detail: 1 } satisfies Record<keyof LogVerdict, 1>;
const VERDICT_FIELDS = Object.keys(VERDICT_ORDER) as Array<keyof LogVerdict>;

/** The verdict under its file name; an absent optional field stays absent (no undefined keys in the JSON). */
function logFields(file: string, v: LogVerdict): Omit<LogFileReport, 'truncatable'> {
  return { file, ...(Object.fromEntries(VERDICT_FIELDS.filter((k) => v[k] !== undefined).map((k) => [k, v[k]])) as unknown as LogVerdict) };
}

/** Which MANIFEST the engine reads, and by what: the pointer, a goleveldb fallback, else the newest one here. */
function chooseManifest(current: CurrentReport, entries: Map<string, StoreEntry>): { file: string; chosenBy: string } | undefined {
  if (current.manifest && entries.has(current.manifest)) return { file: current.manifest, chosenBy: current.file };
  const fallback = current.fallbacks?.find((f) => f.status === 'ok');
  if (fallback?.manifest) return { file: fallback.manifest, chosenBy: fallback.file };
  const newest = numbered(entries, MANIFEST_NAME).at(-1);
  return newest ? { file: newest.name, chosenBy: 'newest-on-disk' } : undefined;
}

export async function doctorLogStore(engine: StoreEngine, dir: string, options: DoctorOptions = {}): Promise<LogStoreDiagnosis> {
  const { signal, onProgress } = options;
  const checkAbort = (what: string) => {
    if (signal?.aborted) throw new AbortError(`doctor ${engine} ${dir}: ${what}`, signal.reason);
  };
  const entries = await listStore(dir);
  const manifests = numbered(entries, MANIFEST_NAME);
  const marker = hasManifestMarker(entries);
  if (!entries.has('CURRENT') && !marker && !manifests.length) {
    throw new Error(`${dir}: not a LevelDB/Pebble store: no CURRENT, no marker.manifest.*, no MANIFEST-*`);
  }
  if (engine === 'leveldb' && marker && !entries.has('CURRENT')) throw new Error(`${dir}: a Pebble store (${marker}, no CURRENT): run doctor pebble`);
  if (engine === 'pebble' && !marker && entries.has('CURRENT')) throw new Error(`${dir}: a LevelDB store (CURRENT, no marker.manifest.*): run doctor leveldb`);

  const current = engine === 'leveldb' ? await readLevelDbCurrent(dir, entries) : readPebbleMarker(dir, entries);
  const findings: LogStoreFinding[] = [];
  const chosen = chooseManifest(current, entries);
  const newest = manifests.at(-1)?.name;
  if (current.status !== 'ok') findings.push(currentFinding(engine, current, newest));

  const logFiles = numbered(entries, LOG_NAME);
  const tableFiles = numbered(entries, TABLE_NAME);
  const of = 1 + logFiles.length + tableFiles.length;
  let checked = 0;
  const progress = (file: string) => onProgress?.({ file, checked: ++checked, of });

  // The MANIFEST: the version the engine would open, up to its last complete record.
  let manifest: ManifestReport | null = null;
  let live = new Map<number, { level: number; size: number }>();
  if (chosen) {
    const path = join(dir, chosen.file);
    const entry = entries.get(chosen.file);
    if (entry?.type === 'symlink') throw new Error(`${path} is a symlink; refusing to follow it (a store's MANIFEST is a plain file)`);
    checkAbort(chosen.file);
    const replay = await readStable(path, () => replayManifest(path, engine, { signal }));
    const missing = replay.missing ?? [];
    manifest = {
      ...logFields(chosen.file, replay.verdict),
      truncatable: isTail(replay.verdict.status) && missing.length === 0,
      chosenBy: chosen.chosenBy,
      missingAfterTruncate: missing,
      comparator: replay.comparator ?? null,
      logNumber: num(replay.logNumber),
      prevLogNumber: num(replay.prevLogNumber),
      nextFileNumber: num(replay.nextFileNumber),
      lastSequence: replay.lastSequence ?? null,
      liveTables: replay.liveFiles.length,
    };
    live = new Map(replay.liveFiles.map((f) => [Number(f.number), { level: f.level, size: Number(f.size) }]));
    progress(chosen.file);
  } else {
    findings.push({ code: 'manifest-missing', severity: 'error', file: current.manifest ?? 'MANIFEST-*', offset: null, message: `no MANIFEST here: the engine cannot open the store; only a repair that rebuilds one from the tables (C++ RepairDB, goleveldb Recover) can` });
  }

  // WALs: those at or above the MANIFEST's log number are replayed at open.
  const logs: WalReport[] = [];
  const isLive = (n: number) => !manifest || manifest.logNumber === null || n >= manifest.logNumber || (!!manifest.prevLogNumber && n === manifest.prevLogNumber);
  const liveLogs = logFiles.filter((l) => l.type === 'file' && isLive(l.number));
  const newestLiveLog = liveLogs.at(-1)?.number;
  for (const l of logFiles) {
    checkAbort(l.name);
    progress(l.name);
    const path = join(dir, l.name);
    if (l.type !== 'file') {
      findings.push(notPlain(l.name, l.type, 'a WAL', 'the engine would replay whatever it leads to'));
      continue;
    }
    const verdict = await readStable(path, () => scanLogFile(path, { ...(engine === 'pebble' ? { logNumber: l.number } : {}), signal }));
    const report: WalReport = { ...logFields(l.name, verdict), truncatable: false, number: l.number, live: isLive(l.number) };
    report.truncatable = report.live && isTail(verdict.status);
    logs.push(report);
    if (report.live && verdict.status !== 'clean') findings.push(logFinding(engine, report, report.number === newestLiveLog));
  }
  const expectedWal = manifest?.logNumber ? fileName(manifest.logNumber, 'log') : undefined;
  if (manifest && expectedWal && !entries.has(expectedWal)) {
    const wal = expectedWal;
    findings.push({ code: 'log-missing', severity: 'info', file: wal, offset: null, message: `${wal}, the oldest WAL ${manifest.file} says to replay, is not here: keys written after the last flush, if there were any, are not in this store` });
  }

  // Tables: every file of the version present, of the recorded size, with sound blocks.
  const tables: TableReport[] = [];
  const onDisk = new Map(tableFiles.map((t) => [t.number, t]));
  for (const t of tableFiles) {
    checkAbort(t.name);
    progress(t.name);
    const want = live.get(t.number);
    const base = { file: t.name, number: t.number, live: !!want, level: want?.level ?? null, size: t.type === 'file' ? t.size : null, expectedSize: want?.size ?? null };
    if (!want) {
      tables.push({ ...base, status: 'unreferenced' });
      continue;
    }
    if (t.type !== 'file') {
      tables.push({ ...base, status: t.type === 'symlink' ? 'symlink' : 'not-a-file' });
      findings.push(notPlain(t.name, t.type, 'a table', `the version in ${manifest?.file} needs it as a plain table file`));
      continue;
    }
    const path = join(dir, t.name);
    const check = await readStable(path, (fh, info) => checkTable(fh, info.size, { signal }));
    const status: TableStatus = t.size !== want.size ? 'size-mismatch' : check.status;
    const report: TableReport = { ...base, status, ...(check.format ? { format: check.format } : {}), dataBlocks: check.dataBlocks, ...(check.unchecked ? { unchecked: check.unchecked } : {}), ...(check.problems.length ? { problems: check.problems } : {}) };
    tables.push(report);
    findings.push(...tableFinding(engine, report, check.footer));
  }
  const missingTables = [...live.keys()].filter((n) => !onDisk.has(n)).sort((a, b) => a - b);
  for (const n of missingTables) {
    const want = live.get(n)!;
    const report: TableReport = { file: fileName(n, engine === 'pebble' ? 'sst' : 'ldb'), number: n, status: 'missing', live: true, level: want.level, size: null, expectedSize: want.size };
    tables.push(report);
    findings.push(...tableFinding(engine, report, undefined, manifest!));
  }
  tables.sort((a, b) => a.number - b.number);

  // A cut MANIFEST forgets the tables the torn record added; the engine then deletes them as
  // obsolete. Harmless after a real crash (their WAL is still here to replay), not when it is gone.
  let loses: LogStoreFinding | undefined;
  if (manifest?.truncatable && manifest.validBytes < manifest.fileBytes && manifest.logNumber) {
    const wal = fileName(manifest.logNumber, 'log');
    const orphans = tables.filter((t) => t.status === 'unreferenced' && t.number >= (manifest!.nextFileNumber ?? 0));
    if (orphans.length && !entries.has(wal)) {
      manifest.truncatable = false;
      loses = truncateLosesFinding(manifest, orphans.map((t) => t.file), wal);
    }
  }
  // In file order: the pointer's finding (if any) first, then the MANIFEST's.
  if (manifest && manifest.status !== 'clean') findings.splice(current.status === 'ok' ? 0 : 1, 0, manifestFinding(engine, manifest, { losesTables: !!loses, missingTables: missingTables.length }));
  if (loses) findings.push(loses);
  for (const t of tables.filter((x) => x.status === 'unreferenced')) findings.push(...tableFinding(engine, t, undefined, manifest ?? undefined));

  const blocking = findings.filter((f) => f.severity !== 'info');
  const truncatableFile = (file: string) => (manifest?.file === file ? manifest.truncatable : !!logs.find((l) => l.file === file)?.truncatable);
  return {
    engine,
    path: dir,
    healthy: blocking.length === 0,
    truncatable: blocking.length > 0 && blocking.every((f) => TAIL_CODES.has(f.code) && truncatableFile(f.file)),
    current,
    manifest,
    logs,
    tables,
    missingTables,
    findings,
  };
}
