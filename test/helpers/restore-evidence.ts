// What a lanceRestore did to the disk, read from the disk and the kernel rather than from the run's
// word: which of the incident's missing files are in place (with inode, mtime and atime, so a later
// look tells whether one was rewritten or read again), the temp copies made beside each file
// (inotify: how many times each file was copied), and whether every restored file is byte for byte
// its LFS object. Also: waiting until the restore's heartbeat says k files are done. Used by the
// dev-server crash test (test/workflows/lance-crash.test.ts) and the cluster fault tests.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { watch } from 'node:fs';
import { readdir, readFile, realpath, rm, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import { getProgress } from '../../src/client';
import type { LanceIncident } from '../../src/demo/lance-incident';
import { lfsObjectRelPath, parseLfsPointer } from '../../src/format/lfs/pointer';
import type { StepRecord } from '../../src/workflows/report';
import { waitFor } from './service';

const TEMP = '.restore-tmp-';

export interface OnDisk {
  ino: bigint;
  mtimeNs: bigint;
  atimeNs: bigint;
}

export async function onDisk(path: string): Promise<OnDisk> {
  const s = await stat(path, { bigint: true });
  return { ino: s.ino, mtimeNs: s.mtimeNs, atimeNs: s.atimeNs };
}

const dataDir = (incident: LanceIncident) => join(incident.tableDir, 'data');
const missingNames = (incident: LanceIncident) => incident.missingFiles.map((f) => basename(f));

export interface RestoredNow {
  /** The incident's missing files that are in place now, by file name in data/. */
  restored: Map<string, OnDisk>;
  /** Files with a temp copy but not in place: staged (complete, awaiting its fsync and link) or being written. */
  staged: Set<string>;
  at: number;
}

/** Which missing files are in place now (restored, verified, linked), and which are only staged. */
export async function restoredNow(incident: LanceIncident): Promise<RestoredNow> {
  const at = Date.now();
  const present = await readdir(dataDir(incident));
  const names = new Set(present);
  const restored = new Map<string, OnDisk>();
  for (const name of missingNames(incident)) {
    if (names.has(name)) restored.set(name, await onDisk(join(dataDir(incident), name)));
  }
  const staged = new Set(present.filter((f) => f.includes(TEMP)).map((f) => f.slice(0, f.indexOf(TEMP))).filter((name) => !restored.has(name)));
  return { restored, staged, at };
}

/** Files in place at `before` are the same inode with the same mtime: never copied or rewritten since. */
export async function assertNotRewritten(incident: LanceIncident, before: RestoredNow): Promise<void> {
  for (const [name, was] of before.restored) {
    const now = await onDisk(join(dataDir(incident), name));
    assert.equal(now.ino, was.ino, `${name}, in place before, was not replaced (inode)`);
    assert.equal(now.mtimeNs, was.mtimeNs, `${name}, in place before, was not rewritten (mtime)`);
  }
}

export async function assertNoTempFiles(incident: LanceIncident): Promise<void> {
  assert.deepEqual((await readdir(dataDir(incident))).filter((f) => f.includes(TEMP)), [], 'no temp files left');
}

/**
 * Every missing file is in place and byte for byte the LFS object its pointer at HEAD names (read
 * with git itself; the object's own sha256 is its oid too).
 */
export async function assertMatchesLfsObjects(incident: LanceIncident): Promise<void> {
  const tableRel = relative(incident.repoRoot, incident.tableDir);
  const specs = incident.missingFiles.map((f) => `HEAD:${tableRel}/${f}`);
  const { stdout } = await execa('git', ['cat-file', '--batch'], { cwd: incident.repoRoot, input: `${specs.join('\n')}\n`, encoding: 'buffer', stripFinalNewline: false });
  const out = Buffer.from(stdout);
  let at = 0;
  for (const [i, file] of incident.missingFiles.entries()) {
    const eol = out.indexOf(0x0a, at);
    const header = out.subarray(at, eol).toString();
    const size = Number(/^[0-9a-f]+ blob (\d+)$/.exec(header)?.[1] ?? NaN);
    assert.ok(Number.isInteger(size), `git cat-file ${specs[i]}: ${header}`);
    const pointer = parseLfsPointer(out.subarray(eol + 1, eol + 1 + size));
    at = eol + 1 + size + 1;
    assert.ok(pointer, `${specs[i]} is an LFS pointer`);
    const [restored, object] = await Promise.all([readFile(join(incident.tableDir, file)), readFile(join(incident.gitDir, lfsObjectRelPath(pointer.oid)))]);
    assert.equal(createHash('sha256').update(object).digest('hex'), pointer.oid, `the LFS object of ${file} is its oid`);
    assert.ok(restored.equals(object), `${file} is byte for byte its LFS object (${restored.length} B, object ${object.length} B)`);
  }
}

/** The restore step as getProgress shows it (its attempt, last heartbeat). */
export async function restoreStep(client: Client, workflowId: string): Promise<StepRecord | undefined> {
  return (await getProgress(client, workflowId).catch(() => undefined))?.steps.find((s) => s.id === 'restore');
}

/** Waits until the restore step's heartbeat counts at least `files` files done; returns what it saw. */
export async function waitForRestored(client: Client, workflowId: string, files: number, timeoutMs = 60_000): Promise<{ done: number; attempts: number }> {
  return waitFor(`the restore to heartbeat ${files} files done`, async () => {
    const step = await restoreStep(client, workflowId);
    const done = (step?.lastHeartbeat as { done?: number } | undefined)?.done ?? 0;
    return step?.state === 'running' && done >= files ? { done, attempts: step.attempts } : undefined;
  }, timeoutMs);
}

export interface CopyWatch {
  /** How many temp copies were made of each of the incident's missing files (none: 0). */
  copies(): Map<string, number>;
  close(): void;
}

/**
 * Counts the copies of each missing file: every copy goes to a temp file named afresh
 * (`<file>.restore-tmp-<attempt tag>-<index>`) that inotify sees appear. Start it before the run.
 */
export function watchCopies(incident: LanceIncident): CopyWatch {
  const temps = new Map<string, Set<string>>(missingNames(incident).map((name) => [name, new Set<string>()]));
  const watcher = watch(dataDir(incident), (_event, name) => {
    const at = name?.indexOf(TEMP) ?? -1;
    if (name && at > 0) temps.get(name.slice(0, at))?.add(name);
  });
  watcher.unref(); // a test that fails before close() still ends
  return {
    copies: () => new Map([...temps].map(([name, set]) => [name, set.size])),
    close: () => watcher.close(),
  };
}

/**
 * "No file copied twice except the one in flight": every missing file was copied, at most one twice,
 * and that one had a temp copy but was not in place at the fault (`atFault`): the file being written
 * when the worker died. The complete copies staged at the fault are placed by the retry as they are
 * (adoptLeftovers, src/engines/lfs/leftovers.ts), never copied again. Returns the names copied twice.
 */
export function assertCopiedOnceButInFlight(incident: LanceIncident, watch: CopyWatch, atFault: RestoredNow): string[] {
  const copies = watch.copies();
  const never = [...copies].filter(([, n]) => n === 0).map(([name]) => name);
  assert.deepEqual(never, [], 'every missing file was copied (inotify saw its temp file)');
  const twice = [...copies].filter(([, n]) => n > 1).map(([name]) => name);
  assert.ok(twice.length <= 1, `${twice.length} files copied twice (${twice.slice(0, 3).join(', ')}${twice.length > 3 ? ', …' : ''}): more than the one in flight`);
  for (const name of twice) {
    assert.equal(copies.get(name), 2, `${name} copied ${copies.get(name)} times`);
    assert.ok(!atFault.restored.has(name), `${name} was in place at the fault and was copied again`);
    assert.ok(atFault.staged.has(name), `${name} was copied again but was not being copied at the fault`);
  }
  return twice;
}

/**
 * A copy of a built incident at `dir` (cp -a: the repository with its LFS objects and the table with
 * its files missing), so one build serves several runs.
 */
export async function copyIncident(incident: LanceIncident, dir: string): Promise<LanceIncident> {
  await execa('cp', ['-a', incident.repoRoot, dir]);
  const repoRoot = await realpath(dir);
  const moved = (path: string) => join(repoRoot, relative(incident.repoRoot, path));
  return { ...incident, repoRoot, dbDir: moved(incident.dbDir), tableDir: moved(incident.tableDir), gitDir: moved(incident.gitDir), cleanup: () => rm(repoRoot, { recursive: true, force: true }) };
}
