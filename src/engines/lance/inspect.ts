// Read-only inspection of a Lance table directory: every version in `_versions/`, and for each the
// files it needs (data, deletion, index folders) checked on disk. A version is usable only if all of
// them are there with their real content (incident 1: the newest manifest pointed at data files that
// were LFS pointers or absent). Manifest paths are untrusted: every one passes resolveInsideTable.
import { type Stats, realpathSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type LanceManifest, type ManifestNamingScheme, VERSIONS_DIR, manifestFileName, parseManifest, parseManifestName } from '../../format/lance/index';
import { FragmentCache } from '../../format/lance/manifest';
import { LFS_POINTER_PREFIX } from '../../format/lfs/pointer';
import { LanceTableError } from './errors';
import { checkManifestPath, resolveIn } from './path-safety';
import { FileReader, Pacer, listFiles, probeFile } from './probe';
import { References, summarize, type ExternalPath, type FragmentNeeds, type PathEntry, type VersionSummary } from './references';

export { LanceTableError, UnsafePathError, isLanceTableError, isUnsafePathError } from './errors';
/** Restore code imports the path-safety boundary from here too. */
export { resolveInsideTable } from './path-safety';

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

/**
 * Inspects the Lance table at `tableDir` without changing anything. Throws LanceTableError when
 * `_versions/` is absent, holds no manifest or mixes naming schemes, and UnsafePathError when a
 * manifest names a path outside the table. An unparsable manifest becomes a finding and a version
 * with `unreadable` set.
 *
 * Each manifest is reduced to its version's needs as soon as it is parsed (fragments repeated from
 * version to version are parsed and summarized once); every distinct path is then checked,
 * resolved and stat'ed once, and the versions are classified from those results.
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

  // 1. Read the manifests, oldest first, and reduce each to its version's needs as soon as it is
  // parsed: only these summaries stay in memory, not the manifests.
  const ordered = [...manifests.entries()].sort(([a], [b]) => a - b);
  const refs = new References();
  const cache = new FragmentCache();
  const pacer = new Pacer();
  const reader = new FileReader();
  const summaries: VersionSummary[] = [];
  for (const [version, { name }] of ordered) {
    if (pacer.due()) await pacer.yield();
    const file = `${VERSIONS_DIR}/${name}`;
    const source = join(tableDir, file);
    const bytes = reader.read(join(versionsDir, name));
    let manifest: LanceManifest;
    try {
      manifest = parseManifest(bytes, file, { fragments: cache });
    } catch (err) {
      const isPointer = bytes.toString('latin1', 0, LFS_POINTER_PREFIX.length) === LFS_POINTER_PREFIX;
      const reason = isPointer ? 'the manifest is a git-LFS pointer, not its content' : (err as Error).message;
      summaries.push({ version, file, source, unreadable: reason, manifestVersion: version, readerFeatureFlags: 0, rows: 0, physicalRows: 0, deletedRows: 0, shared: 0, tail: [], dataFiles: 0, indices: [] });
      continue;
    }
    summaries.push(summarize(version, file, source, manifest, refs));
  }

  // 2. Path safety, each distinct path once, in version order (the order of step 1, which `shared`
  // relies on): the first unsafe path names the oldest manifest that has it. Resolving a path
  // lstat's it; the results serve step 3.
  const lstats = new Map<string, Stats | null>();
  for (const v of summaries) {
    for (const needs of v.tail) {
      if (needs.checked) continue;
      for (const target of needs.checks) check(root, target, v.source, lstats);
      needs.checked = true;
    }
    for (const index of v.indices) if (index.entry) check(root, index.entry, v.source, lstats);
    if (v.transaction) check(root, v.transaction, v.source, lstats);
  }

  // 3. What is at each distinct path.
  for (const entry of refs.paths.values()) {
    if (pacer.due()) await pacer.yield();
    const known = lstats.get(entry.abs!);
    // Not a symlink: its lstat is its stat.
    entry.state = probeFile(entry.abs!, entry.pointerCheck, known && !known.isSymbolicLink() ? known : undefined);
  }

  // 4. Classify the versions (in version order, as step 2). On a healthy table no fragment lacks
  // anything, and a version costs only its fragments not seen in the version before.
  let anyLacking = false;
  for (const needs of refs.fragments.values()) if (!outcome(needs).ok) anyLacking = true;
  const versions: VersionInspection[] = [];
  const referenced = new Map<string, ReferencedFile>();
  const noTransaction: number[] = [];
  /** With anyLacking: every fragment's needs of the last readable version. */
  let fragments: FragmentNeeds[] = [];
  for (const v of summaries) {
    if (v.unreadable !== undefined) {
      findings.push({ code: 'MANIFEST_UNREADABLE', message: `version ${v.version}: ${v.unreadable}`, file: v.file });
      versions.push({
        version: v.version, file: v.file, rows: 0, physicalRows: 0, deletedRows: 0, dataFiles: 0, complete: false,
        missing: [], pointers: [], wrongSize: [], transactionMissing: false, indices: [], external: [], unreadable: v.unreadable,
      });
      continue;
    }
    if (anyLacking) fragments = fragments.slice(0, v.shared).concat(v.tail);
    const inspection = classify(v, anyLacking ? fragments : undefined, referenced);
    if (v.manifestVersion !== v.version) {
      findings.push({ code: 'MANIFEST_VERSION_MISMATCH', message: `${v.file} holds version ${v.manifestVersion}`, file: v.file });
    }
    if (v.readerFeatureFlags & ~KNOWN_READER_FLAGS) {
      findings.push({ code: 'UNKNOWN_FEATURE_FLAGS', message: `version ${v.version} sets reader feature flags ${v.readerFeatureFlags}, some unknown to this tool`, file: v.file });
    }
    if (inspection.external.length) {
      findings.push({ code: 'EXTERNAL_FILES', message: `version ${v.version} has ${inspection.external.length} files under other base paths, not checked; treated as incomplete`, file: v.file });
    }
    if (inspection.transactionMissing) noTransaction.push(v.version);
    versions.push(inspection);
  }
  if (noTransaction.length) {
    findings.push({ code: 'TRANSACTION_FILES_MISSING', message: `the transaction files of versions ${noTransaction.join(', ')} are absent (Lance can read these versions without them)` });
  }

  const referencedFiles = [...referenced.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const orphans = (await listFiles(join(tableDir, 'data'))).map((p) => `data/${p}`).filter((p) => !referenced.has(p)).sort();
  let latestCompleteVersion: number | null = null;
  for (const v of versions) if (v.complete) latestCompleteVersion = v.version;
  return {
    tableDir,
    scheme,
    versions,
    currentVersion: ordered[ordered.length - 1]![0],
    latestCompleteVersion,
    orphans,
    referencedFiles,
    findings,
  };
}

/** Checks a path once: its raw form (as the manifest `source` writes it), then where it leads. */
function check(root: string, target: PathEntry | ExternalPath, source: string, lstats: Map<string, Stats | null>): void {
  if (target.checked) return;
  if (target.raw !== undefined) checkManifestPath(target.raw, source);
  if ('rel' in target) target.abs = resolveIn(root, target.rel, source, target.rel, 0, lstats);
  target.checked = true;
}

/** What a distinct fragment lacks, from the probed paths; computed once. */
function outcome(needs: FragmentNeeds): NonNullable<FragmentNeeds['outcome']> {
  if (needs.outcome) return needs.outcome;
  const missing: string[] = [];
  const pointers: string[] = [];
  const wrongSize: WrongSize[] = [];
  for (const { entry, expectedSize } of needs.refs) {
    const state = entry.state!;
    if (state.kind !== 'file') missing.push(entry.rel);
    else if (state.pointer) pointers.push(entry.rel);
    else if (expectedSize !== undefined && state.size !== expectedSize) wrongSize.push({ path: entry.rel, expected: expectedSize, actual: state.size });
  }
  needs.outcome = { missing, pointers, wrongSize, ok: !missing.length && !pointers.length && !wrongSize.length && !needs.external.length };
  return needs.outcome;
}

/**
 * A version's inspection from its summary. `fragments`: the needs of all its fragments, given
 * when some fragment of the table lacks something (else every fragment is whole).
 */
function classify(v: VersionSummary, fragments: FragmentNeeds[] | undefined, referenced: Map<string, ReferencedFile>): VersionInspection {
  const missing: string[] = [];
  const pointers: string[] = [];
  const wrongSize: WrongSize[] = [];
  const external: string[] = [];
  if (fragments) {
    for (const needs of fragments) {
      const result = outcome(needs);
      if (result.ok) continue;
      missing.push(...result.missing);
      pointers.push(...result.pointers);
      wrongSize.push(...result.wrongSize);
      external.push(...needs.external);
    }
  }
  for (const needs of v.tail) {
    if (!needs.listed) {
      // The first version (oldest) to name a file decides its row in referencedFiles.
      for (const { entry, kind, expectedSize } of needs.refs) {
        if (entry.listed) continue;
        entry.listed = true;
        const state = entry.state!;
        let status: ReferencedFile['status'] = 'ok';
        if (state.kind !== 'file') status = 'missing';
        else if (state.pointer) status = 'pointer';
        else if (expectedSize !== undefined && state.size !== expectedSize) status = 'wrong-size';
        referenced.set(entry.rel, {
          path: entry.rel,
          kind,
          ...(expectedSize !== undefined && { expectedSize }),
          ...(state.kind === 'file' && { actualSize: state.size }),
          status,
        });
      }
      needs.listed = true;
    }
  }

  const indices: string[] = [];
  for (const index of v.indices) {
    indices.push(index.rel);
    if (index.external !== undefined) external.push(index.external);
    else if (index.entry!.state!.kind !== 'dir') missing.push(index.rel);
  }

  const transaction = v.transaction;
  return {
    version: v.version,
    file: v.file,
    rows: v.rows,
    physicalRows: v.physicalRows,
    deletedRows: v.deletedRows,
    dataFiles: v.dataFiles,
    complete: !missing.length && !pointers.length && !wrongSize.length && !external.length,
    missing,
    pointers,
    wrongSize,
    ...(transaction && { transactionFile: transaction.rel }),
    transactionMissing: transaction ? transaction.state!.kind !== 'file' : false,
    indices,
    external,
  };
}
