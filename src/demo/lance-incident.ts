// Incident 1 (incidents.md section 1, seed 000) made for real: a LanceDB table in a git repository
// whose `*.lance` data files are tracked by git LFS; the newest version references data files the
// working tree has lost while the local LFS store still holds them.
//
//   db/images.lance/_versions/{old,new}.manifest   (new is what Lance reads)
//   db/images.lance/data/*.lance                    (one file per row; `missing` of new's are gone)
//   .git/lfs/objects/aa/bb/<oid>                    (every data file, committed through the LFS filter)
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { chmod, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import type { Data, Field } from 'apache-arrow';
import { execa } from 'execa';
import { lfsObjectRelPath, parseLfsPointer } from '../format/lfs/pointer';

export interface LanceIncidentOptions {
  /** Where to build the repository (created if missing, should be empty). Default: a new temp dir. */
  dir?: string;
  /**
   * Which manifests `_versions/` keeps, and how versions are numbered.
   * - `'seed'`: exactly the seed's, `61.manifest` (old) and `421.manifest` (new), with only their
   *   transaction files (`60-*.txn`, `420-*.txn`). No-op commits pad the numbering; needs
   *   `oldRows <= 61` and `newRows - oldRows <= 360`.
   * - a number n >= 2 (default 2): the old manifest plus the newest n - 1; versions are numbered
   *   naturally (old = `oldRows`, new = `newRows`). `Infinity` keeps every version.
   */
  versions?: 'seed' | number;
  /** Rows in the old version (one data file each). Default 30, or `newRows - missing` if that is smaller. */
  oldRows?: number;
  /** Rows in the newest version (one data file each). Default 386. */
  newRows?: number;
  /** Data files of the newest version (and not of the old one) removed from the working tree. Default 295. */
  missing?: number;
  /** Manifest naming: 'v1' `421.manifest` (the seed's) or 'v2' (zero-padded, reversed). Default 'v1'. */
  scheme?: 'v1' | 'v2';
  /** How many of the missing files get their LFS object overwritten with other bytes of the same size. Default 0. */
  corruptObjects?: number;
  /**
   * Random bytes per row, stored base64 in a `thumbnail` column (the file format packs it back to
   * about this many bytes), so each data file has a real size: the seed's were 678,741 B. Default
   * 0: tiny rows, no such column.
   */
  rowBytes?: number;
  /**
   * One more append ends the newest version: a single data file of about this many bytes, made of
   * rows of 1 MiB of base64 `thumbnail` text stored uncompressed (`lance-encoding:compression:
   * none` on that column), written by one `table.add` of 64-row Arrow record batches (lancedb
   * serializes them whole: about twice the file in memory for a moment). It is always missing (the
   * last of `missingFiles`, one of `missing`); `newRows` still counts the one-row appends, the
   * incident's `newRows` adds the large file's rows. With it, every row gets a `thumbnail` (16
   * bytes when `rowBytes` is 0). Default: no large file.
   */
  largeFileBytes?: number;
}

export interface LanceIncident {
  /** The git repository's top level: `dir` with symlinks resolved, as git reports it. */
  repoRoot: string;
  /** The LanceDB database directory, `<repoRoot>/db`. */
  dbDir: string;
  tableName: 'images';
  /** `<repoRoot>/db/images.lance`. */
  tableDir: string;
  /** `<repoRoot>/.git`. */
  gitDir: string;
  oldVersion: number;
  newVersion: number;
  oldRows: number;
  newRows: number;
  /** Table-relative (`data/….lance`) files the newest version references, sorted. */
  dataFiles: string[];
  /** Table-relative (`data/….lance`) files removed from the working tree, sorted. */
  missingFiles: string[];
  /** The subset of `missingFiles` whose LFS object was corrupted. */
  corruptedFiles: string[];
  /** With `largeFileBytes`: the large data file (table-relative, missing), its size and its rows. */
  largeFile?: { path: string; bytes: number; rows: number };
  /** Milliseconds spent writing the table with lancedb, in git (add, LFS clean, commit), and in total. */
  timings: { lancedbMs: number; gitMs: number; totalMs: number };
  /** Remove the whole repository directory. */
  cleanup(): Promise<void>;
}

const TABLE = 'images';
const SEED_OLD_VERSION = 61;
const SEED_NEW_VERSION = 421;
const U64_MAX = (1n << 64n) - 1n;

export type ImageRow = {
  id: number;
  name: string;
  vector: number[];
  thumbnail?: string;
};

/** The rows the builder writes: row i is `{ id: i, name: 'img-000i.jpg', vector: 8 floats }`. */
export function imageRows(from: number, count: number, rowBytes = 0): ImageRow[] {
  return Array.from({ length: count }, (_, k) => {
    const id = from + k;
    const row: ImageRow = { id, name: `img-${String(id).padStart(4, '0')}.jpg`, vector: Array.from({ length: 8 }, (_, j) => Math.fround(Math.sin(id * 8 + j))) };
    // Random bytes as base64: nothing for the file format to compress away.
    if (rowBytes > 0) row.thumbnail = randomBytes(rowBytes).toString('base64');
    return row;
  });
}

export async function buildLanceIncident(options: LanceIncidentOptions = {}): Promise<LanceIncident> {
  const { newRows = 386, missing = 295, scheme = 'v1', corruptObjects = 0, versions = 2, largeFileBytes } = options;
  const large = largeFileBytes !== undefined;
  if (large && !(Number.isInteger(largeFileBytes) && largeFileBytes > 0)) throw new Error(`largeFileBytes must be a positive integer, got ${largeFileBytes}`);
  const rowBytes = options.rowBytes || (large ? 16 : 0); // the large file's rows need the column in every row
  const oldRows = options.oldRows ?? Math.min(30, newRows - missing);
  const appended = newRows - oldRows;
  const appends = appended + (large ? 1 : 0); // commits that add data files only the newest version has
  if (!Number.isInteger(oldRows) || oldRows < 1) throw new Error(`oldRows must be a positive integer, got ${oldRows}`);
  if (!Number.isInteger(newRows) || appended < 1) throw new Error(`newRows (${newRows}) must be an integer larger than oldRows (${oldRows})`);
  if (!Number.isInteger(missing) || missing < 1 || missing > appends) throw new Error(`missing must be 1..${appends} (the data files only the newest version has), got ${missing}`);
  if (!Number.isInteger(corruptObjects) || corruptObjects < 0 || corruptObjects > missing) throw new Error(`corruptObjects must be 0..${missing}, got ${corruptObjects}`);
  if (versions === 'seed' && (oldRows > SEED_OLD_VERSION || SEED_OLD_VERSION + appends > SEED_NEW_VERSION)) {
    throw new Error(`versions 'seed' (61 -> 421) needs oldRows <= 61 and newRows - oldRows <= 360`);
  }
  if (versions !== 'seed' && !(versions >= 2)) throw new Error(`versions must be 'seed' or a number >= 2, got ${versions}`);

  const started = performance.now();
  let gitMs = 0;
  let lancedbMs = 0;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'lance-incident-')));
  await mkdir(dir, { recursive: true });
  const repoRoot = await realpath(dir); // what git rev-parse --show-toplevel answers
  const cleanup = () => rm(repoRoot, { recursive: true, force: true });
  const git = async (...args: string[]) => {
    const t = performance.now();
    const result = await execa('git', args, { cwd: repoRoot, env: { GIT_TERMINAL_PROMPT: '0' } });
    gitMs += performance.now() - t;
    return result.stdout;
  };

  try {
    // The repository, with LFS tracking *.lance before any data exists.
    await git('init', '--quiet', '-b', 'main');
    await git('config', 'user.name', 'Lance Incident');
    await git('config', 'user.email', 'lance-incident@example.invalid');
    await git('config', 'commit.gpgsign', 'false');
    await git('lfs', 'install', '--local');
    await writeFile(join(repoRoot, '.gitattributes'), '*.lance filter=lfs diff=lfs merge=lfs -text\n');

    const dbDir = join(repoRoot, 'db');
    const tableDir = join(dbDir, `${TABLE}.lance`);
    const dataDir = join(tableDir, 'data');
    const listData = async () => (await readdir(dataDir)).filter((f) => f.endsWith('.lance')).sort();

    // Old version: one data file per row.
    let t = performance.now();
    const db = await lancedb.connect(dbDir);
    const table = await db.createTable(TABLE, large ? verbatimThumbnails(imageRows(0, 1, rowBytes)) : imageRows(0, 1, rowBytes), {
      storageOptions: { new_table_enable_v2_manifest_paths: scheme === 'v2' ? 'true' : 'false' },
    });
    for (let id = 1; id < oldRows; id++) await table.add(imageRows(id, 1, rowBytes));
    // No-op commits (a delete matching nothing) only move the version number.
    const padTo = async (version: number) => {
      while ((await table.version()) < version) await table.delete('id < 0');
    };
    if (versions === 'seed') await padTo(SEED_OLD_VERSION);
    const oldVersion = await table.version();
    const oldFiles = new Set(await listData());
    lancedbMs += performance.now() - t;

    await pruneVersions(tableDir, [oldVersion], 1);
    await git('add', '-A');
    await git('commit', '--quiet', '-m', `images: ${oldRows} rows (version ${oldVersion})`);

    // Newest version: one append (one data file) per row, ending on an append like the seed.
    t = performance.now();
    if (versions === 'seed') await padTo(SEED_NEW_VERSION - appends);
    for (let id = oldRows; id < newRows; id++) await table.add(imageRows(id, 1, rowBytes));
    let largeName: string | undefined;
    let largeRows = 0;
    let largeBytes = 0;
    if (large) {
      const before = new Set(await listData());
      largeRows = await addLargeFile(table, newRows, largeFileBytes);
      const made = (await listData()).filter((f) => !before.has(f));
      if (made.length !== 1) throw new Error(`largeFileBytes: one add of ${largeRows} rows wrote ${made.length} data files, expected 1`);
      largeName = made[0]!;
      largeBytes = (await stat(join(dataDir, largeName))).size;
    }
    const newVersion = await table.version();
    table.close();
    db.close();
    const allFiles = await listData();
    lancedbMs += performance.now() - t;
    if (allFiles.length !== newRows + (large ? 1 : 0)) throw new Error(`expected ${newRows + (large ? 1 : 0)} data files, lancedb wrote ${allFiles.length}`);

    const keepNewest = versions === 'seed' ? 1 : versions - 1;
    await pruneVersions(tableDir, [oldVersion], keepNewest);
    await git('add', '-A');
    await git('commit', '--quiet', '-m', `images: ${newRows} rows (version ${newVersion})`);

    // The incident: the working tree loses data files only the newest version needs.
    const onlyNew = allFiles.filter((f) => !oldFiles.has(f));
    const missingNames = large ? [...onlyNew.filter((f) => f !== largeName).slice(0, missing - 1), largeName!] : onlyNew.slice(0, missing);
    for (const f of missingNames) await rm(join(dataDir, f));
    const missingFiles = missingNames.map((f) => `data/${f}`);

    // Corrupt some LFS objects: every byte inverted, same size.
    const gitDir = join(repoRoot, '.git');
    const corruptedFiles = missingFiles.slice(0, corruptObjects);
    for (const file of corruptedFiles) {
      const pointer = parseLfsPointer(await git('cat-file', 'blob', `HEAD:db/${TABLE}.lance/${file}`));
      if (!pointer) throw new Error(`HEAD:${file} is not an LFS pointer: is git-lfs installed?`);
      const objectPath = join(gitDir, lfsObjectRelPath(pointer.oid));
      const bytes = await readFile(objectPath);
      for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i]! ^ 0xff;
      await chmod(objectPath, 0o644);
      await writeFile(objectPath, bytes);
    }

    await assertIncident(dbDir, { oldVersion, newVersion, oldRows, newRows: newRows + largeRows });

    return {
      repoRoot,
      dbDir,
      tableName: TABLE,
      tableDir,
      gitDir,
      oldVersion,
      newVersion,
      oldRows,
      newRows: newRows + largeRows,
      dataFiles: allFiles.map((f) => `data/${f}`),
      missingFiles,
      corruptedFiles,
      ...(largeName && { largeFile: { path: `data/${largeName}`, bytes: largeBytes, rows: largeRows } }),
      timings: { lancedbMs: Math.round(lancedbMs), gitMs: Math.round(gitMs), totalMs: Math.round(performance.now() - started) },
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** The apache-arrow lancedb itself loads (CommonJS): its schemas' types are this module's classes. */
const lancedbArrow = () => createRequire(import.meta.url)('apache-arrow') as typeof import('apache-arrow');

/** Text per row of the large file: 1 MiB of base64 of random bytes. */
const LARGE_ROW_TEXT = 1024 * 1024;
/** Rows per Arrow record batch of the large file: 64 MiB of text, far below Utf8's 2 GiB offsets. */
const LARGE_BATCH_ROWS = 64;

/**
 * These rows as the Arrow table lancedb infers for them, with `thumbnail` stored as written (Lance's
 * `lance-encoding:compression: none`, which a table created from it keeps for every later append):
 * the large file's size is its text's, with no CPU spent compressing base64 back to its raw bytes.
 */
function verbatimThumbnails(rows: ImageRow[]) {
  const { Field, RecordBatch, Schema, Table: ArrowTable } = lancedbArrow();
  const inferred = lancedb.makeArrowTable(rows);
  const fields = inferred.schema.fields.map((f) =>
    f.name === 'thumbnail' ? new Field(f.name, f.type, f.nullable, new Map([...f.metadata, ['lance-encoding:compression', 'none']])) : f,
  );
  const schema = new Schema(fields, inferred.schema.metadata);
  return new ArrowTable(schema, inferred.batches.map((b) => new RecordBatch(schema, b.data)));
}

/**
 * Appends rows `from…` of 1 MiB `thumbnail` text each, about `bytes` in all, in one `table.add`: the
 * record batches are built column by column from the table's schema, every batch's thumbnails
 * sharing one 64 MiB buffer of base64 (random bytes, made once: nothing to compress, and no string
 * per row), so Lance writes them as one data file. Returns the rows.
 */
async function addLargeFile(table: lancedb.Table, from: number, bytes: number): Promise<number> {
  const { FixedSizeList, Float32, RecordBatch, Struct, Table: ArrowTable, Utf8, makeData, vectorFromArray } = lancedbArrow();
  const rows = Math.ceil(bytes / LARGE_ROW_TEXT);
  const schema = await table.schema();
  const fields = schema.fields as Field[];
  const text = Buffer.from(randomBytes((LARGE_BATCH_ROWS * LARGE_ROW_TEXT * 3) / 4).toString('base64'), 'latin1');
  const data = new Uint8Array(text.buffer, text.byteOffset, text.length);
  const batches: InstanceType<typeof RecordBatch>[] = [];
  for (let start = 0; start < rows; start += LARGE_BATCH_ROWS) {
    const n = Math.min(LARGE_BATCH_ROWS, rows - start);
    const plain = imageRows(from + start, n); // id, name, vector
    const children = fields.map((field): Data => {
      if (field.name === 'thumbnail') {
        const valueOffsets = Int32Array.from({ length: n + 1 }, (_, i) => i * LARGE_ROW_TEXT);
        return makeData({ type: new Utf8(), length: n, nullCount: 0, valueOffsets, data });
      }
      const values = plain.map((r) => r[field.name as keyof ImageRow]);
      if (field.type instanceof FixedSizeList) {
        const flat = Float32Array.from((values as number[][]).flat());
        const child = makeData({ type: new Float32(), length: flat.length, nullCount: 0, data: flat });
        return makeData({ type: field.type, length: n, nullCount: 0, child });
      }
      return vectorFromArray(values, field.type).data[0]!;
    });
    batches.push(new RecordBatch(schema, makeData({ type: new Struct(fields), length: n, nullCount: 0, children })));
  }
  await table.add(new ArrowTable(schema, batches));
  return rows;
}

/** The version a manifest file name stands for, in either naming scheme. */
export function manifestVersion(name: string): number | undefined {
  const m = /^(\d+)\.manifest$/.exec(name);
  if (!m) return undefined;
  return m[1]!.length === 20 ? Number(U64_MAX - BigInt(m[1]!)) : Number(m[1]);
}

/**
 * Keep in `_versions/` only the `keep` versions and the newest `newest` ones, and in `_transactions/`
 * only those versions' transaction files (`{version - 1}-{uuid}.txn`), like the seed's table.
 */
async function pruneVersions(tableDir: string, keep: number[], newest: number): Promise<void> {
  const versionsDir = join(tableDir, '_versions');
  const all = (await readdir(versionsDir)).flatMap((f) => {
    const v = manifestVersion(f);
    return v === undefined ? [] : [{ f, v }];
  });
  all.sort((a, b) => b.v - a.v);
  const kept = new Set([...keep, ...all.slice(0, newest).map((x) => x.v)]);
  for (const { f, v } of all) if (!kept.has(v)) await rm(join(versionsDir, f));
  const txnDir = join(tableDir, '_transactions');
  for (const f of await readdir(txnDir)) {
    const readVersion = Number(/^(\d+)-/.exec(f)?.[1]);
    if (!kept.has(readVersion + 1)) await rm(join(txnDir, f));
  }
}

/** The seed's symptoms, checked with lancedb itself: the count comes from the manifest, a full scan fails. */
async function assertIncident(dbDir: string, want: { oldVersion: number; newVersion: number; oldRows: number; newRows: number }): Promise<void> {
  const db = await lancedb.connect(dbDir);
  const table = await db.openTable(TABLE);
  try {
    const version = await table.version();
    if (version !== want.newVersion) throw new Error(`incident: lancedb opens version ${version}, expected ${want.newVersion}`);
    const count = await table.countRows();
    if (count !== want.newRows) throw new Error(`incident: countRows() = ${count}, expected ${want.newRows}`);
    const scan = await table.query().toArray().then(
      (rows) => new Error(`incident: a full scan returned ${rows.length} rows instead of failing`),
      (err: Error) => err,
    );
    if (!/Not found/.test(scan.message) || !scan.message.includes('data/')) throw new Error(`incident: the full scan did not fail with "Not found … data/…": ${scan.message}`);
    await table.checkout(want.oldVersion);
    const oldRows = (await table.query().toArray()).length;
    if (oldRows !== want.oldRows) throw new Error(`incident: version ${want.oldVersion} scans ${oldRows} rows, expected ${want.oldRows}`);
  } finally {
    table.close();
    db.close();
  }
}
