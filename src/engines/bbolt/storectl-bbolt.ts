// bbolt itself as referee: storectl (tools/storectl, Go, go.etcd.io/bbolt v1.4.3) writes test dbs
// with the bbolt library and runs bbolt's own tx.Check on a db, read-only. Our checker
// (src/format/bbolt) is tested against both. Engine code: execa through the one storectl runner.
import { z } from 'zod';
import { storectl } from '../logstore/storectl';

/** What `writeBbolt` asks for: see `storectl bbolt-write`. */
export interface WriteBboltOptions {
  keys: number;
  /** Top-level buckets `bucket-000`…; key i goes to bucket i mod B (default 1). */
  buckets?: number;
  /**
   * Per top bucket also `small` (its first 2 keys: inline while it fits in a quarter page),
   * `nested` (every 4th key), `nested/deeper` (every 16th) and `empty` (inline, no keys).
   */
  nested?: boolean;
  /** Bytes per value (default 100). */
  valueBytes?: number;
  /** About this many values 2 pages longer than valueBytes, so leaves have overflow pages. */
  largeValues?: number;
  seed?: number;
  /** NoFreelistSync, as etcd runs bbolt: no freelist page; else one is persisted. */
  noFreelist?: boolean;
  /** Default 4096. */
  pageSize?: number;
}

const count = z.number().int().nonnegative();
const writeOutput = z.object({
  keys: count,
  /** Keys per bucket path (`bucket-000/nested`), empty buckets included. */
  buckets: z.record(z.string(), count),
  largeValues: count,
  /** `gone-…` twins written then deleted in later transactions, so freed pages exist. */
  deleted: count,
  /** The high-water mark after the last commit. */
  pages: count,
  pageSize: count,
});
export type WrittenBbolt = z.infer<typeof writeOutput>;

/**
 * `storectl bbolt-write`: a new db at `file` (which must not exist), written by bbolt in many
 * transactions and closed cleanly. Keys `key-000000`… with storectl's splitmix values.
 */
export async function writeBbolt(file: string, o: WriteBboltOptions, signal?: AbortSignal): Promise<WrittenBbolt> {
  const opt = (flag: string, v: number | undefined) => (v === undefined ? [] : [flag, String(v)]);
  const args = [
    'bbolt-write', '--file', file, '--keys', String(o.keys),
    ...opt('--buckets', o.buckets), ...opt('--value-bytes', o.valueBytes), ...opt('--large-values', o.largeValues),
    ...opt('--seed', o.seed), ...opt('--page-size', o.pageSize),
    ...(o.nested ? ['--nested'] : []), ...(o.noFreelist ? ['--no-freelist'] : []),
  ];
  return storectl(args, file, writeOutput, signal);
}

const checkOutput = z.object({ opened: z.boolean(), panicked: z.boolean(), errors: z.array(z.string()), truncated: z.boolean() });

/** What bbolt's own check said, in its words. */
export type BboltEngineCheck = z.infer<typeof checkOutput>;

/**
 * bbolt's `tx.Check()` on `file`, opened read-only (nothing is written, not even a lock file; a db
 * a live engine holds is refused after 2 s: `opened` false, errors ["timeout"]). Never throws for
 * a damaged db: an open refusal, check errors, or a panic (bbolt panics on some damage, even in its
 * own goroutines; storectl runs it in a child process) come back as data. `errors` is empty when
 * bbolt says OK; `truncated` when it said more than maxErrors (a cycle makes it repeat forever).
 */
export async function bboltEngineCheck(file: string, opts: { maxErrors?: number; signal?: AbortSignal } = {}): Promise<BboltEngineCheck> {
  const args = ['bbolt-check', '--file', file, ...(opts.maxErrors ? ['--max-errors', String(opts.maxErrors)] : [])];
  return storectl(args, file, checkOutput, opts.signal);
}
