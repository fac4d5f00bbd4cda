// Restore benchmark: `restoreLanceFiles` (the lanceRestore step) on a real incident's restorable
// files, against GNU coreutils doing the same copies and hashes in as few processes as possible.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { restoreLanceFiles } from '../src/activities/lance';
import { buildLanceIncident, type LanceIncidentOptions } from '../src/demo/lance-incident';
import { diagnoseLance } from '../src/engines/lance/doctor';
import { lfsObjectRelPath } from '../src/format/lfs/pointer';
import type { Variant } from './harness';

export const OURS = 'ours: restoreLanceFiles';
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

/** Builds the incident, diagnoses it, and returns the three variants over its restorable files. */
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
    const bytes = files.reduce((sum, f) => sum + f.size, 0);
    const objectsDir = join(incident.gitDir, 'lfs', 'objects');
    // Relative to objectsDir (`aa/bb/<oid>`): shorter argument lists, fewer xargs batches.
    const objects = files.map((f) => lfsObjectRelPath(f.oid).replace(/^lfs\/objects\//, ''));
    const oids = files.map((f) => f.oid);
    const baselineDir = join(sandbox, 'copies');

    const ours: Variant = {
      name: OURS,
      run: async () => {
        const env = new MockActivityEnvironment(undefined, { logger: quiet });
        const args = { tableDir: incident.tableDir, lfsRepo: incident.repoRoot, files, replacedDir: join(sandbox, 'replaced') };
        const result = (await env.run(restoreLanceFiles, args)) as Awaited<ReturnType<typeof restoreLanceFiles>>;
        if (result.copiedThisAttempt !== files.length) throw new Error(`${label}: restore copied ${result.copiedThisAttempt} of ${files.length} files`);
      },
      // The restored files are verified copies of LFS objects: removing them puts the incident back.
      reset: () => removeAll(files.map((f) => join(incident.tableDir, f.path))),
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

    return {
      label,
      files: files.length,
      bytes,
      buildMs,
      variants: [ours, baseline(CP_SHA, false), baseline(CP_SHA_SYNC, true)],
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

async function removeAll(paths: string[]): Promise<void> {
  for (const p of paths) await rm(p, { force: true });
}
