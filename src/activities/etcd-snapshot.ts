// etcdSnapshot's steps: list what the folder holds, save a snapshot and check it, prune. The folder
// is the operator's: every path is checked against the host's data roots, and the only files ever
// deleted are this runbook's own snapshots of that member (named by its pattern, regular files, the
// very files that were listed), older than the newest `keep` that check clean.
import { lstat, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { servedState, snapshotSave, snapshotStatus, type SnapshotStatus } from '../engines/etcd/etcdctl';
import { badName, checkSnapshotFile, decidePrune, findingsName, listSnapshots, partName, snapshotName, type SnapshotCheck, type SnapshotFile } from '../engines/etcd/snapshots';
import { fsyncDir, fsyncPath } from '../engines/lfs/file-io';
import { requireFreeSpace } from '../engines/logstore/candidates';
import { realPathOf, requireUnderDataRoots } from '../host/data-roots';
import type { ListRef } from '../workflows/report';
import { invalidInput, notYet, safetyViolation, verificationFailed } from './failures';
import { sha256File } from './files';
import { cancellationSignal, heartbeatWhile, reportProgress } from './progress';
import { keepList } from './state';

const exists = (path: string) => lstat(path).then(() => true, () => false);

/** The snapshot folder, symlinks resolved, once it is known to lie under the data roots. */
async function snapshotFolder(snapshotDir: string, { create = false } = {}): Promise<string | undefined> {
  await requireUnderDataRoots({ snapshotDir });
  if (create) await mkdir(snapshotDir, { recursive: true, mode: 0o700 });
  const info = await stat(snapshotDir).catch(() => undefined);
  if (!info) return undefined;
  if (!info.isDirectory()) throw invalidInput(`snapshotDir ${snapshotDir} is not a folder`);
  return realPathOf(snapshotDir);
}

/** What etcd serves now; an etcd that does not answer may answer on the next attempt. */
async function served(clientUrl: string) {
  try {
    return await servedState(clientUrl, { signal: cancellationSignal() });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw notYet(`etcd at ${clientUrl} does not answer: ${(err as Error).message}`);
  }
}

const check = (path: string) =>
  checkSnapshotFile(path, { signal: cancellationSignal(), onProgress: (detail) => reportProgress({ checking: path, ...detail }) });

/** Moves a snapshot that failed its check to `<name>.bad` (kept, never deleted) with its findings beside it. */
async function keepAsBad(dir: string, from: string, name: string, result: SnapshotCheck): Promise<string> {
  const bad = join(dir, badName(name));
  if (await exists(bad)) throw safetyViolation(`${bad} already exists; refusing to overwrite it with ${from}`);
  const { report, ...rest } = result;
  await writeFile(join(dir, findingsName(name)), `${JSON.stringify({ file: bad, checkedAt: new Date().toISOString(), ...rest, findings: report?.findings ?? [] }, null, 2)}\n`, { mode: 0o600, flush: true });
  await rename(from, bad);
  await fsyncDir(dir);
  return bad;
}

export interface SnapshotEntry {
  name: string;
  bytes: number;
  mtime: string;
}

const entry = ({ name, bytes, mtime }: SnapshotFile): SnapshotEntry => ({ name, bytes, mtime });

/** The plan: the folder's snapshots of this member and what pruning after one more good snapshot would delete. Read-only. */
export async function listEtcdSnapshots(args: { snapshotDir: string; member: string; keep: number; clientUrl: string }) {
  const dir = await snapshotFolder(args.snapshotDir);
  const { snapshots, others } = dir ? await listSnapshots(dir, args.member) : { snapshots: [], others: [] };
  const etcd = await servedState(args.clientUrl, { signal: cancellationSignal() }).then(
    (s) => ({ answers: true as const, ...s }),
    (err: Error) => ({ answers: false as const, error: err.message }),
  );
  return {
    dir: dir ?? args.snapshotDir,
    exists: dir !== undefined,
    snapshots: await keepList(snapshots.map(entry)),
    /** Files in the folder that are not this member's snapshots: never touched. */
    others: others.length,
    /** If the new snapshot and every newer one check clean. */
    wouldDelete: await keepList(snapshots.slice(args.keep - 1).map((s) => s.name)),
    etcd,
  };
}

export interface SavedSnapshot {
  file: string;
  bytes: number;
  sha256: string;
  /** What `etcdctl snapshot status` reads in the file. */
  status: SnapshotStatus;
  /** What etcd served just before the save: live keys, revision. */
  served: { keys: number; revision: number };
  pageSize: number;
  trailer: SnapshotCheck['trailer'];
  /** A retry found the snapshot already saved and checked by an earlier attempt. */
  already: boolean;
}

/**
 * `etcdctl snapshot save` into `<dir>/.etcd-<member>-<time>.db.part`, then our checker and etcdctl's
 * status; only a clean one is fsynced and renamed to `etcd-<member>-<time>.db`. A failing one is
 * kept as `….db.bad` with `….db.bad.json` (its findings), and the step fails naming it. `startedAt`
 * is the run's start: one name per run, the same on every attempt.
 */
export async function saveEtcdSnapshot(args: { clientUrl: string; member: string; snapshotDir: string; startedAt: string }): Promise<SavedSnapshot> {
  const at = new Date(args.startedAt);
  if (Number.isNaN(at.getTime())) throw invalidInput(`startedAt ${args.startedAt}: not a time`);
  const dir = (await snapshotFolder(args.snapshotDir, { create: true }))!;
  const name = snapshotName(args.member, at);
  const [file, part] = [join(dir, name), join(dir, partName(args.member, at))];
  const signal = cancellationSignal();
  const failed = (why: string, bad: string) => verificationFailed(`the snapshot of ${args.clientUrl} fails its check (${why}); it is kept as ${bad}, findings in ${join(dir, findingsName(name))}`);

  if (await exists(join(dir, badName(name)))) throw failed('an earlier attempt of this run found it bad', join(dir, badName(name)));
  if (await exists(file)) {
    // An earlier attempt saved it, checked it and renamed it; a file of that name is nobody else's.
    const info = await lstat(file);
    if (!info.isFile()) throw safetyViolation(`${file} exists and is not a regular file; refusing to use it`);
    const again = await heartbeatWhile(check(file), { checking: file });
    if (!again.healthy) throw failed(again.problems.join('; '), file);
    return { file, bytes: again.bytes, sha256: again.sha256, status: await snapshotStatus(file, { signal }), served: await served(args.clientUrl), pageSize: again.pageSize!, trailer: again.trailer, already: true };
  }

  const before = await served(args.clientUrl);
  if (await exists(part)) {
    if (!(await lstat(part)).isFile()) throw safetyViolation(`${part} exists and is not a regular file; refusing to replace it`);
    await rm(part); // this run's own half-saved file from an earlier attempt
  }
  const newest = (await listSnapshots(dir, args.member)).snapshots[0];
  await requireFreeSpace(dir, newest?.bytes ?? 0, `a snapshot of ${args.clientUrl} (the last one has ${newest?.bytes ?? 0} bytes)`);
  await heartbeatWhile(snapshotSave(args.clientUrl, part, { signal }), { saving: part, from: args.clientUrl });

  const result = await heartbeatWhile(check(part), { checking: part });
  let status: SnapshotStatus | undefined;
  if (result.healthy) {
    status = await snapshotStatus(part, { signal }).catch((err: Error) => {
      if (err.name === 'AbortError') throw err;
      result.healthy = false;
      result.problems.push(`etcdctl snapshot status cannot read it: ${err.message}`);
      return undefined;
    });
  }
  if (!result.healthy || !status) {
    const bad = await keepAsBad(dir, part, name, result);
    throw failed(result.problems.join('; '), bad);
  }
  await fsyncPath(part);
  await rename(part, file);
  await fsyncDir(dir);
  return { file, bytes: result.bytes, sha256: result.sha256, status, served: before, pageSize: result.pageSize!, trailer: result.trailer, already: false };
}

export interface PrunedSnapshot {
  name: string;
  bytes: number;
  sha256: string;
}

export interface PruneResult {
  dir: string;
  /** The newest `keep` that checked clean, newest first. */
  kept: ListRef<PrunedSnapshot>;
  deleted: ListRef<PrunedSnapshot>;
  /** Newer than the oldest kept but failing their check: moved to `*.db.bad` with their findings. */
  movedBad: ListRef<{ name: string; to: string; problems: string[] }>;
  /** Entries of the folder that are not this member's snapshots, left alone. */
  others: number;
}

/**
 * Keeps the newest `keep` snapshots of `member` that check clean (each re-checked now) and deletes
 * this runbook's older ones. Deletes nothing when fewer than `keep` check clean, so never the newest
 * good one; never a file outside the pattern, a symlink, or a file replaced since it was listed.
 */
export async function pruneEtcdSnapshots(args: { snapshotDir: string; member: string; keep: number }): Promise<PruneResult> {
  const dir = await snapshotFolder(args.snapshotDir);
  if (!dir) throw invalidInput(`snapshotDir ${args.snapshotDir} does not exist`);
  const { snapshots, others } = await listSnapshots(dir, args.member);
  const decision = await decidePrune(snapshots, args.keep, (s) => heartbeatWhile(check(join(dir, s.name)), { checking: s.name }));

  const movedBad = [];
  for (const s of decision.failing) movedBad.push({ name: s.name, to: await keepAsBad(dir, join(dir, s.name), s.name, s.check), problems: s.check.problems });

  const deleted: PrunedSnapshot[] = [];
  for (const s of decision.remove) {
    const path = join(dir, s.name);
    const now = await lstat(path).catch(() => undefined);
    if (!now) continue; // gone already (an earlier attempt deleted it)
    if (!now.isFile() || now.dev !== s.dev || now.ino !== s.ino) throw safetyViolation(`${path} was replaced since it was listed; refusing to delete it`);
    const sha256 = await heartbeatWhile(sha256File(path), { hashing: s.name });
    await rm(path);
    deleted.push({ name: s.name, bytes: now.size, sha256 });
    reportProgress({ deleted: s.name });
  }
  if (deleted.length) await fsyncDir(dir);
  return {
    dir,
    kept: await keepList(decision.kept.map((s) => ({ name: s.name, bytes: s.check.bytes, sha256: s.check.sha256 }))),
    deleted: await keepList(deleted),
    movedBad: await keepList(movedBad),
    others: others.length,
  };
}
