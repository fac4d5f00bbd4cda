// File moves and copies for repairs: nothing is deleted, every move is recorded with its sha256,
// and each operation can run twice (a retry finds its work done and says so).
import { appendFile, copyFile, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { hashFile } from '../engines/lfs/store';
import type { FileMove } from '../workflows/report';
import { safetyViolation } from './failures';
import { cancellationSignal, reportProgress } from './progress';

export async function sha256File(path: string): Promise<string> {
  return (await hashFile(path, { signal: cancellationSignal() })).sha256;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Where a quarantine folder lists its moves, one JSON line each, written before the move. */
export const MOVES_JOURNAL = 'MOVES.jsonl';

/**
 * Moves `from` to `to` (same filesystem: a rename). Already moved → the same record again. With a
 * journal, the move is appended (and flushed) before the rename, so an undo can find it from disk
 * even when the step died between the two.
 */
export async function moveRecorded(from: string, to: string, journal?: string): Promise<FileMove> {
  const [source, target] = await Promise.all([exists(from), exists(to)]);
  if (!source && target) return { from, to, sha256: await sha256File(to) };
  if (!source) throw safetyViolation(`cannot move ${from}: it is gone and ${to} does not hold it`);
  if (target) throw safetyViolation(`cannot move ${from} to ${to}: the destination exists; refusing to overwrite`);
  const move = { from, to, sha256: await sha256File(from) };
  await mkdir(dirname(to), { recursive: true });
  if (journal) await appendFile(journal, `${JSON.stringify(move)}\n`, { flush: true });
  await rename(from, to);
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
 * Copies every file under `dirs` of `root` into `destination`, then writes SHA256SUMS (the marker
 * of a whole copy). Heartbeats per file; a retry copies again what had no SHA256SUMS yet.
 */
export async function snapshotTree(root: string, dirs: string[], destination: string): Promise<{ destination: string; files: number; bytes: number; sums: string; already: boolean }> {
  const sums = join(destination, 'SHA256SUMS');
  if (await exists(sums)) {
    const lines = (await readFile(sums, 'utf8')).split('\n').filter(Boolean);
    return { destination, files: lines.length, bytes: 0, sums, already: true };
  }
  const signal = cancellationSignal();
  const lines: string[] = [];
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
      await mkdir(dirname(target), { recursive: true });
      await copyFile(source, target);
      const { sha256, bytes: size } = await hashFile(target, { signal });
      lines.push(`${sha256}  ${rel}`);
      bytes += size;
      reportProgress({ files: lines.length, bytes });
    }
  }
  await writeFile(sums, `${lines.join('\n')}\n`, { flush: true });
  return { destination, files: lines.length, bytes, sums, already: false };
}
