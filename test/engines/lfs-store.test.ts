// The LFS store engine on real repositories: a LanceDB table committed through git-lfs that lost
// data files from its working tree (incident 1, built by test/helpers/lance-incident.ts).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as lancedb from '@lancedb/lancedb';
import { execa } from 'execa';
import {
  LfsDestinationConflictError,
  LfsObjectMismatchError,
  LfsObjectMissingError,
  NotAGitRepositoryError,
  copyVerifiedObject,
  findPointers,
  gitDir,
  gitTopLevel,
  hashFile,
  lfsObjectPath,
  verifyLfsObject,
} from '../../src/engines/lfs/store';
import { formatLfsPointer } from '../../src/format/lfs/pointer';
import { git, headPointer, repoPath, tempFilesIn } from '../helpers/lfs-objects';
import { buildLanceIncident, type LanceIncident } from '../../src/demo/lance-incident';


describe('gitTopLevel / gitDir', () => {
  let inc: LanceIncident;
  before(async () => {
    inc = await buildLanceIncident({ newRows: 12, missing: 2 });
  });
  after(() => inc?.cleanup());

  it('resolve the repository from a directory inside it', async () => {
    assert.equal(await gitTopLevel(inc.tableDir), inc.repoRoot);
    assert.equal(await gitDir(inc.repoRoot), inc.gitDir);
  });

  it('give the main git directory for a subdirectory and for a linked worktree (one LFS store per repository)', async () => {
    assert.equal(await gitDir(inc.tableDir), inc.gitDir);
    const worktree = await mkdtemp(join(tmpdir(), 'lfs-worktree-'));
    try {
      await git(inc.repoRoot, 'worktree', 'add', '--quiet', '--detach', join(worktree, 'wt'));
      assert.equal(await gitDir(join(worktree, 'wt')), inc.gitDir);
    } finally {
      await git(inc.repoRoot, 'worktree', 'remove', '--force', join(worktree, 'wt')).catch(() => '');
      await rm(worktree, { recursive: true, force: true });
    }
  });

  it('name the directory when it is not a git repository', async () => {
    const plain = await mkdtemp(join(tmpdir(), 'not-git-'));
    try {
      await assert.rejects(gitTopLevel(plain), (err: unknown) => err instanceof NotAGitRepositoryError && err.name === 'NotAGitRepositoryError' && err.message.includes(plain));
      await assert.rejects(gitDir(join(plain, 'nope')), (err: unknown) => err instanceof NotAGitRepositoryError && err.message.includes(join(plain, 'nope')));
    } finally {
      await rm(plain, { recursive: true, force: true });
    }
  });
});

describe('findPointers', () => {
  let inc: LanceIncident;
  before(async () => {
    inc = await buildLanceIncident({ newRows: 40, missing: 20 });
  });
  after(() => inc?.cleanup());

  it('finds every missing data file at HEAD, with the pointer git has', async () => {
    const paths = inc.missingFiles.map((f) => repoPath(inc, f));
    const found = await findPointers(inc.repoRoot, [...paths, 'db/images.lance/data/never-existed.lance', '../outside.lance', '/etc/passwd']);
    assert.equal(found.size, inc.missingFiles.length);
    for (const file of inc.missingFiles) {
      const hit = found.get(repoPath(inc, file));
      assert.ok(hit, `${file} found`);
      assert.equal(hit.source, 'head');
      assert.deepEqual(hit.pointer, await headPointer(inc, file));
    }
  });

  it('detects a pointer text in the working tree before looking at HEAD', async () => {
    const file = inc.missingFiles[0]!;
    const pointer = await headPointer(inc, file);
    const path = join(inc.tableDir, file);
    await writeFile(path, formatLfsPointer(pointer));
    try {
      const found = await findPointers(inc.repoRoot, [repoPath(inc, file), repoPath(inc, inc.missingFiles[1]!)]);
      assert.deepEqual(found.get(repoPath(inc, file)), { pointer, source: 'worktree' });
      assert.equal(found.get(repoPath(inc, inc.missingFiles[1]!))?.source, 'head');
      // A pointer-looking file that breaks the spec (oid made a path) is skipped: HEAD still answers.
      await writeFile(path, formatLfsPointer(pointer).replace(pointer.oid, '../../../../etc/passwd'));
      assert.deepEqual(await findPointers(inc.repoRoot, [repoPath(inc, file)]), new Map([[repoPath(inc, file), { pointer, source: 'head' }]]));
    } finally {
      await rm(path);
    }
  });

  it('does not take real content in the working tree for a pointer', async () => {
    const present = inc.dataFiles.find((f) => !inc.missingFiles.includes(f))!;
    const found = await findPointers(inc.repoRoot, [repoPath(inc, present)]);
    assert.equal(found.get(repoPath(inc, present))?.source, 'head');
  });

  it('falls back to history once a later commit removed the files (git rm)', async () => {
    const paths = inc.missingFiles.map((f) => repoPath(inc, f));
    const before = await Promise.all(inc.missingFiles.map((f) => headPointer(inc, f)));
    const withData = await git(inc.repoRoot, 'rev-parse', 'HEAD');
    await git(inc.repoRoot, 'rm', '--quiet', '--', ...paths);
    await git(inc.repoRoot, 'commit', '--quiet', '-m', 'drop data files');
    await writeFile(join(inc.repoRoot, 'unrelated.txt'), 'later work\n');
    await git(inc.repoRoot, 'add', 'unrelated.txt');
    await git(inc.repoRoot, 'commit', '--quiet', '-m', 'unrelated');

    const found = await findPointers(inc.repoRoot, paths);
    assert.equal(found.size, paths.length);
    paths.forEach((p, i) => {
      assert.deepEqual(found.get(p), { pointer: before[i], source: 'history', commit: withData });
    });
  });
});

describe('verifyLfsObject', () => {
  let inc: LanceIncident;
  before(async () => {
    inc = await buildLanceIncident({ newRows: 20, missing: 6, corruptObjects: 1 });
  });
  after(() => inc?.cleanup());

  it('verifies a good object by size and sha256', async () => {
    const pointer = await headPointer(inc, inc.missingFiles[1]!);
    const check = await verifyLfsObject(inc.gitDir, pointer);
    assert.deepEqual(check, { objectPath: lfsObjectPath(inc.gitDir, pointer), present: true, verified: true, actualSize: pointer.size, actualOid: pointer.oid });
  });

  it('reports a corrupted object (same size, other bytes)', async () => {
    const pointer = await headPointer(inc, inc.corruptedFiles[0]!);
    const check = await verifyLfsObject(inc.gitDir, pointer);
    assert.equal(check.present, true);
    assert.equal(check.verified, false);
    assert.equal(check.actualSize, pointer.size);
    assert.notEqual(check.actualOid, pointer.oid);
    assert.match(check.problem ?? '', /corrupt/);
    // git-lfs itself agrees.
    const fsck = await execa('git', ['lfs', 'fsck', '--objects', '--dry-run'], { cwd: inc.repoRoot, reject: false });
    assert.equal(fsck.exitCode, 1);
    assert.match(fsck.stdout, new RegExp(`corruptObject: .*\\(${pointer.oid}\\) is corrupt`));
  });

  it('reports a truncated object', async () => {
    const pointer = await headPointer(inc, inc.missingFiles[2]!);
    const objectPath = lfsObjectPath(inc.gitDir, pointer);
    await chmod(objectPath, 0o644);
    await truncate(objectPath, pointer.size - 1);
    const check = await verifyLfsObject(inc.gitDir, pointer);
    assert.equal(check.verified, false);
    assert.equal(check.actualSize, pointer.size - 1);
    assert.match(check.problem ?? '', new RegExp(`${pointer.size - 1} bytes`));
  });

  it('reports an object missing from the store', async () => {
    const pointer = { oid: createHash('sha256').update('never stored').digest('hex'), size: 12 };
    const check = await verifyLfsObject(inc.gitDir, pointer);
    assert.equal(check.present, false);
    assert.equal(check.verified, false);
    assert.match(check.problem ?? '', /not in the local store/);
    assert.equal(check.objectPath, join(inc.gitDir, 'lfs/objects', pointer.oid.slice(0, 2), pointer.oid.slice(2, 4), pointer.oid));
  });

  it('throws for an oid that is not 64 lowercase hex digits, before touching the disk', async () => {
    await assert.rejects(verifyLfsObject(inc.gitDir, { oid: '../../../etc/passwd', size: 1 }), { name: 'LfsPointerError' });
  });
});

describe('copyVerifiedObject', () => {
  let inc: LanceIncident;
  before(async () => {
    inc = await buildLanceIncident({ newRows: 24, missing: 10, corruptObjects: 2 });
  });
  after(() => inc?.cleanup());
  const dataDir = () => join(inc.tableDir, 'data');

  it('restores bytes whose sha256 is the pointer oid, leaving no temp file', async () => {
    const file = inc.missingFiles[5]!;
    const pointer = await headPointer(inc, file);
    const destination = join(inc.tableDir, file);
    const result = await copyVerifiedObject(lfsObjectPath(inc.gitDir, pointer), pointer, destination);
    assert.deepEqual(result, { sha256: pointer.oid, bytes: pointer.size, already: false });
    assert.deepEqual(await hashFile(destination), { sha256: pointer.oid, bytes: pointer.size });
    assert.deepEqual(await tempFilesIn(dataDir()), []);
  });

  it('counts a destination that already has the right content as done', async () => {
    const file = inc.missingFiles[5]!;
    const pointer = await headPointer(inc, file);
    const destination = join(inc.tableDir, file);
    const mtime = (await stat(destination)).mtimeMs;
    assert.deepEqual(await copyVerifiedObject(lfsObjectPath(inc.gitDir, pointer), pointer, destination), { sha256: pointer.oid, bytes: pointer.size, already: true });
    assert.equal((await stat(destination)).mtimeMs, mtime);
  });

  it('refuses a corrupted object: throws with expected and actual, writes nothing', async () => {
    const file = inc.corruptedFiles[0]!;
    const pointer = await headPointer(inc, file);
    const destination = join(inc.tableDir, file);
    await assert.rejects(copyVerifiedObject(lfsObjectPath(inc.gitDir, pointer), pointer, destination), (err: unknown) => {
      assert.ok(err instanceof LfsObjectMismatchError);
      assert.equal(err.name, 'LfsObjectMismatchError');
      assert.deepEqual(err.expected, { oid: pointer.oid, size: pointer.size });
      assert.equal(err.actual.size, pointer.size);
      assert.notEqual(err.actual.oid, pointer.oid);
      return true;
    });
    await assert.rejects(stat(destination), { code: 'ENOENT' });
    assert.deepEqual(await tempFilesIn(dataDir()), []);
  });

  it('refuses an object of the wrong size without creating a temp file', async () => {
    const file = inc.corruptedFiles[1]!;
    const pointer = await headPointer(inc, file);
    const objectPath = lfsObjectPath(inc.gitDir, pointer);
    await writeFile(objectPath, (await readFile(objectPath)).subarray(0, 100));
    const destination = join(inc.tableDir, file);
    await assert.rejects(copyVerifiedObject(objectPath, pointer, destination), (err: unknown) => err instanceof LfsObjectMismatchError && err.actual.size === 100);
    await assert.rejects(stat(destination), { code: 'ENOENT' });
    assert.deepEqual(await tempFilesIn(dataDir()), []);
  });

  it('refuses to overwrite a destination with other content', async () => {
    const file = inc.missingFiles[6]!;
    const pointer = await headPointer(inc, file);
    const destination = join(inc.tableDir, file);
    const other = randomBytes(pointer.size);
    await writeFile(destination, other);
    try {
      await assert.rejects(copyVerifiedObject(lfsObjectPath(inc.gitDir, pointer), pointer, destination), (err: unknown) => {
        assert.ok(err instanceof LfsDestinationConflictError);
        assert.equal(err.actual.oid, createHash('sha256').update(other).digest('hex'));
        return true;
      });
      assert.deepEqual(await readFile(destination), other);
      // Other size: refused too, without hashing it.
      await writeFile(destination, 'short');
      await assert.rejects(copyVerifiedObject(lfsObjectPath(inc.gitDir, pointer), pointer, destination), { name: 'LfsDestinationConflictError' });
      assert.equal(await readFile(destination, 'utf8'), 'short');
      assert.deepEqual(await tempFilesIn(dataDir()), []);
    } finally {
      await rm(destination);
    }
  });

  it("replaces the pointer's own text only when asked (as git lfs checkout does)", async () => {
    const file = inc.missingFiles[7]!;
    const pointer = await headPointer(inc, file);
    const destination = join(inc.tableDir, file);
    await writeFile(destination, formatLfsPointer(pointer));
    await assert.rejects(copyVerifiedObject(lfsObjectPath(inc.gitDir, pointer), pointer, destination), (err: unknown) => err instanceof LfsDestinationConflictError && err.actual.kind === 'pointer');
    const result = await copyVerifiedObject(lfsObjectPath(inc.gitDir, pointer), pointer, destination, { replacePointerFile: true });
    assert.equal(result.already, false);
    assert.deepEqual(await hashFile(destination), { sha256: pointer.oid, bytes: pointer.size });
  });

  it('throws LfsObjectMissingError for an object not in the store', async () => {
    const file = inc.missingFiles[8]!;
    const pointer = await headPointer(inc, file);
    const objectPath = lfsObjectPath(inc.gitDir, pointer);
    await rm(objectPath);
    await assert.rejects(copyVerifiedObject(objectPath, pointer, join(inc.tableDir, file)), (err: unknown) => err instanceof LfsObjectMissingError && err.oid === pointer.oid);
    await assert.rejects(stat(join(inc.tableDir, file)), { code: 'ENOENT' });
  });

  it('creates a missing directory for the destination, and removes it again on a mismatch', async () => {
    const good = await headPointer(inc, inc.missingFiles[9]!);
    const bad = await headPointer(inc, inc.corruptedFiles[0]!);
    const fresh = join(inc.repoRoot, 'elsewhere', 'data');
    await assert.rejects(copyVerifiedObject(lfsObjectPath(inc.gitDir, bad), bad, join(fresh, 'x.lance')), { name: 'LfsObjectMismatchError' });
    await assert.rejects(stat(join(inc.repoRoot, 'elsewhere')), { code: 'ENOENT' });
    await copyVerifiedObject(lfsObjectPath(inc.gitDir, good), good, join(fresh, 'y.lance'));
    assert.equal((await hashFile(join(fresh, 'y.lance'))).sha256, good.oid);
  });
});

describe('restoring the incident from the LFS store', () => {
  let inc: LanceIncident;
  before(async () => {
    inc = await buildLanceIncident({ newRows: 40, missing: 20 });
  });
  after(() => inc?.cleanup());

  it('gives back a table whose full scan returns every row', async () => {
    const found = await findPointers(inc.repoRoot, inc.missingFiles.map((f) => repoPath(inc, f)));
    assert.equal(found.size, inc.missingFiles.length);
    for (const file of inc.missingFiles) {
      const { pointer } = found.get(repoPath(inc, file))!;
      const check = await verifyLfsObject(inc.gitDir, pointer);
      assert.ok(check.verified, check.problem);
      const destination = join(inc.tableDir, file);
      await mkdir(dirname(destination), { recursive: true });
      await copyVerifiedObject(check.objectPath, pointer, destination);
    }
    const table = await (await lancedb.connect(inc.dbDir)).openTable('images');
    try {
      assert.equal(await table.version(), inc.newVersion);
      assert.equal(await table.countRows(), inc.newRows);
      const rows = await table.query().toArray();
      assert.equal(rows.length, inc.newRows);
      assert.deepEqual(rows.map((r) => Number(r.id)).sort((a, b) => a - b), Array.from({ length: inc.newRows }, (_, i) => i));
    } finally {
      table.close();
    }
    // git sees the restored files as unchanged (the clean filter yields the same pointers).
    assert.equal(await git(inc.repoRoot, 'status', '--porcelain', '--', 'db'), '');
  });
});

describe('findPointers at scale', () => {
  let repo: string;
  const count = 3000;
  const paths = Array.from({ length: count }, (_, i) => `store/${String(i % 7)}/obj-${i}.bin`);
  const pointers = paths.map((p) => ({ oid: createHash('sha256').update(p).digest('hex'), size: p.length * 1000 }));
  before(async () => {
    repo = await mkdtemp(join(tmpdir(), 'lfs-scale-'));
    await git(repo, 'init', '--quiet', '-b', 'main');
    await git(repo, 'config', 'user.name', 't');
    await git(repo, 'config', 'user.email', 't@example.invalid');
    for (const [i, p] of paths.entries()) {
      await mkdir(join(repo, dirname(p)), { recursive: true });
      await writeFile(join(repo, p), formatLfsPointer(pointers[i]!));
    }
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '--quiet', '-m', 'pointers');
    await rm(join(repo, 'store'), { recursive: true });
  });
  after(() => rm(repo, { recursive: true, force: true }));

  // How fast: bench/pointers.ts (npm run bench -- pointers), against git doing the same lookups.
  it(`resolves ${count} paths at HEAD and then from history`, async () => {
    const atHead = await findPointers(repo, paths);
    assert.equal(atHead.size, count);
    paths.forEach((p, i) => assert.deepEqual(atHead.get(p), { pointer: pointers[i], source: 'head' }));

    await git(repo, 'rm', '-r', '--quiet', 'store');
    await git(repo, 'commit', '--quiet', '-m', 'gone');
    const inHistory = await findPointers(repo, paths);
    assert.equal(inHistory.size, count);
    assert.ok([...inHistory.values()].every((f) => f.source === 'history'));
  });
});
