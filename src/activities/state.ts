// The host's own files for runs: lists too long for a payload (restorable files, moves), kept where
// the steps that need them run. Files are named by the sha256 of their bytes, so writing the same
// list twice is one file, and a list that changed on disk is refused instead of used.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ListRef } from '../workflows/report';

/** How many items a payload carries besides the count. */
export const FIRST_ITEMS = 5;

class StateFileError extends Error {
  override name = 'StateFileError';
}

export function stateDir(): string {
  return process.env.RUNBOOK_STATE_DIR || join(process.cwd(), 'var', 'state');
}

/** Keeps `items` on this host and returns what a payload carries: the count, the first few, the file. */
export async function keepList<T>(items: T[], { always = false } = {}): Promise<ListRef<T>> {
  const bytes = Buffer.from(JSON.stringify(items));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (items.length <= FIRST_ITEMS && !always) return { count: items.length, first: items, sha256 };
  const dir = join(stateDir(), 'lists');
  const file = join(dir, `${sha256}.json`);
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, bytes, { flush: true });
  await rename(tmp, file);
  return { count: items.length, first: items.slice(0, FIRST_ITEMS), file, sha256 };
}

/** The whole list behind `ref`, refused when its bytes are not the ones the plan named. */
export async function readList<T>(ref: ListRef<T>): Promise<T[]> {
  if (!ref.file) return ref.first;
  if (ref.file !== join(stateDir(), 'lists', `${ref.sha256}.json`)) throw new StateFileError(`list file ${ref.file} is not this host's state file for sha256 ${ref.sha256}`);
  const bytes = await readFile(ref.file).catch((err: Error) => {
    throw new StateFileError(`list file ${ref.file} cannot be read (${err.message}); run the diagnosis again`);
  });
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== ref.sha256) throw new StateFileError(`list file ${ref.file} changed since the plan (sha256 ${actual}, planned ${ref.sha256})`);
  const items = JSON.parse(bytes.toString('utf8')) as T[];
  if (!Array.isArray(items) || items.length !== ref.count) throw new StateFileError(`list file ${ref.file} holds ${Array.isArray(items) ? items.length : 'no'} items, planned ${ref.count}`);
  return items;
}
