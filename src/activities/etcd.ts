// etcd data-dir recovery steps (etcdRecover). The damaged member/ is only read until the swap, which
// renames it into quarantine (kept) and the verified candidate into its place. Each step checks
// the real state first and can run twice.
import { lstat, readdir, rename, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isBboltFileError, type BboltFinding, type BboltReport } from '../format/bbolt/index';
import { readEtcdDb } from '../format/bbolt/etcd';
import { buildCandidateDb, countLosses, leastLoss, measure, otherMetaRecipe, restoreSnapshot, snapshotRecipe, summarize, surgeryRecipe, type Candidate, type CandidateId, type DbSummary, type Recipe } from '../engines/etcd/candidates';
import { servedState } from '../engines/etcd/etcdctl';
import { claimScratch, copyStore, releaseScratch, requireFreeSpace, storeBytes } from '../engines/logstore/candidates';
import { lockHolders, requireNotOpen } from '../engines/logstore/lock-holder';
import { hashFile } from '../engines/lfs/store';
import { realPathOf, requireUnderDataRoots } from '../host/data-roots';
import type { ListRef } from '../workflows/report';
import { invalidInput, notYet, safetyViolation, verificationFailed } from './failures';
import { copyVerified } from './files';
import { swapLogStore, unswapLogStore } from './logstore';
import { cancellationSignal, heartbeatWhile, reportProgress } from './progress';
import { keepList } from './state';

const memberOf = (dataDir: string) => join(dataDir, 'member');
const snapDirOf = (member: string) => join(member, 'snap');

/**
 * member/ and member/snap/ must be real folders: a symlink there would have the runbook read, copy
 * and rename something outside the data dir the host allowed.
 */
async function requireRealMember(member: string): Promise<void> {
  for (const dir of [member, snapDirOf(member)]) {
    const info = await lstat(dir).catch(() => undefined);
    if (!info) throw invalidInput(`${dir}: no such folder; is ${dirname(member)} an etcd data dir?`);
    if (info.isSymbolicLink() || !info.isDirectory()) throw safetyViolation(`${dir} is ${info.isSymbolicLink() ? 'a symlink' : 'not a folder'}; refusing to read or move it`);
  }
}

/** The quarantine and scratch folders must lie outside the data dir: etcd must never see them. */
async function requireOutsideDataDir(dataDir: string, other: string): Promise<void> {
  const [data, q] = await Promise.all([realPathOf(dataDir), realPathOf(other)]);
  if (q === data || q.startsWith(`${data}/`)) throw safetyViolation(`${other} is inside the etcd data dir ${dataDir}; choose a folder outside it`);
}

/** The damaged db as the plan saw it: what was read, and what the damage left readable. */
export interface EtcdDamage extends DbSummary {
  /** The file could not be read as bbolt at all (not bbolt, truncated, page size 0): why. */
  unreadable?: string;
  activeMeta: 0 | 1 | null;
  metas: Array<{ page: number; txid: number; root: number; valid: boolean; error?: string }>;
  findingList: ListRef<BboltFinding>;
}

export interface EtcdFacts {
  dataDir: string;
  db: string;
  dbBytes: number;
  /** What apply's copy of the db must hash to: the bytes the plan measured. */
  dbSha256: string;
  /** Pids holding the db's flock now: etcd has it open. */
  openBy: number[];
  damage: EtcdDamage;
  candidates: Candidate[];
  snapshotsSkipped: string[];
  leastLoss: CandidateId | null;
}

/**
 * Reads the db, then builds each candidate under `scratchDir` (removed after) and measures it with
 * the checker. The data dir and the snapshot folder are only read.
 */
export async function diagnoseEtcd(args: { dataDir: string; member: string; peerUrl: string; snapshotDir?: string; scratchDir: string }): Promise<EtcdFacts> {
  await requireUnderDataRoots({ dataDir: args.dataDir, quarantineDir: args.scratchDir, ...(args.snapshotDir ? { snapshotDir: args.snapshotDir } : {}) });
  await requireOutsideDataDir(args.dataDir, args.scratchDir);
  const signal = cancellationSignal();
  const member = memberOf(args.dataDir);
  await requireRealMember(member);
  const db = join(snapDirOf(member), 'db');
  const info = await lstat(db).catch(() => undefined);
  if (!info?.isFile()) throw safetyViolation(`${db}: ${info ? 'not a regular file (a symlink or a folder)' : 'no such file'}; is ${args.dataDir} an etcd data dir?`);
  const { sha256 } = await heartbeatWhile(hashFile(db, { signal }), { hashing: db });

  let damage: EtcdDamage;
  let damagedKeys = new Set<string>();
  let report: BboltReport | undefined;
  try {
    const state = await heartbeatWhile(readEtcdDb(db, { signal, collectKeys: true, onProgress: (p) => reportProgress({ checking: db, ...p }) }), { checking: db });
    damagedKeys = state.keys ?? damagedKeys;
    const r = (report = state.report);
    damage = { ...summarize(state), activeMeta: r.activeMeta, metas: r.metas.map(({ page, txid, root, valid, error }) => ({ page, txid, root, valid, ...(error ? { error } : {}) })), findingList: await keepList(r.findings) };
  } catch (err) {
    if (!isBboltFileError(err)) throw err;
    damage = { healthy: false, findings: 1, revision: null, liveKeys: 0, revisions: 0, consistentIndex: null, unreadable: (err as Error).message, activeMeta: null, metas: [], findingList: await keepList([]) };
  }
  const facts: EtcdFacts = {
    dataDir: args.dataDir, db, dbBytes: info.size, dbSha256: sha256,
    openBy: [...new Set((await lockHolders(snapDirOf(member), 'db')).map((h) => h.pid))],
    damage, candidates: [], snapshotsSkipped: [], leastLoss: null,
  };
  if (damage.healthy) return facts;

  const { firstMade } = await claimScratch(args.scratchDir);
  try {
    const tried: Array<{ id: CandidateId; recipe: Recipe | string }> = [
      { id: 'other-meta', recipe: report ? await otherMetaRecipe(db, report, signal) : `the db is not readable bbolt: ${damage.unreadable}` },
      { id: 'surgery', recipe: report ? await surgeryRecipe(db, report) : `the db is not readable bbolt: ${damage.unreadable}` },
    ];
    const snap = await snapshotRecipe(args.snapshotDir, signal);
    facts.snapshotsSkipped = snap.skipped;
    tried.push({ id: 'snapshot', recipe: snap.recipe });
    const built: Array<{ candidate: Candidate; keys: Set<string> }> = [];
    for (const { id, recipe } of tried) {
      reportProgress({ candidate: id });
      if (typeof recipe === 'string') {
        facts.candidates.push({ id, usable: false, why: recipe });
        continue;
      }
      try {
        const output = recipe.id === 'snapshot'
          ? await heartbeatWhile(restoreSnapshot(recipe, join(args.scratchDir, 'snapshot'), args.member, args.peerUrl, signal), { restoring: recipe.file })
          : await heartbeatWhile(buildCandidateDb(recipe, db, join(args.scratchDir, `${id}.db`), signal).then(() => join(args.scratchDir, `${id}.db`)), { building: id });
        const { result, keys } = await heartbeatWhile(measure(output, signal), { measuring: id });
        const usable = result.healthy;
        const candidate: Candidate = { id, usable, recipe, result, ...(usable ? {} : { why: `its result does not check clean (${result.findings} findings)` }) };
        facts.candidates.push(candidate);
        if (usable) built.push({ candidate, keys });
      } catch (err) {
        if ((err as Error).name === 'AbortError') throw err;
        facts.candidates.push({ id, usable: false, recipe, why: (err as Error).message });
      }
    }
    countLosses(damagedKeys, built);
  } finally {
    await releaseScratch(args.scratchDir, firstMade);
  }
  facts.leastLoss = leastLoss(facts.candidates)?.id ?? null;
  return facts;
}

/**
 * Copies member/ into `destination` with a SHA256SUMS list and proves the copy against the files
 * (etcd must be stopped: its flock on the db is checked). The db must be the bytes the plan saw.
 */
export async function copyEtcdMember(args: { dataDir: string; destination: string; expectDbSha256: string }) {
  await requireUnderDataRoots({ dataDir: args.dataDir, quarantineDir: args.destination });
  await requireOutsideDataDir(args.dataDir, args.destination);
  const member = memberOf(args.dataDir);
  await requireRealMember(member);
  await requireNotOpen(snapDirOf(member), 'copy it', 'db');
  if (!(await lstat(args.destination).then(() => true, () => false))) await requireFreeSpace(dirname(args.destination), await storeBytes(member), `the copy of ${member}`);
  const copied = await copyVerified(member, args.destination);
  const { sha256 } = await hashFile(join(args.destination, 'snap', 'db'), { signal: cancellationSignal() });
  if (sha256 !== args.expectDbSha256) throw safetyViolation(`${member}/snap/db changed since the plan (sha256 ${sha256}, the plan measured ${args.expectDbSha256}): nothing was changed; run the plan again`);
  return copied;
}

/**
 * Builds the chosen candidate's member/ in `work` (ours): a copy of the checked copy with the
 * candidate's db, or etcdctl's restore of the snapshot. Checked: it must give what the plan measured.
 */
export async function buildEtcdCandidate(args: { dataDir: string; copy: string; work: string; recipe: Recipe; member: string; peerUrl: string; expect: DbSummary }) {
  // The recipe comes from the workflow: its snapshot file is read only where the host keeps data.
  await requireUnderDataRoots({ dataDir: args.dataDir, quarantineDir: args.work, copy: args.copy, ...(args.recipe.id === 'snapshot' ? { snapshot: args.recipe.file } : {}) });
  await requireOutsideDataDir(args.dataDir, args.work);
  const signal = cancellationSignal();
  await claimScratch(args.work);
  const member = join(args.work, 'member');
  const { recipe } = args;
  if (recipe.id === 'snapshot') {
    const { sha256 } = await hashFile(recipe.file, { signal });
    if (sha256 !== recipe.sha256) throw safetyViolation(`${recipe.file} changed since the plan (sha256 ${sha256}, the plan checked ${recipe.sha256}); run the plan again`);
    const restored = join(args.work, 'restored');
    await heartbeatWhile(restoreSnapshot(recipe, restored, args.member, args.peerUrl, signal), { restoring: recipe.file });
    await rename(join(restored, 'member'), member);
    await rmdir(restored);
  } else {
    await heartbeatWhile(copyStore(args.copy, member, { signal, skip: ['SHA256SUMS', 'snap/db'] }), { copying: args.copy });
    await heartbeatWhile(buildCandidateDb(recipe, join(args.copy, 'snap', 'db'), join(member, 'snap', 'db'), signal), { building: recipe.id });
  }
  const got = summarize(await heartbeatWhile(readEtcdDb(join(member, 'snap', 'db'), { signal }), { checking: member }));
  const differs = (['healthy', 'revision', 'liveKeys', 'revisions'] as const).filter((k) => got[k] !== args.expect[k]);
  if (differs.length) throw verificationFailed(`the ${recipe.id} candidate built in ${member} is not what the plan measured: ${differs.map((k) => `${k} ${got[k]} (plan: ${args.expect[k]})`).join(', ')}`);
  return { member, files: (await readdir(member, { recursive: true })).length, ...got };
}

/** Swaps the candidate's member/ in; the damaged one is renamed to `aside` (kept). etcd must be stopped. */
export async function swapEtcdMember(args: { dataDir: string; recovered: string; aside: string; copy: string }) {
  const member = memberOf(args.dataDir);
  await requireUnderDataRoots({ dataDir: args.dataDir, quarantineDir: args.aside });
  if (await lstat(member).then(() => true, () => false)) await requireNotOpen(snapDirOf(member), 'swap it out', 'db');
  return swapLogStore({ dir: member, recovered: args.recovered, aside: args.aside, snapshot: args.copy });
}

/** Undo of swapEtcdMember: the damaged member/ goes back. */
export async function unswapEtcdMember(args: { dataDir: string; recovered: string; aside: string }) {
  return unswapLogStore({ dir: memberOf(args.dataDir), recovered: args.recovered, aside: args.aside });
}

/**
 * What etcd serves, by etcdctl: the live key count must be the candidate's, and the revision at
 * least its (etcd replays WAL entries past the db's consistent index on start, which only adds).
 */
export async function verifyEtcdServes(args: { clientUrl: string; expect: { liveKeys: number; revision: number | null } }) {
  let served: { keys: number; revision: number };
  try {
    served = await servedState(args.clientUrl, { signal: cancellationSignal() });
  } catch (err) {
    throw notYet(`etcd at ${args.clientUrl} does not answer etcdctl yet: ${(err as Error).message}`);
  }
  const { liveKeys, revision } = args.expect;
  const replayed = revision !== null && served.revision > revision;
  if (served.revision < (revision ?? 0)) throw verificationFailed(`etcd serves revision ${served.revision}, below the candidate's ${revision}`);
  if (!replayed && served.keys !== liveKeys) throw verificationFailed(`etcd serves ${served.keys} keys, the candidate has ${liveKeys}`);
  return { ...served, expected: args.expect, replayedFromWal: replayed ? served.revision - revision! : 0 };
}
