// What the manifests of one table name, each distinct thing once: paths (to check, resolve and probe
// once however many versions name them), fragments (shared between versions by the parser) and
// files under other base paths; and each version reduced to what its report needs.
import type { LanceManifest } from '../../format/lance/index';
import type { LanceFragment } from '../../format/lance/manifest';
import type { FileState } from './probe';
import type { ReferencedFile, WrongSize } from './inspect';

/**
 * A distinct table-relative path some manifest names. Checked (path safety), resolved and probed
 * once, however many versions name it.
 */
export interface PathEntry {
  /** Table-relative: `data/…`, `_deletions/…`, `_indices/<uuid>`, `_transactions/…`. */
  rel: string;
  /** The path as the manifest writes it (data and transaction files), checked before `rel`. */
  raw?: string;
  /** Read the head of a small file to tell an LFS pointer (data and deletion files). */
  pointerCheck: boolean;
  checked: boolean;
  abs?: string;
  state?: FileState;
  /** Whether `referencedFiles` has it already. */
  listed: boolean;
}

/** A data file under another base path: only its raw path is checked. */
export interface ExternalPath {
  raw: string;
  checked: boolean;
}

/** What one distinct fragment (shared by all versions that hold it) needs. */
export interface FragmentNeeds {
  /** Data and deletion files in manifest order, with the size recorded for each (data files). */
  refs: { entry: PathEntry; kind: ReferencedFile['kind']; expectedSize: number | undefined }[];
  /** Safety checks in manifest order (local and external files). */
  checks: (PathEntry | ExternalPath)[];
  external: string[];
  dataFiles: number;
  checked: boolean;
  listed: boolean;
  /** Filled once every path is probed. */
  outcome?: { missing: string[]; pointers: string[]; wrongSize: WrongSize[]; ok: boolean };
}

/** One version, reduced to what the report needs once its manifest is parsed. */
export interface VersionSummary {
  version: number;
  file: string;
  /** The manifest's path, for error messages. */
  source: string;
  unreadable?: string;
  manifestVersion: number;
  readerFeatureFlags: number;
  rows: number;
  physicalRows: number;
  deletedRows: number;
  /**
   * The version's fragments are the first `shared` fragments of the previous readable version's,
   * then `tail`. Those shared were checked and listed with that version already; keeping only the
   * tail keeps the summaries of a long history small.
   */
  shared: number;
  tail: FragmentNeeds[];
  dataFiles: number;
  indices: { rel: string; entry?: PathEntry; external?: string }[];
  transaction?: PathEntry;
}

/** The distinct paths, fragments and external files the manifests of one table name. */
export class References {
  readonly paths = new Map<string, PathEntry>();
  readonly externals = new Map<string, ExternalPath>();
  readonly fragments = new Map<LanceFragment, FragmentNeeds>();
  /** The fragments of the manifest summarized last, and the data files of its first i fragments ([0] = 0). */
  #last: { fragments: readonly LanceFragment[]; dataFiles: number[] } = { fragments: [], dataFiles: [0] };

  path(rel: string, pointerCheck: boolean, raw?: string): PathEntry {
    let entry = this.paths.get(rel);
    if (!entry) {
      entry = { rel, pointerCheck, checked: false, listed: false, ...(raw !== undefined && { raw }) };
      this.paths.set(rel, entry);
    }
    return entry;
  }

  external(raw: string): ExternalPath {
    let entry = this.externals.get(raw);
    if (!entry) this.externals.set(raw, (entry = { raw, checked: false }));
    return entry;
  }

  /**
   * How many leading fragments a manifest shares with the manifest summarized last (a comparison
   * each: the parser hands out the same objects for the same bytes), and the needs of the others.
   */
  fragmentsOf(fragments: readonly LanceFragment[]): { shared: number; tail: FragmentNeeds[]; dataFiles: number } {
    const last = this.#last;
    let shared = 0;
    const end = Math.min(fragments.length, last.fragments.length);
    while (shared < end && fragments[shared] === last.fragments[shared]) shared++;
    // The last manifest's counts become this one's: cut to the shared part, then extended.
    last.dataFiles.length = shared + 1;
    const tail = new Array<FragmentNeeds>(fragments.length - shared);
    for (let i = shared; i < fragments.length; i++) {
      const needs = this.fragment(fragments[i]!);
      tail[i - shared] = needs;
      last.dataFiles.push(last.dataFiles[i]! + needs.dataFiles);
    }
    last.fragments = fragments;
    return { shared, tail, dataFiles: last.dataFiles[fragments.length]! };
  }

  /** The needs of `fragment`, computed once per distinct fragment (the parser shares them between versions). */
  fragment(fragment: LanceFragment): FragmentNeeds {
    let needs = this.fragments.get(fragment);
    if (needs) return needs;
    needs = { refs: [], checks: [], external: [], dataFiles: 0, checked: false, listed: false };
    for (const data of fragment.files) {
      needs.dataFiles++;
      const rel = `data/${data.path}`;
      if (data.baseId !== undefined) {
        needs.checks.push(this.external(data.path));
        needs.external.push(`base ${data.baseId}: ${rel}`);
      } else {
        const entry = this.path(rel, true, data.path);
        needs.checks.push(entry);
        needs.refs.push({ entry, kind: 'data', expectedSize: data.sizeBytes });
      }
    }
    const deletion = fragment.deletionFile;
    if (deletion) {
      if (deletion.baseId !== undefined) needs.external.push(`base ${deletion.baseId}: ${deletion.path}`);
      else {
        const entry = this.path(deletion.path, true);
        needs.checks.push(entry);
        needs.refs.push({ entry, kind: 'deletion', expectedSize: undefined });
      }
    }
    this.fragments.set(fragment, needs);
    return needs;
  }
}

/** A parsed manifest reduced to its version's needs; fragments seen in earlier versions cost a lookup. */
export function summarize(version: number, file: string, source: string, manifest: LanceManifest, refs: References): VersionSummary {
  const { shared, tail, dataFiles } = refs.fragmentsOf(manifest.fragments);
  const indices = manifest.indices.map((index) => {
    const rel = `_indices/${index.uuid}`;
    return index.baseId !== undefined ? { rel, external: `base ${index.baseId}: ${rel}` } : { rel, entry: refs.path(rel, false) };
  });
  const summary: VersionSummary = {
    version,
    file,
    source,
    manifestVersion: manifest.version,
    readerFeatureFlags: manifest.readerFeatureFlags,
    rows: manifest.rows,
    physicalRows: manifest.physicalRows,
    deletedRows: manifest.deletedRows,
    shared,
    tail,
    dataFiles,
    indices,
  };
  if (manifest.transactionFile !== undefined) summary.transaction = refs.path(`_transactions/${manifest.transactionFile}`, false, manifest.transactionFile);
  return summary;
}
