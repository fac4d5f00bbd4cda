// The real engines as referee: storectl (tools/storectl, Go) opens a store with goleveldb v1.0.0 or
// Pebble v2.1.7 and says whether the engine opens it and what it holds, or runs goleveldb's own
// Recover. The doctor diagnoses in TypeScript; these answers are what its verdicts are checked
// against. Engine code: execa only, no Temporal.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { z } from 'zod';
import { AbortError } from '../../format/logstore/errors';

export type StoreEngine = 'goleveldb' | 'pebble';

export interface StoreScan {
  engine: StoreEngine;
  keys: number;
  digest: string;
}

/** What goleveldb's Recover does with one table file, computed by reading it the way Recover does. */
export interface RecoveredTable {
  file: string;
  /** Entries whose internal key parses (every version and tombstone counts, as in goleveldb). */
  goodKeys: number;
  corruptedKeys: number;
  /** Blocks the table reader refused (a checksum mismatch, a block that does not decode). */
  corruptedBlocks: number;
  /** kept as is; rebuilt with its good keys (the rest is gone); dropped: deleted from the store. */
  action: 'kept' | 'rebuilt' | 'dropped';
}

/**
 * The engine refused to open the store, to iterate it, or to recover it. The message is the
 * engine's own words prefixed with the directory; `corrupted` is the engine's classification
 * (goleveldb `errors.IsCorrupted`, Pebble `ErrCorruption`), false for e.g. a missing store.
 */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError' as const;
  constructor(
    readonly dir: string,
    readonly engineMessage: string,
    readonly corrupted: boolean,
  ) {
    super(`${dir}: ${engineMessage}`);
  }
}

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** STORECTL, else `<repo>/.tools/bin/storectl` (built by `npm test`, `npm start` and `npm run bench`). */
export function storectlPath(): string {
  const path = process.env.STORECTL || `${repoRoot}.tools/bin/storectl`;
  if (!existsSync(path)) {
    throw new Error(`storectl is not built: ${path} does not exist; run npm test or npm start once to build it (from tools/storectl, with Go), or set STORECTL to a storectl binary`);
  }
  return path;
}

const digest = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().nonnegative();
const scanOutput = z.object({ engine: z.enum(['goleveldb', 'pebble']), keys: count, digest });
const writeOutput = z.object({ keys: count, digest });
const recoverOutput = z.object({
  tables: z.array(z.object({ file: z.string(), goodKeys: count, corruptedKeys: count, corruptedBlocks: count, action: z.enum(['kept', 'rebuilt', 'dropped']) })),
});
const errorOutput = z.object({ error: z.string(), corrupted: z.boolean() });

/**
 * Runs storectl; exit 0 gives its JSON checked by `schema`, exit 1 a StoreOpenError, anything else a
 * plain Error. The one runner for every storectl command (the bbolt ones too: engines/bbolt).
 */
export async function storectl<T>(args: string[], dir: string, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
  const bin = storectlPath();
  const r = await execa(bin, args, { reject: false, cancelSignal: signal, maxBuffer: 16 * 1024 * 1024 });
  if (r.isCanceled) throw new AbortError(`storectl ${args[0]} ${dir}`, signal?.reason);
  const json = (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  };
  if (r.exitCode === 0) {
    const parsed = schema.safeParse(json(r.stdout));
    if (parsed.success) return parsed.data;
    throw new Error(`storectl ${args.join(' ')}: unexpected output: ${r.stdout.slice(0, 500)}`);
  }
  if (r.exitCode === 1) {
    const parsed = errorOutput.safeParse(json(r.stdout));
    if (parsed.success) throw new StoreOpenError(dir, parsed.data.error, parsed.data.corrupted);
  }
  // A usage error (exit 2), a crash, a signal: a bug or a broken binary, never a verdict on the store.
  throw new Error(`storectl ${args.join(' ')} failed (${r.exitCode ?? r.signal ?? 'no exit code'}): ${(r.stderr || r.stdout || r.message || '').trim().slice(0, 2000)}`);
}

/**
 * Opens `dir` read-only with the engine (default strictness, the store must exist) and iterates
 * every key. Nothing in `dir` is created or changed, not even a LOCK file. Throws StoreOpenError
 * when the engine refuses to open or iterate it. `ignoreChecksums` (goleveldb) reads with no
 * strictness: the most keys the engine can still decode, not what an application reads.
 */
export async function scanStore(engine: StoreEngine, dir: string, opts: { signal?: AbortSignal; ignoreChecksums?: boolean } = {}): Promise<StoreScan> {
  return storectl(['scan', '--engine', engine, '--dir', dir, ...(opts.ignoreChecksums ? ['--ignore-checksums'] : [])], dir, scanOutput, opts.signal);
}

/**
 * goleveldb's `RecoverFile` on `dir`, IN PLACE: every MANIFEST is ignored, tables are kept, rebuilt
 * or dropped (dropped ones are deleted) and a new MANIFEST written; run it on a copy. `strict` drops
 * a corrupted table instead of rebuilding it. `ignoreChecksums` verifies no block checksums: the
 * tables' goodKeys then count every key that still decodes (a salvage count), but a damaged table
 * whose blocks still decode is reported `kept` and left as it is, so the store may still fail a
 * default-strictness scan afterwards.
 */
export async function recoverStore(dir: string, opts: { strict: boolean; ignoreChecksums?: boolean; signal?: AbortSignal }): Promise<{ tables: RecoveredTable[] }> {
  if (opts.strict && opts.ignoreChecksums) throw new Error('recoverStore: strict and ignoreChecksums exclude each other');
  const args = ['recover', '--dir', dir, ...(opts.strict ? ['--strict'] : []), ...(opts.ignoreChecksums ? ['--ignore-checksums'] : [])];
  return storectl(args, dir, recoverOutput, opts.signal);
}

/** What `writeStore` (test helper) asks for: see `storectl write`. */
export interface WriteStoreOptions {
  keys: number;
  /** About this many table files (0: every key stays in the WAL/journal). */
  tables?: number;
  /** The last keys left only in the WAL/journal, not flushed (with tables ≥ 1). */
  walKeys?: number;
  /** Keys per write batch: one WAL/journal record each (fewer when their values pass 4 MiB). */
  batchKeys?: number;
  valueBytes?: number;
  seed?: number;
  noCompression?: boolean;
  /** Pebble format major version: a number, or 'newest' (WAL-sync chunk headers). */
  pebbleFormat?: number | 'newest';
}

/** `storectl write`: a new store in `dir` (absent or empty) written and closed cleanly by the engine. */
export async function writeStoreWithEngine(engine: StoreEngine, dir: string, o: WriteStoreOptions, signal?: AbortSignal): Promise<{ keys: number; digest: string }> {
  const opt = (flag: string, v: number | string | undefined) => (v === undefined ? [] : [flag, String(v)]);
  const args = [
    'write', '--engine', engine, '--dir', dir, '--keys', String(o.keys),
    ...opt('--tables', o.tables), ...opt('--wal-keys', o.walKeys), ...opt('--batch-keys', o.batchKeys),
    ...opt('--value-bytes', o.valueBytes), ...opt('--seed', o.seed), ...opt('--pebble-format', o.pebbleFormat),
    ...(o.noCompression ? ['--no-compression'] : []),
  ];
  return storectl(args, dir, writeOutput, signal);
}
