// What the doctor tests share: the doctor run with a check that it changed nothing, and what the
// real engine serves from a store (the yardstick for every verdict).
import assert from 'node:assert/strict';
import { cp, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { doctorLogStore, type LogStoreDiagnosis } from '../../src/engines/logstore/doctor';
import { scanStore, StoreOpenError, type StoreEngine } from '../../src/engines/logstore/storectl';
import { digestOf, fingerprint, fresh, writeStore } from './log-stores';

/** The doctor, asserting it changed nothing in the store. */
export async function doctor(engine: 'leveldb' | 'pebble', dir: string): Promise<LogStoreDiagnosis> {
  const before = await fingerprint(dir);
  const d = await doctorLogStore(engine, dir);
  assert.equal(await fingerprint(dir), before, 'the doctor changed the store');
  assert.deepEqual(JSON.parse(JSON.stringify(d)), d, 'the diagnosis is plain JSON');
  return d;
}

export const codes = (d: LogStoreDiagnosis) => d.findings.filter((f) => f.severity !== 'info').map((f) => f.code);

async function copyOf(dir: string): Promise<string> {
  const to = fresh();
  await cp(dir, to, { recursive: true, verbatimSymlinks: true });
  return to;
}

/** A copy of the store with `file` cut back to `size` bytes: what a truncation repair leaves. */
export async function truncatedCopy(dir: string, file: string, size: number): Promise<string> {
  const copy = await copyOf(dir);
  await truncate(join(copy, file), size);
  return copy;
}

export type Outcome = { keys: number; digest: string } | { error: string };

/** What the real engine serves from (a copy of) `dir`: goleveldb/Pebble via storectl scan, C++ LevelDB via classic-level. */
export async function engineServes(engine: StoreEngine | 'cpp', dir: string): Promise<Outcome> {
  if (engine !== 'cpp') {
    try {
      const { keys, digest } = await scanStore(engine, dir);
      return { keys, digest };
    } catch (err) {
      if (err instanceof StoreOpenError) return { error: err.engineMessage };
      throw err;
    }
  }
  const copy = await copyOf(dir); // classic-level writes at open: never on the store under test
  const db = new ClassicLevel<string, Buffer>(copy, { createIfMissing: false, keyEncoding: 'utf8', valueEncoding: 'buffer' });
  try {
    await db.open();
  } catch (err) {
    return { error: ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message };
  }
  try {
    const pairs: Array<[string, Buffer]> = [];
    for await (const [k, v] of db.iterator()) pairs.push([k, v]);
    return { keys: pairs.length, digest: digestOf(pairs) };
  } finally {
    await db.close();
  }
}

/** A store written by `engine` (writeStore) at a fresh path. */
export async function engineStore(engine: StoreEngine, opts: Parameters<typeof writeStore>[2]): Promise<{ dir: string; keys: number; digest: string }> {
  const dir = fresh();
  return { dir, ...(await writeStore(engine, dir, opts)) };
}
