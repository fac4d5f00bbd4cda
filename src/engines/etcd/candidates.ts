// The ways back for an etcd whose bbolt db is damaged, each built as a new file and measured with
// the checker: (a) the other meta page's tree, (b) surgery that cuts the bad references, (c) the
// newest snapshot that checks clean, restored by etcdctl. What each loses is counted against the
// keys the damaged db still gives to a reader. The damaged db is only read.
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { checkBbolt, type BboltFinding, type BboltReport } from '../../format/bbolt/index';
import { missingKeys, readEtcdDb, type EtcdDbState } from '../../format/bbolt/etcd';
import { badReferences, type BadReference } from '../../format/bbolt/references';
import { hashFile } from '../lfs/store';
import { clearPageElements, freelistAbandon, freelistRebuild, metaUpdate } from '../bbolt/bbolt-cli';
import { snapshotRestore } from './etcdctl';

export type CandidateId = 'other-meta' | 'surgery' | 'snapshot';
/** Preference when two candidates lose the same: the one that changes least. */
export const CANDIDATE_ORDER: readonly CandidateId[] = ['other-meta', 'surgery', 'snapshot'];

export type Recipe =
  /** Rewrite meta `metaPage` with meta `from`'s root, freelist and high-water mark (checksum recomputed). */
  | { id: 'other-meta'; metaPage: 0 | 1; from: 0 | 1; fields: { root: number; pgid: number; freelist?: number } }
  /** Clear each bad branch element; with a persisted freelist, abandon and rebuild it. */
  | { id: 'surgery'; clears: BadReference[]; rebuildFreelist: boolean }
  /** `etcdctl snapshot restore` of this file (checked clean, identified by its sha256). */
  | { id: 'snapshot'; file: string; sha256: string; bytes: number; mtime: string };

/** What a db gives etcd: the numbers an approver compares. */
export interface DbSummary {
  healthy: boolean;
  findings: number;
  revision: number | null;
  liveKeys: number;
  revisions: number;
  consistentIndex: number | null;
}

export interface KeySample {
  count: number;
  first: string[];
}

export interface Candidate {
  id: CandidateId;
  usable: boolean;
  /** Why it is not offered, or why it cannot be used. */
  why?: string;
  recipe?: Recipe;
  result?: DbSummary;
  /** Live keys the damaged db gives that this candidate does not. */
  missing?: KeySample;
  /** Live keys this candidate gives that the damaged db does not (hidden by the damage, back from a snapshot). */
  regained?: KeySample;
  /** Live keys known to any source (the damaged db, every candidate) that this candidate does not give. */
  lost?: KeySample;
}

export const summarize = (s: EtcdDbState): DbSummary => ({
  healthy: s.report.healthy,
  findings: s.report.findings.length + s.report.findingsDropped,
  revision: s.revision,
  liveKeys: s.liveKeys,
  revisions: s.revisions,
  consistentIndex: s.consistentIndex,
});

const treeFindings = (r: BboltReport) => r.findings.filter((f) => f.code !== 'meta-invalid');

/**
 * (a): a valid meta whose tree walks clean. The active one, when only the other meta page is bad
 * (nothing is lost); else the older one, which gives up the last transaction.
 */
export async function otherMetaRecipe(db: string, report: BboltReport, signal?: AbortSignal): Promise<Recipe | string> {
  const active = report.activeMeta;
  const order = active === null ? [0, 1] as const : [active, (1 - active) as 0 | 1] as const;
  for (const from of order) {
    const meta = report.metas[from]!;
    if (!meta.valid) continue;
    const walk = from === report.walkedMeta ? report : await checkBbolt(db, { meta: from, signal });
    if (treeFindings(walk).length) continue;
    const other = (1 - from) as 0 | 1;
    if (from === active && report.metas[other]!.valid) return 'both meta pages are valid and the active tree is clean: no meta page to repair';
    return { id: 'other-meta', metaPage: other, from, fields: { root: meta.root, pgid: meta.pgid, ...(meta.freelist === null ? {} : { freelist: meta.freelist }) } };
  }
  return 'no valid meta page has a clean tree';
}

/** (b): the branch elements behind the reference findings of the active tree. */
export async function surgeryRecipe(db: string, report: BboltReport): Promise<Recipe | string> {
  const findings = treeFindings(report);
  const { references, uncut } = await badReferences(db, findings);
  if (!references.length) return `no bad reference surgery can cut (${[...new Set(findings.map((f) => f.code))].join(', ') || 'no tree findings'})`;
  const rest = findings.filter((f) => !['cycle', 'multiple-references', 'out-of-bounds', 'invalid-page-type', 'malformed-page'].includes(f.code));
  if (uncut.length || rest.length) {
    const left = [...uncut, ...rest].slice(0, 3).map((f: BboltFinding) => f.message).join('; ');
    return `surgery cannot repair every finding: ${left}`;
  }
  const active = report.activeMeta ?? 0;
  return { id: 'surgery', clears: references, rebuildFreelist: report.metas[active]!.freelist !== null };
}

/** Snapshot files in `dir`, newest first: regular files (never through a symlink) named `*.db`. */
export async function listSnapshotFiles(dir: string): Promise<Array<{ file: string; bytes: number; mtimeMs: number }>> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const files = [];
  for (const e of entries) {
    if (!e.isFile() || !e.name.endsWith('.db') || e.name.startsWith('.')) continue;
    const file = join(dir, e.name);
    const info = await lstat(file);
    if (info.isFile()) files.push({ file, bytes: info.size, mtimeMs: info.mtimeMs });
  }
  return files.sort((a, b) => b.mtimeMs - a.mtimeMs || (a.file < b.file ? 1 : -1));
}

/** How many snapshots are checked, newest first, before giving up on finding a clean one. */
export const MAX_SNAPSHOTS_CHECKED = 10;

/** (c): the newest snapshot in `dir` that checks clean; the others tried are named with their reason. */
export async function snapshotRecipe(dir: string | undefined, signal?: AbortSignal): Promise<{ recipe: Recipe | string; skipped: string[] }> {
  if (!dir) return { recipe: 'no snapshotDir was given', skipped: [] };
  const skipped: string[] = [];
  for (const s of (await listSnapshotFiles(dir)).slice(0, MAX_SNAPSHOTS_CHECKED)) {
    signal?.throwIfAborted();
    const report = await checkBbolt(s.file, { signal }).catch((err: Error) => err);
    if (report instanceof Error || !report.healthy) {
      skipped.push(`${s.file}: ${report instanceof Error ? report.message : report.findings[0]?.message ?? 'not clean'}`);
      continue;
    }
    const { sha256 } = await hashFile(s.file, { signal });
    return { recipe: { id: 'snapshot', file: s.file, sha256, bytes: s.bytes, mtime: new Date(s.mtimeMs).toISOString() }, skipped };
  }
  return { recipe: skipped.length ? `no snapshot in ${dir} checks clean` : `no snapshot (*.db) in ${dir}`, skipped };
}

/**
 * Builds the db of an other-meta or surgery recipe at `output` (a new file) from `source`, which
 * is only read. Intermediate files go beside `output` and are removed.
 */
export async function buildCandidateDb(recipe: Exclude<Recipe, { id: 'snapshot' }>, source: string, output: string, signal?: AbortSignal): Promise<void> {
  if (recipe.id === 'other-meta') {
    await metaUpdate(source, output, { metaPage: recipe.metaPage, fields: recipe.fields }, { signal });
    return;
  }
  // Per page, the highest index first: clearing an element shifts the ones after it.
  const clears = [...recipe.clears].sort((a, b) => a.page - b.page || b.index - a.index);
  const steps: string[] = [];
  let from = source;
  const next = () => {
    const file = `${output}.step${steps.length}`;
    steps.push(file);
    return file;
  };
  try {
    for (const c of clears) {
      const to = next();
      await rm(to, { force: true });
      await clearPageElements(from, to, { pageId: c.page, from: c.index, to: c.index + 1 }, { signal });
      from = to;
    }
    if (recipe.rebuildFreelist) {
      const abandoned = next();
      await rm(abandoned, { force: true });
      await freelistAbandon(from, abandoned, { signal });
      const rebuilt = next();
      await rm(rebuilt, { force: true });
      await freelistRebuild(abandoned, rebuilt, { signal });
      from = rebuilt;
    }
    await rename(from, output);
  } finally {
    await Promise.all(steps.map((s) => rm(s, { force: true })));
  }
}

/** `etcdctl snapshot restore` of the recipe's file into `dataDir` (new); returns its db's path. */
export async function restoreSnapshot(recipe: Extract<Recipe, { id: 'snapshot' }>, dataDir: string, member: string, peerUrl: string, signal?: AbortSignal): Promise<string> {
  // `snapshot save` appends a sha256 of the db (size % 512 == 32), which restore checks; a db copied
  // out of a data dir has none and needs --skip-hash-check.
  await snapshotRestore(recipe.file, { dataDir, member, peerUrl, signal, skipHashCheck: recipe.bytes % 512 !== 32 });
  return join(dataDir, 'member', 'snap', 'db');
}

/** Reads a candidate's db: what it gives, and its live keys. */
export async function measure(db: string, signal?: AbortSignal): Promise<{ result: DbSummary; keys: Set<string> }> {
  const state = await readEtcdDb(db, { signal, collectKeys: true });
  return { result: summarize(state), keys: state.keys ?? new Set<string>() };
}

/**
 * What each candidate loses: against the damaged db's readable keys (missing, regained), and
 * against every key any of them knows (lost): a snapshot can name keys the damage hid.
 */
export function countLosses(damagedKeys: Set<string>, built: ReadonlyArray<{ candidate: Candidate; keys: Set<string> }>): void {
  const known = new Set(damagedKeys);
  for (const { keys } of built) for (const k of keys) known.add(k);
  for (const { candidate, keys } of built) {
    candidate.missing = missingKeys(damagedKeys, keys);
    candidate.regained = missingKeys(keys, damagedKeys);
    candidate.lost = missingKeys(known, keys);
  }
}

/** Least loss first: fewest keys lost of all known, then fewest readable ones missing, then highest revision, then CANDIDATE_ORDER. */
export function leastLoss(candidates: readonly Candidate[]): Candidate | undefined {
  const usable = candidates.filter((c) => c.usable);
  return usable.sort((a, b) =>
    a.lost!.count - b.lost!.count
    || a.missing!.count - b.missing!.count
    || (b.result!.revision ?? 0) - (a.result!.revision ?? 0)
    || CANDIDATE_ORDER.indexOf(a.id) - CANDIDATE_ORDER.indexOf(b.id))[0];
}
