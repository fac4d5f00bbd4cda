// File moves and copies for repairs: nothing is deleted, every move is recorded with its sha256,
// and each operation can run twice (a retry finds its work done and says so).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { FileMove } from '../workflows/report';
import { safetyViolation } from './failures';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Moves `from` to `to` (same filesystem: a rename). Already moved → the same record again. */
export async function moveRecorded(from: string, to: string): Promise<FileMove> {
  const [source, target] = await Promise.all([exists(from), exists(to)]);
  if (!source && target) return { from, to, sha256: await sha256File(to) };
  if (!source) throw safetyViolation(`cannot move ${from}: it is gone and ${to} does not hold it`);
  if (target) throw safetyViolation(`cannot move ${from} to ${to}: the destination exists; refusing to overwrite`);
  const sha256 = await sha256File(from);
  await mkdir(dirname(to), { recursive: true });
  await rename(from, to);
  return { from, to, sha256 };
}

/** Copies every file under `dirs` of `root` into `destination`, then writes SHA256SUMS (the marker of a whole copy). */
export async function snapshotTree(root: string, dirs: string[], destination: string): Promise<{ destination: string; files: number; bytes: number; sums: string; already: boolean }> {
  const sums = join(destination, 'SHA256SUMS');
  if (await exists(sums)) {
    const lines = (await import('node:fs/promises')).readFile(sums, 'utf8');
    return { destination, files: (await lines).split('\n').filter(Boolean).length, bytes: 0, sums, already: true };
  }
  const lines: string[] = [];
  let bytes = 0;
  for (const dir of dirs) {
    const from = join(root, dir);
    if (!(await exists(from))) continue;
    for (const entry of await readdir(from, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const source = join(entry.parentPath, entry.name);
      const rel = relative(root, source);
      const target = join(destination, rel);
      await mkdir(dirname(target), { recursive: true });
      await copyFile(source, target);
      lines.push(`${await sha256File(target)}  ${rel}`);
      bytes += (await stat(target)).size;
    }
  }
  await writeFile(sums, `${lines.join('\n')}\n`);
  return { destination, files: lines.length, bytes, sums, already: false };
}
