// The path-safety boundary on its own, on plain directories: what a manifest may name, and where a
// table-relative path may lead through symlinks (existing, dangling, chained, looping) before a
// restore writes through it.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UnsafePathError, isUnsafePathError } from '../../src/engines/lance/errors';
import { checkManifestPath, resolveIn, resolveInsideTable, unsafeReason } from '../../src/engines/lance/path-safety';

let work: string;
let tableDir: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lance-paths-'));
  tableDir = join(work, 'images.lance');
  await mkdir(join(tableDir, 'data'), { recursive: true });
  await writeFile(join(tableDir, 'data', 'a.lance'), 'a');
  await mkdir(join(work, 'outside'));
  await writeFile(join(work, 'outside', 'secret'), 'x');
});
after(() => rm(work, { recursive: true, force: true }));

/** assert.throws validator: UnsafePathError naming `source` and `path`, with a reason matching `why`. */
const unsafe = (source: string, path: string, why: RegExp) => (err: unknown) => {
  assert.ok(err instanceof UnsafePathError, `expected UnsafePathError, got ${String(err)}`);
  assert.ok(isUnsafePathError(err));
  assert.equal(err.path, path);
  assert.ok(err.message.includes(source), `message ${JSON.stringify(err.message)} names ${source}`);
  assert.match(err.reason, why);
  return true;
};

const BAD_NAMES = [
  ['', /empty/],
  ['/etc/passwd', /absolute/],
  ['C:/x', /absolute/],
  ['c:x', /absolute/],
  ['data/../../x', /"\.\." segment/],
  ['..', /"\.\." segment/],
  ['data/..', /"\.\." segment/],
  ['data\\x', /backslash/],
  ['..\\x', /backslash/],
  ['data/x\0', /NUL/],
] as const;

describe('what a manifest may name', () => {
  test('plain relative paths pass; empty, absolute, "..", backslash and NUL are refused with the reason', () => {
    for (const ok of ['data/a.lance', 'a', './data/x', 'data//x', 'data/..x', '...']) assert.equal(unsafeReason(ok), undefined, ok);
    for (const [path, why] of BAD_NAMES) {
      assert.match(unsafeReason(path) ?? '', why, JSON.stringify(path));
      assert.throws(() => checkManifestPath(path, '_versions/3.manifest'), unsafe('_versions/3.manifest', path, why));
    }
  });
});

describe('resolveInsideTable', () => {
  test('paths inside the table resolve to real absolute paths, existing or not', () => {
    const root = realpathSync(tableDir);
    assert.equal(resolveInsideTable(tableDir, 'data/a.lance'), join(root, 'data', 'a.lance'));
    assert.equal(resolveInsideTable(tableDir, 'data/not-there-yet.lance'), join(root, 'data', 'not-there-yet.lance'));
    assert.equal(resolveInsideTable(tableDir, 'new-dir/deeper/x'), join(root, 'new-dir', 'deeper', 'x'));
    assert.equal(resolveInsideTable(tableDir, './data//a.lance'), join(root, 'data', 'a.lance'));
  });

  test('every unsafe name is refused before the disk is looked at', () => {
    for (const [path, why] of BAD_NAMES) assert.throws(() => resolveInsideTable(tableDir, path), unsafe(tableDir, path, why));
  });

  test('symlinks: inside is followed, outside is refused (file, directory, dangling, chained, looping)', async () => {
    const root = realpathSync(tableDir);
    await mkdir(join(tableDir, 'moved'));
    await writeFile(join(tableDir, 'moved', 'b.lance'), 'b');
    await symlink('../moved/b.lance', join(tableDir, 'data', 'inside.lance'));
    assert.equal(resolveInsideTable(tableDir, 'data/inside.lance'), join(root, 'moved', 'b.lance'));

    await symlink(join(work, 'outside', 'secret'), join(tableDir, 'data', 'out.lance'));
    assert.throws(() => resolveInsideTable(tableDir, 'data/out.lance'), unsafe(tableDir, 'data/out.lance', /data\/out\.lance is a symlink to .*outside the table/));

    await symlink(join(work, 'outside'), join(tableDir, 'linked-dir'));
    assert.throws(() => resolveInsideTable(tableDir, 'linked-dir/new.lance'), unsafe(tableDir, 'linked-dir/new.lance', /^linked-dir is a symlink to .*outside the table/));

    // A dangling link pointing outside is refused before anything is written through it.
    await symlink('/nonexistent/target.lance', join(tableDir, 'data', 'dangling.lance'));
    assert.throws(() => resolveInsideTable(tableDir, 'data/dangling.lance'), unsafe(tableDir, 'data/dangling.lance', /symlink to \/nonexistent\/target\.lance/));
    // So is a chain of dangling links whose first hop stays inside, and a loop.
    await symlink('dangling.lance', join(tableDir, 'data', 'hop.lance'));
    assert.throws(() => resolveInsideTable(tableDir, 'data/hop.lance'), unsafe(tableDir, 'data/hop.lance', /data\/dangling\.lance is a symlink to \/nonexistent/));
    await symlink('loop-b', join(tableDir, 'data', 'loop-a'));
    await symlink('loop-a', join(tableDir, 'data', 'loop-b'));
    assert.throws(() => resolveInsideTable(tableDir, 'data/loop-a'), unsafe(tableDir, 'data/loop-a', /too many levels of symlinks/));
    // A dangling link to a not-yet-existing file inside the table resolves to that file.
    await symlink('../moved/later.lance', join(tableDir, 'data', 'later.lance'));
    assert.equal(resolveInsideTable(tableDir, 'data/later.lance'), join(root, 'moved', 'later.lance'));
  });

  test('the table reached through a symlink is judged by its real path', async () => {
    const alias = join(work, 'alias.lance');
    await symlink(tableDir, alias);
    assert.equal(resolveInsideTable(alias, 'data/a.lance'), join(realpathSync(tableDir), 'data', 'a.lance'));
    assert.throws(() => resolveInsideTable(alias, 'data/out.lance'), unsafe(alias, 'data/out.lance', /outside the table/));
  });
});

describe('resolveIn (one inspection)', () => {
  test('names the manifest in its errors and keeps each lstat it made', () => {
    const root = realpathSync(tableDir);
    const lstats = new Map();
    assert.equal(resolveIn(root, 'data/a.lance', '_versions/2.manifest', 'data/a.lance', 0, lstats), join(root, 'data', 'a.lance'));
    assert.ok(lstats.has(join(root, 'data')) && lstats.has(join(root, 'data', 'a.lance')));
    assert.equal(lstats.get(join(root, 'data', 'absent')), undefined);
    resolveIn(root, 'data/absent/deeper', '_versions/2.manifest', 'data/absent/deeper', 0, lstats);
    assert.equal(lstats.get(join(root, 'data', 'absent')), null, 'an absent path is remembered as absent');
    assert.throws(() => resolveIn(root, '../x', '_versions/2.manifest', '../x', 0, lstats), unsafe('_versions/2.manifest', '../x', /"\.\." segment/));
  });
});
