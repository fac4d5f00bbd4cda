// The copy engine's tests: objects written under `<dir>/objects/<sha256>`, the pointer git has at
// HEAD for a file of the incident's table, and the temp copies left in a folder.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { LanceIncident } from '../../src/demo/lance-incident';
import { parseLfsPointer, type LfsPointer } from '../../src/format/lfs/pointer';

export const git = async (cwd: string, ...args: string[]) => (await execa('git', args, { cwd })).stdout;

/** Repo-relative path of a table-relative file. */
export const repoPath = (_inc: LanceIncident, file: string) => `db/images.lance/${file}`;

/** The pointer git has at HEAD for a table-relative file, read with git itself. */
export async function headPointer(inc: LanceIncident, file: string): Promise<LfsPointer> {
  const pointer = parseLfsPointer(await git(inc.repoRoot, 'cat-file', 'blob', `HEAD:${repoPath(inc, file)}`));
  assert.ok(pointer, `HEAD:${file} is a pointer`);
  return pointer;
}

export async function tempFilesIn(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((f) => f.includes('.restore-tmp-'));
}

/** `bytes` stored as a verified object under `<dir>/objects/<sha256>`. */
export async function writeObject(dir: string, bytes: Buffer): Promise<{ path: string; oid: string; size: number }> {
  const oid = createHash('sha256').update(bytes).digest('hex');
  const path = join(dir, 'objects', oid);
  await mkdir(join(dir, 'objects'), { recursive: true });
  await writeFile(path, bytes);
  return { path, oid, size: bytes.length };
}
