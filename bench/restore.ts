// Restore benchmark: the restore of LFS objects into a table, against GNU coreutils doing the same
// copies and hashes in as few processes as possible.
//
//   restoreCase   a real Lance incident (buildLanceIncident), its restorable files as diagnosed
//   objectsCase   a real git-lfs repository whose objects have the sizes under test (the seed's
//                 295 x 678,741 B, one 2 GiB object), committed through the LFS filter and then
//                 removed from the working tree, as in the incident
//
// Variants: the restore step (restoreLanceFiles, in a MockActivityEnvironment, heartbeats included),
// the copy engine alone (copyVerifiedObjects), `cp` + `sha256sum`, and `cp` + `sha256sum` + `sync`
// (the same durability as ours: every file and the directory fsynced).
import { createHash, randomFillSync } from 'node:crypto';
import { open as openFile } from 'node:fs/promises';
import { mkdir, mkdtemp, realpath, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { restoreLanceFiles } from '../src/activities/lance';
import { keepList } from '../src/activities/state';
import { buildLanceIncident, type LanceIncidentOptions } from '../src/demo/lance-incident';
import { diagnoseLance, type RestorableFile } from '../src/engines/lance/doctor';
import { copyVerifiedObjects, gitDir as lfsGitDir } from '../src/engines/lfs/store';
import { lfsObjectRelPath } from '../src/format/lfs/pointer';
import { benchHostFile, type Variant } from './harness';

export const OURS = 'ours: restoreLanceFiles';
export const ENGINE = 'engine: copyVerifiedObjects';
export const CP_SHA = 'cp + sha256sum';
export const CP_SHA_SYNC = 'cp + sha256sum + sync';

export interface RestoreCase {
  label: string;
  files: number;
  bytes: number;
  buildMs: number;
  variants: Variant[];
  cleanup(): Promise<void>;
}

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** Files per batch of the engine, as the restore step uses it. */
const RESTORE_BATCH = 64;

interface Sources {
  tableDir: string;
  repoRoot: string;
  gitDir: string;
  files: RestorableFile[];
  /** Where variants may write (copies, replaced files, the step's list files). */
  sandbox: string;
}

/** The four variants over `files`: each restores them all, checks its own outcome, and is reset after. */
async function variantsFor(label: string, s: Sources): Promise<Variant[]> {
  const { files, sandbox } = s;
  const objectsDir = join(s.gitDir, 'lfs', 'objects');
  // Relative to objectsDir (`aa/bb/<oid>`): shorter argument lists, fewer xargs batches.
  const objects = files.map((f) => lfsObjectRelPath(f.oid).replace(/^lfs\/objects\//, ''));
  const oids = files.map((f) => f.oid);
  const baselineDir = join(sandbox, 'copies');
  const destinations = files.map((f) => join(s.tableDir, f.path));
  // The step reads its file list from this host's state directory, as a run's steps do.
  process.env.RUNBOOK_STATE_DIR = join(sandbox, 'state');
  await benchHostFile(sandbox); // the restore step checks its paths against the host's data roots
  const list = await keepList(files);
  const removeRestored = () => removeAll(destinations);

  const ours: Variant = {
    name: OURS,
    run: async () => {
      const env = new MockActivityEnvironment(undefined, { logger: quiet });
      const args = { tableDir: s.tableDir, lfsRepo: s.repoRoot, files: list, replacedDir: join(sandbox, 'replaced') };
      const result = (await env.run(restoreLanceFiles, args)) as Awaited<ReturnType<typeof restoreLanceFiles>>;
      if (result.copiedThisAttempt !== files.length) throw new Error(`${label}: restore copied ${result.copiedThisAttempt} of ${files.length} files`);
    },
    // The restored files are verified copies of LFS objects: removing them puts the incident back.
    reset: removeRestored,
  };

  const engine: Variant = {
    name: ENGINE,
    run: async () => {
      const items = files.map((f, i) => ({ objectPath: join(objectsDir, objects[i]!), pointer: { oid: f.oid, size: f.size }, destination: destinations[i]! }));
      const { results, error } = await copyVerifiedObjects(items, { batchSize: RESTORE_BATCH });
      if (error !== undefined) throw error;
      const copied = results.filter((r) => !r.already).length;
      if (copied !== files.length) throw new Error(`${label}: the engine copied ${copied} of ${files.length} files`);
    },
    reset: removeRestored,
  };

  const baseline = (name: string, sync: boolean): Variant => ({
    name,
    prepare: () => mkdir(baselineDir).then(() => undefined),
    run: async () => {
      // One `cp` per xargs batch (xargs packs as many paths as the argument limit allows).
      await execa('xargs', ['-0', 'cp', '-t', baselineDir, '--'], { cwd: objectsDir, input: objects.join('\0') });
      const sums = await execa('xargs', ['-0', 'sha256sum', '--'], { cwd: baselineDir, input: oids.join('\0') });
      const lines = sums.stdout.split('\n');
      const bad = lines.filter((line) => line.slice(0, 64) !== line.slice(66));
      if (lines.length !== files.length || bad.length) throw new Error(`${label}: sha256sum checked ${lines.length} files, ${bad.length} mismatched`);
      // `sync FILE…` fsyncs each file (coreutils >= 8.24); `.` is the directory's entry list.
      if (sync) await execa('xargs', ['-0', 'sync', '--'], { cwd: baselineDir, input: [...oids, '.'].join('\0') });
    },
    reset: () => rm(baselineDir, { recursive: true, force: true }),
  });

  return [ours, engine, baseline(CP_SHA, false), baseline(CP_SHA_SYNC, true)];
}

/** Builds the incident, diagnoses it, and returns the variants over its restorable files. */
export async function restoreCase(label: string, options: LanceIncidentOptions): Promise<RestoreCase> {
  const started = performance.now();
  const incident = await buildLanceIncident(options);
  const buildMs = performance.now() - started;
  const sandbox = await mkdtemp(join(tmpdir(), 'bench-restore-'));
  try {
    const diagnosis = await diagnoseLance(incident.tableDir);
    const files = diagnosis.restorable;
    if (files.length !== incident.missingFiles.length || diagnosis.unrestorable.length) {
      throw new Error(`${label}: diagnosis found ${files.length} restorable and ${diagnosis.unrestorable.length} unrestorable files, expected ${incident.missingFiles.length} restorable`);
    }
    return {
      label,
      files: files.length,
      bytes: files.reduce((sum, f) => sum + f.size, 0),
      buildMs,
      variants: await variantsFor(label, { tableDir: incident.tableDir, repoRoot: incident.repoRoot, gitDir: incident.gitDir, files, sandbox }),
      cleanup: async () => {
        await rm(sandbox, { recursive: true, force: true });
        await incident.cleanup();
      },
    };
  } catch (err) {
    await rm(sandbox, { recursive: true, force: true });
    await incident.cleanup();
    throw err;
  }
}

/** Free bytes where the sandboxes live (`df`'s available column, for an unprivileged writer). */
export async function freeBytes(dir = tmpdir()): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/**
 * A git-lfs repository holding `count` objects of `size` random bytes each, committed as
 * `db/images.lance/data/<n>.lance` through the LFS filter and then removed from the working tree.
 * Needs about 2 x count x size bytes free while it is built and 3 x while the benchmark runs (the
 * objects, ours, a baseline's copies); refuses before writing anything when `df` shows less.
 */
export async function objectsCase(label: string, { count, size }: { count: number; size: number }): Promise<RestoreCase> {
  const need = 3 * count * size + 256 * 1024 * 1024;
  const free = await freeBytes();
  if (free < need) throw new Error(`${label}: needs ${gib(need)} free in ${tmpdir()}, df shows ${gib(free)}`);
  const started = performance.now();
  const repoRoot = await realpath(await mkdtemp(join(tmpdir(), 'bench-lfs-')));
  const sandbox = await mkdtemp(join(tmpdir(), 'bench-restore-'));
  const cleanup = async () => {
    await rm(sandbox, { recursive: true, force: true });
    await rm(repoRoot, { recursive: true, force: true });
  };
  try {
    const git = (...args: string[]) => execa('git', args, { cwd: repoRoot, env: { GIT_TERMINAL_PROMPT: '0' } });
    await git('init', '--quiet', '-b', 'main');
    await git('config', 'user.name', 'bench');
    await git('config', 'user.email', 'bench@example.invalid');
    await git('lfs', 'install', '--local');
    await writeFile(join(repoRoot, '.gitattributes'), '*.lance filter=lfs diff=lfs merge=lfs -text\n');
    const tableDir = join(repoRoot, 'db', 'images.lance');
    await mkdir(join(tableDir, 'data'), { recursive: true });
    const files: RestorableFile[] = [];
    for (let i = 0; i < count; i++) {
      const path = `data/${String(i).padStart(6, '0')}-${label.replace(/\W+/g, '-')}.lance`;
      const oid = await writeRandom(join(tableDir, path), size);
      files.push({ path, oid, size, now: 'missing', source: 'head' });
    }
    await git('add', '-A');
    await git('commit', '--quiet', '-m', `${count} objects of ${size} bytes`);
    await removeAll(files.map((f) => join(tableDir, f.path)));
    const gitDir = await lfsGitDir(repoRoot);
    const buildMs = performance.now() - started;
    return {
      label,
      files: count,
      bytes: count * size,
      buildMs,
      variants: await variantsFor(label, { tableDir, repoRoot, gitDir, files, sandbox }),
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Writes `size` random bytes to `path` in 64 MiB chunks; returns their sha256. */
async function writeRandom(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(Math.min(size, 64 * 1024 * 1024));
  const fh = await openFile(path, 'wx');
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(chunk.length, size - done);
      const bytes = randomFillSync(chunk, 0, n).subarray(0, n);
      hash.update(bytes);
      await fh.write(bytes, 0, n);
      done += n;
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;

async function removeAll(paths: string[]): Promise<void> {
  for (const p of paths) await rm(p, { force: true });
}
