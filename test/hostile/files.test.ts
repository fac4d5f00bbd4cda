// Hostile file-system cases for restore, snapshot and quarantine: directories swapped for symlinks
// while a restore runs, symlinks planted where SHA256SUMS or a quarantined file goes, `..` paths.
// Each runs inside test/hostile/sandbox.ts's expectUntouched: the sandbox and the `outside` folder
// beside it hash the same afterwards, nothing appeared beside them, no process was started or
// signalled. A case whose attacker swaps a directory undoes the swap before the digest is taken,
// so the digest also proves that the refused restore left nothing behind in the table.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { moveRecorded, snapshotTree } from '../../src/activities/files';
import { restoreLanceFiles } from '../../src/activities/lance-restore';
import { isUnsafePathError } from '../../src/engines/lance/errors';
import { copyVerifiedObjects, type CopyVerifiedItem } from '../../src/engines/lfs/store';
import { lfsObjectRelPath } from '../../src/format/lfs/pointer';
import { expectUntouched, makeSandbox, type Sandbox } from './sandbox';
import { failure } from '../activities/adapter-helpers';

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

let sb: Sandbox;
let repo: string;
let table: string;
let n = 0;

/** An LFS object in the sandbox repository's store. */
async function object(bytes: Buffer): Promise<{ path: string; oid: string; size: number }> {
  const oid = createHash('sha256').update(bytes).digest('hex');
  const path = join(repo, '.git', lfsObjectRelPath(oid));
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, bytes);
  return { path, oid, size: bytes.length };
}

const item = (o: { path: string; oid: string; size: number }, rel: string): CopyVerifiedItem => ({ objectPath: o.path, pointer: { oid: o.oid, size: o.size }, destination: join(table, rel) });

/** The attacker: `rel` in the table moved aside and a symlink to `outside` put in its place; returns the undo. */
function swapForSymlink(rel: string): () => void {
  renameSync(join(table, rel), join(table, `${rel}.moved`));
  symlinkSync(sb.outside, join(table, rel));
  return () => {
    unlinkSync(join(table, rel));
    renameSync(join(table, `${rel}.moved`), join(table, rel));
  };
}

function unsafeNaming(component: string) {
  return (error: unknown) => {
    assert.ok(isUnsafePathError(error), `expected UnsafePathError, got ${String(error)}`);
    // The copy's own checks (not the path resolution before it) say what changed during the copy.
    assert.match((error as Error).message, new RegExp(`\\b${component} is (a symlink|no longer the directory)[^]*during the copy`));
    return true;
  };
}

const safetyViolation = (...words: string[]) => failure('SafetyViolation', ...words);

let hostDir: string;
const servicesFileBefore = process.env.RUNBOOK_SERVICES_FILE;

before(async () => {
  sb = await makeSandbox('files');
  // The host's services file declares the sandbox as its data root (restore checks its paths against it).
  hostDir = await mkdtemp(join(tmpdir(), 'hostile-files-host-'));
  process.env.RUNBOOK_SERVICES_FILE = join(hostDir, 'services.json');
  await writeFile(process.env.RUNBOOK_SERVICES_FILE, JSON.stringify({ dataRoots: [sb.root] }));
  repo = join(sb.root, 'repo');
  table = join(repo, 'images.lance');
  execFileSync('git', ['init', '-q', repo]);
  await mkdir(join(table, 'data'), { recursive: true });
  await mkdir(join(table, '_indices'));
  await mkdir(join(table, '_versions'));
  await writeFile(join(table, '_versions', '1.manifest'), 'manifest one');
  await writeFile(join(sb.outside, 'victim'), 'keep me');
});
after(async () => {
  if (servicesFileBefore === undefined) delete process.env.RUNBOOK_SERVICES_FILE;
  else process.env.RUNBOOK_SERVICES_FILE = servicesFileBefore;
  await rm(hostDir, { recursive: true, force: true });
  await sb.cleanup();
});

describe('hostile: restore into a table that changes under it', () => {
  it('a data directory swapped for a symlink after a file was staged, before it is placed', async () => {
    const [a, b] = await Promise.all([object(randomBytes(3000)), object(randomBytes(4000))]);
    await expectUntouched(sb, async () => {
      let undo = () => {};
      const { results, error } = await copyVerifiedObjects([item(a, 'data/a.lance'), item(b, '_indices/b.idx')], {
        root: table,
        beforeItem: (i) => void (i === 1 ? (undo = swapForSymlink('data')) : undefined),
      });
      undo();
      assert.ok(unsafeNaming('data')(error));
      assert.deepEqual(results, []);
    });
  });

  it('a data directory swapped for a symlink before a file whose subdirectories must be made', async () => {
    const [a, b] = await Promise.all([object(randomBytes(1000)), object(randomBytes(2000))]);
    await writeFile(join(table, '_indices', 'a.idx'), await readFile(a.path)); // already in place: nothing to write
    await expectUntouched(sb, async () => {
      let undo = () => {};
      const { error } = await copyVerifiedObjects([item(a, '_indices/a.idx'), item(b, 'data/deep/er/b.lance')], {
        root: table,
        batchSize: 1,
        beforeItem: (i) => void (i === 1 ? (undo = swapForSymlink('data')) : undefined),
      });
      undo();
      assert.ok(unsafeNaming('data')(error));
    });
  });

  it('a directory replaced by one moved in from outside, before placing', async () => {
    const a = await object(randomBytes(1500));
    await mkdir(join(sb.outside, 'spare'));
    await expectUntouched(sb, async () => {
      const { error } = await copyVerifiedObjects([item(a, 'data/a.lance'), item(a, '_indices/a2.idx')], {
        root: table,
        beforeItem: (i) => {
          if (i !== 1) return;
          // Swap data/ with a directory from outside, and back after the copy: the inode differs.
          renameSync(join(table, 'data'), join(sb.outside, 'data-moved'));
          mkdirSync(join(table, 'data'));
        },
      });
      rmdirSync(join(table, 'data')); // empty: nothing was placed in the stand-in either
      renameSync(join(sb.outside, 'data-moved'), join(table, 'data'));
      assert.ok(unsafeNaming('data')(error));
    });
  });

  it('a symlink planted on the way (table/_indices/link → outside) is refused before anything is made', async () => {
    const a = await object(randomBytes(1200));
    await symlink(sb.outside, join(table, '_indices', 'link'));
    await expectUntouched(sb, async () => {
      const { error } = await copyVerifiedObjects([item(a, '_indices/link/x/a.idx')], { root: table });
      assert.ok(unsafeNaming('_indices/link')(error));
    });
    await rm(join(table, '_indices', 'link'));
  });

  it('a `..` destination that leaves the table is refused', async () => {
    const a = await object(randomBytes(900));
    await expectUntouched(sb, async () => {
      const { error } = await copyVerifiedObjects([{ ...item(a, 'x'), destination: join(table, '..', '..', '..', 'outside', 'a.lance') }], { root: table });
      assert.ok(isUnsafePathError(error), String(error));
      assert.match((error as Error).message, /outside/);
    });
  });

  it('the restore activity: a directory swapped while it runs stops it, nothing written through the symlink', async () => {
    // File 0 is already in place (fsynced, not written); file 1 is over 64 MiB, so it is copied
    // alone, after file 0 is reported: the heartbeat of that report is when the attacker strikes.
    const small = await object(randomBytes(2048));
    const big = await object(randomBytes(64 * 1024 * 1024 + 1));
    await writeFile(join(table, '_indices', 'small.idx'), await readFile(small.path));
    const file = (o: typeof small, path: string) => ({ path, oid: o.oid, size: o.size, now: 'missing' as const, source: 'head' as const });
    const files = [file(small, '_indices/small.idx'), file(big, 'data/big.lance')];
    const env = new MockActivityEnvironment(undefined, { logger: quiet });
    await expectUntouched(sb, async () => {
      let undo: (() => void) | undefined;
      env.on('heartbeat', () => void (undo ??= swapForSymlink('data')));
      const replacedDir = join(sb.root, `replaced-${++n}`);
      await assert.rejects(
        env.run(() => restoreLanceFiles({ tableDir: table, lfsRepo: repo, files: { count: files.length, first: files, sha256: 'inline' }, replacedDir })),
        unsafeNaming('data'),
      );
      assert.ok(undo, 'the swap happened during the restore');
      undo();
    });
  });
});

describe('hostile: snapshot and quarantine', () => {
  const env = new MockActivityEnvironment(undefined, { logger: quiet });

  for (const [label, target] of [
    ['an existing file outside', 'victim'],
    ['a file not yet outside (dangling)', 'planted'],
  ] as const) {
    it(`a SHA256SUMS symlink to ${label} is neither read nor written through`, async () => {
      const destination = join(sb.root, `snapshot-${++n}`);
      await mkdir(destination);
      await symlink(join(sb.outside, target), join(destination, 'SHA256SUMS'));
      await expectUntouched(sb, () => assert.rejects(env.run(() => snapshotTree(table, ['_versions'], destination)), safetyViolation('SHA256SUMS', 'is a symlink')));
    });
  }

  it('a quarantine directory that is a symlink to outside: nothing moved', async () => {
    const quarantine = join(sb.root, `quarantine-${++n}`);
    await mkdir(quarantine);
    await symlink(sb.outside, join(quarantine, '_versions'));
    await expectUntouched(sb, () =>
      assert.rejects(env.run(() => moveRecorded(join(table, '_versions', '1.manifest'), join(quarantine, '_versions', '1.manifest'))), safetyViolation('is a symlink')),
    );
  });

  it('a quarantine destination that is a dangling symlink to outside: not replaced, nothing moved', async () => {
    const quarantine = join(sb.root, `quarantine-${++n}`);
    await mkdir(quarantine);
    await symlink(join(sb.outside, 'planted'), join(quarantine, '1.manifest'));
    await expectUntouched(sb, () =>
      assert.rejects(env.run(() => moveRecorded(join(table, '_versions', '1.manifest'), join(quarantine, '1.manifest'))), safetyViolation('the destination exists')),
    );
  });
});
