// File moves and copies for repairs: nothing is deleted, every move is recorded with its sha256,
// each operation can run twice (a retry finds its work done and says so), and what it reports done
// is durable (fsynced files and directories). Nothing is written through a symlink it did not make.
import { constants } from 'node:fs';
import { appendFile, copyFile, lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fsyncDir, fsyncPath } from '../engines/lfs/file-io';
import { hashFile } from '../engines/lfs/store';
import type { FileMove } from '../workflows/report';
import { safetyViolation } from './failures';
import { cancellationSignal, heartbeatWhile, reportProgress } from './progress';

export async function sha256File(path: string): Promise<string> {
  return (await hashFile(path, { signal: cancellationSignal() })).sha256;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Anything at `path` itself, a symlink (dangling or not) included. */
async function entryExists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}

/** A safety violation if `path` is a symlink: it is never read or written through. */
async function refuseSymlink(path: string, what: string): Promise<void> {
  const info = await lstat(path).catch(() => undefined);
  if (info?.isSymbolicLink()) throw safetyViolation(`${what} ${path} is a symlink (to ${await readlink(path).catch(() => '?')}); refusing to write through it`);
}

/** Where a quarantine folder lists its moves, one JSON line each, written before the move. */
export const MOVES_JOURNAL = 'MOVES.jsonl';

/**
 * Moves `from` to `to` (same filesystem: a rename). Already moved → the same record again. With a
 * journal, the move is appended (and flushed) before the rename, so an undo can find it from disk
 * even when the step died between the two. Both directories are fsynced after the rename, so a move
 * reported done survives a crash. A symlink at `to` (even a dangling one) counts as taken, and
 * `to`'s directory may not be a symlink: the file never lands somewhere else.
 */
export async function moveRecorded(from: string, to: string, journal?: string): Promise<FileMove> {
  const [source, target] = await Promise.all([exists(from), entryExists(to)]);
  if (!source && target && !(await lstat(to)).isSymbolicLink()) return { from, to, sha256: await sha256File(to) };
  if (!source && !target) throw safetyViolation(`cannot move ${from}: it is gone and ${to} does not hold it`);
  if (target) throw safetyViolation(`cannot move ${from} to ${to}: the destination exists; refusing to overwrite`);
  const move = { from, to, sha256: await sha256File(from) };
  await mkdir(dirname(to), { recursive: true });
  await refuseSymlink(dirname(to), 'the destination directory');
  if (journal) await appendFile(journal, `${JSON.stringify(move)}\n`, { flush: true });
  await rename(from, to);
  await Promise.all([fsyncDir(dirname(from)), fsyncDir(dirname(to))]);
  return move;
}

/** The moves a quarantine folder's journal records (none if it has no journal yet). */
export async function readJournal(journal: string): Promise<FileMove[]> {
  const text = await readFile(journal, 'utf8').catch(() => '');
  // A line torn by a crash during the append was never followed by its rename.
  return text.split('\n').flatMap((line) => {
    try {
      return line ? [JSON.parse(line) as FileMove] : [];
    } catch {
      return [];
    }
  });
}

/**
 * `mkdir -p dir`, adding to `entries` the directories to fsync: `dir` and its parents up to `top`
 * (an earlier attempt may have made them without syncing), or up to the parent of the first one
 * made here when that is higher.
 */
async function makeDirs(dir: string, top: string, entries: Set<string>): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  const stop = first && first.length < top.length ? dirname(first) : top;
  for (let d = dir; ; d = dirname(d)) {
    entries.add(d);
    if (d.length <= stop.length || d === dirname(d)) break;
  }
}

/** Where SHA256SUMS is written before it is renamed into place: a retry starts it again. */
const SUMS_PARTIAL = '.SHA256SUMS.partial';

/**
 * Copies every file under `dirs` of `root` into `destination`, then writes SHA256SUMS (the marker
 * of a whole copy). Heartbeats per file; a retry copies again what had no SHA256SUMS yet. The
 * copies and their directories are fsynced before SHA256SUMS is written; it is written to a temp
 * file, fsynced and renamed into place, so it exists only whole and only over durable copies.
 */
export async function snapshotTree(root: string, dirs: string[], destination: string): Promise<{ destination: string; files: number; bytes: number; sums: string; already: boolean }> {
  const sums = join(destination, 'SHA256SUMS');
  await refuseSymlink(sums, 'the snapshot\'s');
  if (await exists(sums)) {
    const lines = (await readFile(sums, 'utf8')).split('\n').filter(Boolean);
    return { destination, files: lines.length, bytes: 0, sums, already: true };
  }
  const signal = cancellationSignal();
  const lines: string[] = [];
  const made = new Set<string>();
  let bytes = 0;
  for (const dir of dirs) {
    const from = join(root, dir);
    if (!(await exists(from))) continue;
    for (const entry of await readdir(from, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      signal?.throwIfAborted();
      const source = join(entry.parentPath, entry.name);
      const rel = relative(root, source);
      const target = join(destination, rel);
      await makeDirs(dirname(target), dirname(destination), made);
      // A copy left by an earlier attempt is ours; rm removes a symlink itself, and COPYFILE_EXCL never follows one.
      await rm(target, { force: true });
      await copyFile(source, target, constants.COPYFILE_EXCL);
      await fsyncPath(target);
      const { sha256, bytes: size } = await hashFile(target, { signal });
      lines.push(`${sha256}  ${rel}`);
      bytes += size;
      reportProgress({ files: lines.length, bytes });
    }
  }
  await makeDirs(destination, dirname(destination), made);
  await Promise.all([...made].map(fsyncDir));
  const partial = join(destination, SUMS_PARTIAL);
  await rm(partial, { force: true });
  await writeFile(partial, `${lines.join('\n')}\n`, { flag: 'wx', flush: true });
  await rename(partial, sums);
  await fsyncDir(destination);
  return { destination, files: lines.length, bytes, sums, already: false };
}

/** The SHA256SUMS of a snapshotTree copy: relative path → sha256. */
export async function readSums(destination: string): Promise<Map<string, string>> {
  const text = await readFile(join(destination, 'SHA256SUMS'), 'utf8');
  return new Map(text.split('\n').filter(Boolean).map((line) => {
    const [sha256, rel] = [line.slice(0, 64), line.slice(66)];
    return [rel, sha256] as const;
  }));
}

/**
 * snapshotTree of all of `dir`, then proven: each source file hashed again must match its line, so
 * the copy holds the bytes `dir` has after the copy (a writer still at work is caught).
 */
export async function copyVerified(dir: string, destination: string) {
  const signal = cancellationSignal();
  const copied = await heartbeatWhile(snapshotTree(dir, ['.'], destination), { snapshot: destination });
  const sums = await readSums(destination);
  let bytes = 0;
  for (const [rel, sha256] of sums) {
    signal?.throwIfAborted();
    const source = join(dir, rel);
    const now = await sha256File(source);
    if (now !== sha256) throw safetyViolation(`${source} changed during the snapshot (sha256 ${now}, copied ${sha256}): is the service really stopped?`);
    bytes += (await lstat(source)).size;
    reportProgress({ verified: rel });
  }
  return { ...copied, verified: sums.size, verifiedBytes: bytes };
}
