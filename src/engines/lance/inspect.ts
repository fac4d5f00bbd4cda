// Read-only inspection of a Lance table directory: every version in `_versions/`, and for each the
// files it needs (data, deletion, index folders) checked on disk. A version is usable only if all of
// them are there with their real content (incident 1: the newest manifest pointed at data files that
// were LFS pointers or absent). Manifest paths are untrusted: every one passes resolveInsideTable.
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { type LanceManifest, type ManifestNamingScheme, VERSIONS_DIR, manifestFileName, parseManifest, parseManifestName } from '../../format/lance/index';
import { LanceTableError, UnsafePathError } from './errors';

export { LanceTableError, UnsafePathError, isLanceTableError, isUnsafePathError } from './errors';

/** First line of a git-LFS pointer file (git-lfs docs/spec.md). Pointer files are under 1024 bytes. */
export const LFS_POINTER_PREFIX = 'version https://git-lfs.github.com/spec/v1';
const LFS_POINTER_MAX = 1024;

/** Reader feature flags this tool knows (formats.md: 1 … 256). Others mean Lance may refuse the table. */
const KNOWN_READER_FLAGS = 0x1ff;

export interface WrongSize {
  path: string;
  expected: number;
  actual: number;
}

export interface VersionInspection {
  version: number;
  /** Table-relative manifest path, e.g. `_versions/421.manifest`. */
  file: string;
  /** Rows `countRows()` answers for this version (physicalRows - deletedRows); 0 if unreadable. */
  rows: number;
  physicalRows: number;
  deletedRows: number;
  /** Data file references in this version. */
  dataFiles: number;
  /** No missing file, no pointer, no wrong size, every index folder present, nothing unverifiable, manifest readable. */
  complete: boolean;
  /** Table-relative paths this version needs that are absent: `data/…`, `_deletions/…`, `_indices/<uuid>`. */
  missing: string[];
  /** Files present but holding a git-LFS pointer text instead of their content. */
  pointers: string[];
  /** Data files whose size differs from the size the manifest records (pointers are not repeated here). */
  wrongSize: WrongSize[];
  /** Table-relative transaction file, e.g. `_transactions/420-<uuid>.txn`, when the manifest names one. */
  transactionFile?: string;
  /** The manifest names a transaction file that is absent. Lance reads the version without it. */
  transactionMissing: boolean;
  /** Index folders this version references, `_indices/<uuid>`. */
  indices: string[];
  /** Files the manifest places under another base path (shallow clone, import): not checked here. */
  external: string[];
  /** Set when the manifest itself cannot be parsed: the reason. Such a version is never complete. */
  unreadable?: string;
}

export interface ReferencedFile {
  /** Table-relative: `data/…` or `_deletions/…`. */
  path: string;
  kind: 'data' | 'deletion';
  /** Size a manifest records; undefined when unknown (deletion files, or recorded as 0). */
  expectedSize?: number;
  /** Size on disk, when present. */
  actualSize?: number;
  status: 'ok' | 'missing' | 'pointer' | 'wrong-size';
}

export interface InspectionFinding {
  code: 'MANIFEST_UNREADABLE' | 'MANIFEST_VERSION_MISMATCH' | 'DUPLICATE_VERSION' | 'TRANSACTION_FILES_MISSING' | 'EXTERNAL_FILES' | 'UNKNOWN_FEATURE_FLAGS';
  message: string;
  /** Table-relative file the finding is about, when there is one. */
  file?: string;
}

export interface TableInspection {
  /** The directory inspected, as given. */
  tableDir: string;
  scheme: ManifestNamingScheme;
  /** Every version with a manifest in `_versions/`, ascending. */
  versions: VersionInspection[];
  /** The highest version: the one Lance opens. */
  currentVersion: number;
  /** The highest complete version, or null if none is. */
  latestCompleteVersion: number | null;
  /** Files under `data/` (table-relative) that no readable version references. */
  orphans: string[];
  /** Union of the data and deletion files of all readable versions, sorted by path. */
  referencedFiles: ReferencedFile[];
  findings: InspectionFinding[];
}

type FileState = { kind: 'missing' } | { kind: 'dir' } | { kind: 'file'; size: number; pointer: boolean };

/**
 * Inspects the Lance table at `tableDir` without changing anything. Throws LanceTableError when
 * `_versions/` is absent, holds no manifest or mixes naming schemes, and UnsafePathError when a
 * manifest names a path outside the table. An unparsable manifest becomes a finding and a version
 * with `unreadable` set.
 */
export async function inspectTable(tableDir: string): Promise<TableInspection> {
  const versionsDir = join(tableDir, VERSIONS_DIR);
  let names: string[];
  try {
    names = await readdir(versionsDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new LanceTableError(versionsDir, 'no such directory: not a Lance table (or the wrong path)');
    throw err;
  }

  const findings: InspectionFinding[] = [];
  const manifests = new Map<number, { name: string; scheme: ManifestNamingScheme }>();
  const schemes = new Map<ManifestNamingScheme, string>();
  for (const name of names.sort()) {
    const parsed = parseManifestName(name);
    if (!parsed) continue;
    if (!schemes.has(parsed.scheme)) schemes.set(parsed.scheme, name);
    const seen = manifests.get(parsed.version);
    if (seen) {
      // Two names for one version (`1.manifest` and `01.manifest`): keep the one lance writes.
      const keep = manifestFileName(parsed.version, parsed.scheme) === name ? name : seen.name;
      findings.push({ code: 'DUPLICATE_VERSION', message: `version ${parsed.version} has two manifests, ${seen.name} and ${name}; using ${keep}`, file: `${VERSIONS_DIR}/${name}` });
      if (keep === seen.name) continue;
    }
    manifests.set(parsed.version, { name, scheme: parsed.scheme });
  }
  if (schemes.size > 1) {
    throw new LanceTableError(versionsDir, `found both manifest naming schemes (V1 e.g. ${schemes.get('v1')}, V2 e.g. ${schemes.get('v2')}); Lance refuses such a table`);
  }
  if (manifests.size === 0) throw new LanceTableError(versionsDir, 'no manifest (*.manifest) in it: Lance cannot open this table');
  const scheme = [...schemes.keys()][0]!;

  const root = realpathSync(tableDir);
  const states = new Map<string, Promise<FileState>>();
  /** Checks `rel` (table-relative) is inside the table, then stats it once per distinct path. */
  const probe = (rel: string, source: string): Promise<FileState> => {
    let state = states.get(rel);
    if (!state) {
      const abs = resolveIn(root, rel, source);
      state = probeFile(abs);
      states.set(rel, state);
    }
    return state;
  };

  const ordered = [...manifests.entries()].sort(([a], [b]) => a - b);
  type Read = { version: number; file: string; manifest?: LanceManifest; error?: string };
  const read = await mapLimit(ordered, 16, async ([version, { name }]): Promise<Read> => {
    const file = `${VERSIONS_DIR}/${name}`;
    const bytes = await readFile(join(versionsDir, name));
    try {
      return { version, file, manifest: parseManifest(bytes, file) };
    } catch (err) {
      const isPointer = Buffer.from(bytes.subarray(0, LFS_POINTER_PREFIX.length)).toString('latin1') === LFS_POINTER_PREFIX;
      const reason = isPointer ? 'the manifest is a git-LFS pointer, not its content' : (err as Error).message;
      return { version, file, error: reason };
    }
  });

  const versions: VersionInspection[] = [];
  const referenced = new Map<string, ReferencedFile>();
  const noTransaction: number[] = [];
  for (const entry of read) {
    if (entry.error !== undefined) {
      findings.push({ code: 'MANIFEST_UNREADABLE', message: `version ${entry.version}: ${entry.error}`, file: entry.file });
      versions.push({
        version: entry.version, file: entry.file, rows: 0, physicalRows: 0, deletedRows: 0, dataFiles: 0, complete: false,
        missing: [], pointers: [], wrongSize: [], transactionMissing: false, indices: [], external: [], unreadable: entry.error,
      });
      continue;
    }
    const v = await inspectVersion(entry.version, entry.file, join(tableDir, entry.file), entry.manifest!, probe, referenced);
    if (entry.manifest!.version !== entry.version) {
      findings.push({ code: 'MANIFEST_VERSION_MISMATCH', message: `${entry.file} holds version ${entry.manifest!.version}`, file: entry.file });
    }
    if (entry.manifest!.readerFeatureFlags & ~KNOWN_READER_FLAGS) {
      findings.push({ code: 'UNKNOWN_FEATURE_FLAGS', message: `version ${entry.version} sets reader feature flags ${entry.manifest!.readerFeatureFlags}, some unknown to this tool`, file: entry.file });
    }
    if (v.external.length) {
      findings.push({ code: 'EXTERNAL_FILES', message: `version ${entry.version} has ${v.external.length} files under other base paths, not checked; treated as incomplete`, file: entry.file });
    }
    if (v.transactionMissing) noTransaction.push(v.version);
    versions.push(v);
  }
  if (noTransaction.length) {
    findings.push({ code: 'TRANSACTION_FILES_MISSING', message: `the transaction files of versions ${noTransaction.join(', ')} are absent (Lance can read these versions without them)` });
  }

  const referencedFiles = [...referenced.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const orphans = (await listFiles(join(tableDir, 'data'))).map((p) => `data/${p}`).filter((p) => !referenced.has(p)).sort();
  const complete = versions.filter((v) => v.complete);
  return {
    tableDir,
    scheme,
    versions,
    currentVersion: ordered[ordered.length - 1]![0],
    latestCompleteVersion: complete.length ? complete[complete.length - 1]!.version : null,
    orphans,
    referencedFiles,
    findings,
  };
}

async function inspectVersion(
  version: number,
  file: string,
  /** The manifest's path for error messages. */
  source: string,
  manifest: LanceManifest,
  probe: (rel: string, source: string) => Promise<FileState>,
  referenced: Map<string, ReferencedFile>,
): Promise<VersionInspection> {
  const missing: string[] = [];
  const pointers: string[] = [];
  const wrongSize: WrongSize[] = [];
  const external: string[] = [];
  let dataFiles = 0;

  const check = async (rel: string, kind: ReferencedFile['kind'], expectedSize: number | undefined) => {
    const state = await probe(rel, source);
    let status: ReferencedFile['status'] = 'ok';
    if (state.kind !== 'file') {
      status = 'missing';
      missing.push(rel);
    } else if (state.pointer) {
      status = 'pointer';
      pointers.push(rel);
    } else if (expectedSize !== undefined && state.size !== expectedSize) {
      status = 'wrong-size';
      wrongSize.push({ path: rel, expected: expectedSize, actual: state.size });
    }
    if (!referenced.has(rel)) {
      referenced.set(rel, {
        path: rel,
        kind,
        ...(expectedSize !== undefined && { expectedSize }),
        ...(state.kind === 'file' && { actualSize: state.size }),
        status,
      });
    }
  };

  for (const fragment of manifest.fragments) {
    for (const data of fragment.files) {
      dataFiles++;
      checkManifestPath(data.path, source);
      const rel = `data/${data.path}`;
      if (data.baseId !== undefined) external.push(`base ${data.baseId}: ${rel}`);
      else await check(rel, 'data', data.sizeBytes);
    }
    const deletion = fragment.deletionFile;
    if (deletion) {
      if (deletion.baseId !== undefined) external.push(`base ${deletion.baseId}: ${deletion.path}`);
      else await check(deletion.path, 'deletion', undefined);
    }
  }

  const indices: string[] = [];
  for (const index of manifest.indices) {
    const rel = `_indices/${index.uuid}`;
    indices.push(rel);
    if (index.baseId !== undefined) external.push(`base ${index.baseId}: ${rel}`);
    else if ((await probe(rel, source)).kind !== 'dir') missing.push(rel);
  }

  let transactionFile: string | undefined;
  let transactionMissing = false;
  if (manifest.transactionFile !== undefined) {
    checkManifestPath(manifest.transactionFile, source);
    transactionFile = `_transactions/${manifest.transactionFile}`;
    transactionMissing = (await probe(transactionFile, source)).kind !== 'file';
  }

  return {
    version,
    file,
    rows: manifest.rows,
    physicalRows: manifest.physicalRows,
    deletedRows: manifest.deletedRows,
    dataFiles,
    complete: !missing.length && !pointers.length && !wrongSize.length && !external.length,
    missing,
    pointers,
    wrongSize,
    ...(transactionFile !== undefined && { transactionFile }),
    transactionMissing,
    indices,
    external,
  };
}

// --- path safety ----------------------------------------------------------------------------------

/** Why `rel` may not be used as a relative path inside a table, or undefined if it may. */
function unsafeReason(rel: string): string | undefined {
  if (rel === '') return 'it is empty';
  if (rel.includes('\0')) return 'it contains a NUL byte';
  if (rel.includes('\\')) return 'it contains a backslash';
  if (rel.startsWith('/') || isAbsolute(rel) || /^[A-Za-z]:/.test(rel)) return 'it is absolute';
  if (rel.split('/').includes('..')) return 'it has a ".." segment';
  return undefined;
}

/** Throws UnsafePathError naming `source` if the manifest path `raw` is not a plain relative path. */
function checkManifestPath(raw: string, source: string): void {
  const reason = unsafeReason(raw);
  if (reason) throw new UnsafePathError(raw, reason, source);
}

const inside = (root: string, target: string): boolean => {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
};

/** resolveInsideTable with the table's real path already known and a source for messages. */
function resolveIn(root: string, relPath: string, source: string, original = relPath, depth = 0): string {
  const reason = unsafeReason(relPath);
  if (reason) throw new UnsafePathError(original, reason, source);
  const segments = relPath.split('/').filter((s) => s !== '' && s !== '.');
  let current = root;
  for (let i = 0; i < segments.length; i++) {
    const next = join(current, segments[i]!);
    let isLink: boolean;
    try {
      isLink = lstatSync(next).isSymbolicLink();
    } catch {
      // Absent (or unreadable): nothing below it can be a symlink yet.
      current = join(next, ...segments.slice(i + 1));
      break;
    }
    if (isLink) {
      let target: string;
      let dangling = false;
      try {
        target = realpathSync(next);
      } catch {
        // Dangling link: judge where it points, then walk that path the same way (it may itself
        // pass through further links).
        target = resolve(dirname(next), readlinkSync(next));
        dangling = true;
      }
      if (!inside(root, target)) {
        throw new UnsafePathError(original, `${segments.slice(0, i + 1).join('/')} is a symlink to ${target}, outside the table ${root}`, source);
      }
      if (dangling) {
        if (depth >= 40) throw new UnsafePathError(original, 'too many levels of symlinks', source);
        const rest = relative(root, target).split(sep).join('/');
        current = rest === '' ? root : resolveIn(root, rest, source, original, depth + 1);
      } else {
        current = target;
      }
    } else {
      current = next;
    }
  }
  if (!inside(root, current)) throw new UnsafePathError(original, `it resolves to ${current}, outside the table ${root}`, source);
  return current;
}

/**
 * The real absolute path of `relPath` (table-relative, `/`-separated) inside `tableDir`. Throws
 * UnsafePathError if `relPath` is empty or absolute, has `..` segments, backslashes or NUL bytes,
 * or leads (through symlinks, existing or dangling) outside the table. The file need not exist.
 * Restore code calls this before writing any file a manifest names.
 */
export function resolveInsideTable(tableDir: string, relPath: string): string {
  return resolveIn(realpathSync(tableDir), relPath, tableDir);
}

// --- file system helpers --------------------------------------------------------------------------

async function probeFile(abs: string): Promise<FileState> {
  let info;
  try {
    info = await stat(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    throw err;
  }
  if (info.isDirectory()) return { kind: 'dir' };
  if (!info.isFile()) return { kind: 'missing' };
  let pointer = false;
  if (info.size >= LFS_POINTER_PREFIX.length && info.size < LFS_POINTER_MAX) {
    const handle = await open(abs, 'r');
    try {
      const head = Buffer.alloc(LFS_POINTER_PREFIX.length);
      const { bytesRead } = await handle.read(head, 0, head.length, 0);
      pointer = head.subarray(0, bytesRead).toString('latin1') === LFS_POINTER_PREFIX;
    } finally {
      await handle.close();
    }
  }
  return { kind: 'file', size: info.size, pointer };
}

/** Non-directory entries under `dir`, relative and `/`-separated; [] when `dir` is absent. */
async function listFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries.filter((e) => !e.isDirectory()).map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'));
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
