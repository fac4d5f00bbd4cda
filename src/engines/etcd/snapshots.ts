// The snapshot files etcdSnapshot writes into an operator's folder: their names (the only files it
// ever deletes are ones that match this runbook's pattern for that member), how one is checked, and
// which ones pruning keeps. Engine code: no Temporal.
//
// A file of `etcdctl snapshot save` is the backend's bbolt bytes followed by the sha256 of those
// bytes (32 bytes; `snapshot restore` checks it). A snapshot is good when our bbolt checker finds
// nothing, the trailer matches, and etcdctl's own `snapshot status` reads it.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { checkBbolt, isBboltFileError, type BboltReport } from '../../format/bbolt/index';
import { AbortError } from '../../format/logstore/errors';
import { CHUNK } from '../lfs/file-io';

/** `20261202T055626.123Z`: sortable as text, unique per run (a run's start time, in ms). */
export function snapshotStamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '');
}

/** The name of a good snapshot: `etcd-<member>-<UTC time>.db`. */
export const snapshotName = (member: string, at: Date) => `etcd-${member}-${snapshotStamp(at)}.db`;
/** Where `etcdctl snapshot save` writes before the check: hidden, and not `*.db`, so no reader takes it. */
export const partName = (member: string, at: Date) => `.${snapshotName(member, at)}.part`;
/** A snapshot that failed its check keeps its bytes under this name, with the findings beside it. */
export const badName = (name: string) => `${name}.bad`;
export const findingsName = (name: string) => `${badName(name)}.json`;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Matches exactly the good-snapshot names of `member` (`a` never matches `a-b`'s files). */
export function snapshotPattern(member: string): RegExp {
  return new RegExp(`^etcd-${escapeRegExp(member)}-(\\d{8}T\\d{6}\\.\\d{3}Z)\\.db$`);
}

export interface SnapshotFile {
  name: string;
  bytes: number;
  mtime: string;
  /** Identity when listed: a file replaced since is not the one that was decided on. */
  dev: number;
  ino: number;
}

export interface SnapshotListing {
  /** This member's snapshots (regular files matching the pattern), newest first. */
  snapshots: SnapshotFile[];
  /** Entries of the folder that are not (other members', `.bad`, symlinks, anything else): never touched. */
  others: string[];
}

/** Lists `dir` without following symlinks: a symlink or folder with a snapshot's name is someone else's. */
export async function listSnapshots(dir: string, member: string): Promise<SnapshotListing> {
  const pattern = snapshotPattern(member);
  const snapshots: SnapshotFile[] = [];
  const others: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const info = pattern.test(name) ? await lstat(join(dir, name)).catch(() => undefined) : undefined;
    if (!info?.isFile()) {
      others.push(name);
      continue;
    }
    snapshots.push({ name, bytes: info.size, mtime: info.mtime.toISOString(), dev: info.dev, ino: info.ino });
  }
  snapshots.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  return { snapshots, others };
}

export const SHA256_TRAILER = 32;

export interface SnapshotCheck {
  healthy: boolean;
  bytes: number;
  /** sha256 of the whole file. */
  sha256: string;
  /** The db's page size, when it has a readable meta. */
  pageSize?: number;
  /** `ok`: the last 32 bytes are the sha256 of the rest; `none`: the file is whole pages (a db copied from a data dir). */
  trailer: 'ok' | 'mismatch' | 'none' | 'unreadable';
  /** Why it is not healthy, in words (the checker's first findings, the trailer, the file error). */
  problems: string[];
  /** The checker's report, when the file was a readable bbolt file. */
  report?: BboltReport;
}

export interface CheckOptions {
  signal?: AbortSignal;
  /** Bytes or pages done: for heartbeats. */
  onProgress?: (detail: { hashed?: number; pagesVisited?: number }) => void;
}

const PROBLEMS_KEPT = 10;

/** sha256 of the whole file and of all but its last 32 bytes, and those 32 bytes; one read, not through a symlink. */
async function hashWithTrailer(path: string, { signal, onProgress }: CheckOptions): Promise<{ sha256: string; bytes: number; body: string; trailer: string }> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const { size } = await fh.stat();
    const whole = createHash('sha256');
    const body = createHash('sha256');
    const bodyEnd = Math.max(0, size - SHA256_TRAILER);
    const buf = Buffer.allocUnsafe(CHUNK);
    let at = 0;
    let trailer = Buffer.alloc(0);
    while (at < size) {
      if (signal?.aborted) throw new AbortError(`hashing ${path}`, signal.reason);
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, size - at), at);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      whole.update(chunk);
      if (at < bodyEnd) body.update(chunk.subarray(0, Math.min(bytesRead, bodyEnd - at)));
      if (at + bytesRead > bodyEnd) trailer = Buffer.concat([trailer, chunk.subarray(Math.max(0, bodyEnd - at))]);
      at += bytesRead;
      onProgress?.({ hashed: at });
    }
    return { sha256: whole.digest('hex'), bytes: at, body: body.digest('hex'), trailer: trailer.toString('hex') };
  } finally {
    await fh.close();
  }
}

/** Our bbolt checker over the file, and its sha256 trailer. Never throws for a bad file: it says why in `problems`. */
export async function checkSnapshotFile(path: string, opts: CheckOptions = {}): Promise<SnapshotCheck> {
  const hashed = await hashWithTrailer(path, opts);
  const problems: string[] = [];
  let report: BboltReport | undefined;
  try {
    report = await checkBbolt(path, { signal: opts.signal, onProgress: ({ pagesVisited }) => opts.onProgress?.({ pagesVisited }) });
  } catch (err) {
    if (!isBboltFileError(err)) throw err;
    problems.push(`not a readable bbolt file: ${(err as Error).message}`);
  }
  let trailer: SnapshotCheck['trailer'] = 'unreadable';
  if (report) {
    for (const f of report.findings.slice(0, PROBLEMS_KEPT)) problems.push(`${f.code} (page ${f.page}): ${f.message}`);
    if (report.findings.length > PROBLEMS_KEPT) problems.push(`and ${report.findings.length - PROBLEMS_KEPT} more findings`);
    if (!report.healthy && !report.findings.length) problems.push('the checker does not pass it');
    const rest = hashed.bytes % report.pageSize;
    trailer = rest === 0 ? 'none' : rest === SHA256_TRAILER && hashed.trailer === hashed.body ? 'ok' : 'mismatch';
    if (trailer === 'mismatch') {
      problems.push(rest === SHA256_TRAILER
        ? `its last 32 bytes are not the sha256 of the rest (${hashed.body}): the file changed after etcd wrote it`
        : `${hashed.bytes} bytes is not whole ${report.pageSize}-byte pages plus a 32-byte sha256: the file is cut or padded`);
    }
  }
  return { healthy: problems.length === 0, bytes: hashed.bytes, sha256: hashed.sha256, ...(report ? { pageSize: report.pageSize, report } : {}), trailer, problems };
}

export interface PruneDecision<C> {
  /** The newest `keep` that check clean, newest first: the first is the newest good one. */
  kept: Array<SnapshotFile & { check: C }>;
  /** Newer than the oldest kept (or than the end of the list), and failing their check. */
  failing: Array<SnapshotFile & { check: C }>;
  /** Older than the `keep`-th good one. Empty unless `keep` good ones were found. */
  remove: SnapshotFile[];
}

/**
 * Walks `snapshots` newest first, checking each, until `keep` have checked clean; what is older than
 * the `keep`-th good one is to be removed, unchecked (it is past keeping either way). So fewer than
 * `keep` good ones, and in particular none, remove nothing, and the newest good one is always kept.
 */
export async function decidePrune<C extends { healthy: boolean }>(snapshots: SnapshotFile[], keep: number, check: (s: SnapshotFile) => Promise<C>): Promise<PruneDecision<C>> {
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be a whole number of at least 1, not ${keep}`);
  const decision: PruneDecision<C> = { kept: [], failing: [], remove: [] };
  for (const s of snapshots) {
    if (decision.kept.length >= keep) {
      decision.remove.push(s);
      continue;
    }
    const result = await check(s);
    (result.healthy ? decision.kept : decision.failing).push({ ...s, check: result });
  }
  return decision;
}
