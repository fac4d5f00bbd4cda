// inspectTable against real tables written by @lancedb/lancedb, damaged the ways incident 1 was
// (files deleted, replaced by git-LFS pointers, truncated), plus crafted manifests with unsafe paths.
// Every test works on its own copy of a table made once.
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, readdir, rename, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as lancedb from '@lancedb/lancedb';
import { rewriteManifest } from '../helpers/lance-manifest';
import { LanceTableError, UnsafePathError, inspectTable, isUnsafePathError, type TableInspection } from '../../src/engines/lance/inspect';
import { parseManifest } from '../../src/format/lance/index';

const rows = (start: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: start + i, name: `img${start + i}`, vec: [1, 2, 3, 4].map((x) => x * (start + i)) }));

/**
 * Versions: 1 create (10 rows, fragment 0), 2 append (10, fragment 1), 3 delete id < 5 (deletion
 * file on fragment 0), 4 append (5, fragment 2), 5 scalar index on id.
 */
async function makeTable(dir: string, scheme: 'v1' | 'v2'): Promise<void> {
  const db = await lancedb.connect(dir);
  const options = scheme === 'v1' ? { storageOptions: { new_table_enable_v2_manifest_paths: 'false' } } : {};
  const table = await db.createTable('images', rows(0, 10), options);
  await table.add(rows(10, 10));
  await table.delete('id < 5');
  await table.add(rows(20, 5));
  await table.createIndex('id');
  table.close();
  db.close();
}

let work: string;
let seq = 0;
const masters: Record<'v1' | 'v2', string> = { v1: '', v2: '' };

/** A fresh copy of the master table: `{ dbDir, tableDir }`. */
async function copyTable(scheme: 'v1' | 'v2' = 'v1'): Promise<{ dbDir: string; tableDir: string }> {
  const dbDir = join(work, `copy-${++seq}`);
  await cp(masters[scheme], dbDir, { recursive: true });
  return { dbDir, tableDir: join(dbDir, 'images.lance') };
}

/** Data file path (table-relative) of fragment `id`, read from the version-5 manifest. */
async function fragmentFile(tableDir: string, id: number): Promise<string> {
  const manifest = parseManifest(await readFile(join(tableDir, '_versions', '5.manifest')), '5.manifest');
  return `data/${manifest.fragments.find((f) => f.id === id)!.files[0]!.path}`;
}

const byVersion = (inspection: TableInspection) => new Map(inspection.versions.map((v) => [v.version, v]));
const completeness = (inspection: TableInspection) => inspection.versions.map((v) => [v.version, v.complete]);

/** Runs a query on `version` with lancedb: 'ok' or the error message. */
async function scan(dbDir: string, version: number): Promise<string> {
  const db = await lancedb.connect(dbDir);
  const table = await db.openTable('images');
  try {
    await table.checkout(version);
    await table.query().toArray();
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  } finally {
    table.close();
    db.close();
  }
}

/** assert.rejects validator: UnsafePathError naming `manifest` and `path`, with a reason matching `why`. */
const unsafe = (manifest: string, path: string, why: RegExp) => (err: unknown) => {
  assert.ok(err instanceof UnsafePathError, `expected UnsafePathError, got ${String(err)}`);
  assert.ok(isUnsafePathError(err));
  assert.equal(err.name, 'UnsafePathError');
  assert.equal(err.path, path);
  assert.ok(err.message.includes(manifest), `message ${JSON.stringify(err.message)} names ${manifest}`);
  assert.ok(err.message.includes(JSON.stringify(path)), `message ${JSON.stringify(err.message)} names ${path}`);
  assert.match(err.reason, why);
  return true;
};

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lance-inspect-'));
  masters.v1 = join(work, 'master-v1');
  masters.v2 = join(work, 'master-v2');
  await makeTable(masters.v1, 'v1');
  await makeTable(masters.v2, 'v2');
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('inspectTable on healthy tables', () => {
  for (const scheme of ['v1', 'v2'] as const) {
    test(`${scheme} names: every version complete, rows and files as lancedb wrote them`, async () => {
      const { tableDir } = await copyTable(scheme);
      const inspection = await inspectTable(tableDir);
      assert.equal(inspection.scheme, scheme);
      assert.deepEqual(inspection.versions.map((v) => [v.version, v.rows, v.physicalRows, v.deletedRows, v.dataFiles]), [
        [1, 10, 10, 0, 1],
        [2, 20, 20, 0, 2],
        [3, 15, 20, 5, 2],
        [4, 20, 25, 5, 3],
        [5, 20, 25, 5, 3],
      ]);
      assert.ok(inspection.versions.every((v) => v.complete && !v.transactionMissing && v.transactionFile?.startsWith('_transactions/')));
      assert.equal(inspection.currentVersion, 5);
      assert.equal(inspection.latestCompleteVersion, 5);
      assert.deepEqual(inspection.orphans, []);
      assert.deepEqual(inspection.findings, []);
      const files = inspection.referencedFiles;
      assert.equal(files.filter((f) => f.kind === 'data').length, 3);
      assert.ok(files.every((f) => f.status === 'ok'));
      assert.ok(files.filter((f) => f.kind === 'data').every((f) => f.expectedSize !== undefined && f.expectedSize === f.actualSize));
      const deletions = files.filter((f) => f.kind === 'deletion');
      assert.equal(deletions.length, 1);
      assert.match(deletions[0]!.path, /^_deletions\/0-2-\d+\.arrow$/);
      const v5 = byVersion(inspection).get(5)!;
      assert.equal(v5.indices.length, 1);
      assert.match(v5.indices[0]!, /^_indices\/[0-9a-f-]{36}$/);
      assert.deepEqual(byVersion(inspection).get(4)!.indices, []);
    });
  }
});

describe('inspectTable on a longer history', () => {
  test('25 versions, one append each: fragments shared from version to version, a lost old file breaks every later version', async () => {
    const dbDir = join(work, `history-${++seq}`);
    const db = await lancedb.connect(dbDir);
    const table = await db.createTable('images', rows(0, 1));
    for (let id = 1; id < 25; id++) await table.add(rows(id, 1));
    table.close();
    db.close();
    const tableDir = join(dbDir, 'images.lance');
    const healthy = await inspectTable(tableDir);
    assert.equal(healthy.scheme, 'v2');
    assert.deepEqual(healthy.versions.map((v) => [v.version, v.dataFiles, v.rows, v.complete]), Array.from({ length: 25 }, (_, i) => [i + 1, i + 1, i + 1, true]));
    assert.equal(healthy.referencedFiles.length, 25);
    assert.deepEqual(healthy.findings, []);

    // Version 11 added fragment 10: each version from 11 on lacks exactly its file.
    const v11 = parseManifest(await readFile(join(tableDir, '_versions', '18446744073709551604.manifest')), 'v11');
    const gone = `data/${v11.fragments.find((f) => f.id === 10)!.files[0]!.path}`;
    await rm(join(tableDir, gone));
    const broken = await inspectTable(tableDir);
    assert.deepEqual(broken.versions.map((v) => v.missing), Array.from({ length: 25 }, (_, i) => (i + 1 >= 11 ? [gone] : [])));
    assert.equal(broken.latestCompleteVersion, 10);
    assert.equal(broken.referencedFiles.find((f) => f.path === gone)?.status, 'missing');
    assert.equal(broken.referencedFiles.filter((f) => f.status === 'ok').length, 24);
  });
});

describe('inspectTable on damaged tables', () => {
  test('deleted data file: versions needing it incomplete, older ones complete, agreeing with lancedb scans', async () => {
    const { dbDir, tableDir } = await copyTable('v1');
    const gone = await fragmentFile(tableDir, 2); // appended in version 4
    await rm(join(tableDir, gone));
    const inspection = await inspectTable(tableDir);
    assert.deepEqual(completeness(inspection), [[1, true], [2, true], [3, true], [4, false], [5, false]]);
    assert.deepEqual(byVersion(inspection).get(4)!.missing, [gone]);
    assert.deepEqual(byVersion(inspection).get(5)!.missing, [gone]);
    assert.equal(inspection.currentVersion, 5);
    assert.equal(inspection.latestCompleteVersion, 3);
    assert.equal(inspection.referencedFiles.find((f) => f.path === gone)?.status, 'missing');
    // Lance agrees: the current version's scan fails with the incident's error, version 3 reads.
    assert.match(await scan(dbDir, 5), /Not found: .*data\/.*\.lance/);
    assert.equal(await scan(dbDir, 3), 'ok');
  });

  test('deleted deletion file and index folder are missing too', async () => {
    const { tableDir } = await copyTable('v1');
    const first = await inspectTable(tableDir);
    const deletion = first.referencedFiles.find((f) => f.kind === 'deletion')!.path;
    const index = byVersion(first).get(5)!.indices[0]!;
    await rm(join(tableDir, deletion));
    await rm(join(tableDir, index), { recursive: true });
    const inspection = await inspectTable(tableDir);
    assert.deepEqual(completeness(inspection), [[1, true], [2, true], [3, false], [4, false], [5, false]]);
    assert.deepEqual(byVersion(inspection).get(3)!.missing, [deletion]);
    assert.deepEqual(byVersion(inspection).get(5)!.missing, [deletion, index]);
    assert.equal(inspection.latestCompleteVersion, 2);
  });

  test('data file replaced by a git-LFS pointer is reported in pointers', async () => {
    const { tableDir } = await copyTable('v2');
    // Fragment 1's file: the data file version 2 adds.
    const v2 = parseManifest(await readFile(join(tableDir, '_versions', '18446744073709551613.manifest')), 'v2');
    const v1 = parseManifest(await readFile(join(tableDir, '_versions', '18446744073709551614.manifest')), 'v1');
    const added = `data/${v2.fragments.find((f) => !v1.fragments.some((g) => g.id === f.id))!.files[0]!.path}`;
    await writeFile(join(tableDir, added), `version https://git-lfs.github.com/spec/v1\noid sha256:${'4d'.repeat(32)}\nsize 1532\n`);
    const inspection = await inspectTable(tableDir);
    assert.deepEqual(completeness(inspection), [[1, true], [2, false], [3, false], [4, false], [5, false]]);
    for (const v of [2, 3, 4, 5]) {
      assert.deepEqual(byVersion(inspection).get(v)!.pointers, [added]);
      assert.deepEqual(byVersion(inspection).get(v)!.missing, []);
      assert.deepEqual(byVersion(inspection).get(v)!.wrongSize, [], 'a pointer is not repeated as a wrong size');
    }
    assert.equal(inspection.latestCompleteVersion, 1);
    assert.equal(inspection.referencedFiles.find((f) => f.path === added)?.status, 'pointer');
  });

  test('truncated data file is reported in wrongSize', async () => {
    const { tableDir } = await copyTable('v1');
    const file = await fragmentFile(tableDir, 0); // in every version
    const expected = (await readFile(join(tableDir, file))).length;
    await truncate(join(tableDir, file), 1000);
    const inspection = await inspectTable(tableDir);
    assert.ok(inspection.versions.every((v) => !v.complete && v.missing.length === 0));
    for (const v of inspection.versions) assert.deepEqual(v.wrongSize, [{ path: file, expected, actual: 1000 }]);
    assert.equal(inspection.latestCompleteVersion, null);
  });

  test('orphan file under data/ is reported', async () => {
    const { tableDir } = await copyTable('v1');
    await writeFile(join(tableDir, 'data', 'stray.lance'), 'x');
    await mkdir(join(tableDir, 'data', 'sub'));
    await writeFile(join(tableDir, 'data', 'sub', 'nested.lance'), 'y');
    const inspection = await inspectTable(tableDir);
    assert.deepEqual(inspection.orphans, ['data/stray.lance', 'data/sub/nested.lance']);
    assert.equal(inspection.latestCompleteVersion, 5);
  });

  test('missing transaction file: flagged, version still complete', async () => {
    const { tableDir } = await copyTable('v1');
    const v5 = byVersion(await inspectTable(tableDir)).get(5)!;
    await rm(join(tableDir, v5.transactionFile!));
    const inspection = await inspectTable(tableDir);
    assert.equal(byVersion(inspection).get(5)!.transactionMissing, true);
    assert.equal(byVersion(inspection).get(5)!.complete, true);
    assert.deepEqual(inspection.findings.map((f) => f.code), ['TRANSACTION_FILES_MISSING']);
  });

  test('unreadable manifest is a finding, not a crash', async () => {
    const { tableDir } = await copyTable('v1');
    await writeFile(join(tableDir, '_versions', '5.manifest'), 'not a manifest at all');
    const inspection = await inspectTable(tableDir);
    const v5 = byVersion(inspection).get(5)!;
    assert.equal(v5.complete, false);
    assert.match(v5.unreadable!, /magic number/);
    assert.deepEqual(inspection.findings.map((f) => [f.code, f.file]), [['MANIFEST_UNREADABLE', '_versions/5.manifest']]);
    assert.equal(inspection.currentVersion, 5);
    assert.equal(inspection.latestCompleteVersion, 4);
  });

  test('an unreadable manifest between readable ones: the versions around it are judged on their own files', async () => {
    const { tableDir } = await copyTable('v1');
    const gone = await fragmentFile(tableDir, 1); // appended in version 2, in every version after
    await rm(join(tableDir, gone));
    await writeFile(join(tableDir, '_versions', '3.manifest'), 'not a manifest at all');
    const inspection = await inspectTable(tableDir);
    assert.deepEqual(completeness(inspection), [[1, true], [2, false], [3, false], [4, false], [5, false]]);
    assert.deepEqual(inspection.versions.map((v) => [v.version, v.dataFiles, v.rows, v.missing]), [
      [1, 1, 10, []],
      [2, 2, 20, [gone]],
      [3, 0, 0, []],
      [4, 3, 20, [gone]],
      [5, 3, 20, [gone]],
    ]);
    assert.match(byVersion(inspection).get(3)!.unreadable!, /magic number/);
    assert.equal(inspection.latestCompleteVersion, 1);
    assert.deepEqual(inspection.findings.map((f) => f.code), ['MANIFEST_UNREADABLE']);
  });

  test('mixed naming schemes and empty _versions are refused', async () => {
    const { tableDir } = await copyTable('v1');
    await cp(join(tableDir, '_versions', '1.manifest'), join(tableDir, '_versions', '18446744073709551614.manifest'));
    await assert.rejects(inspectTable(tableDir), (err: unknown) => {
      assert.ok(err instanceof LanceTableError);
      assert.match(err.message, /_versions: found both manifest naming schemes/);
      return true;
    });
    for (const name of await readdir(join(tableDir, '_versions'))) {
      if (name.endsWith('.manifest')) await rename(join(tableDir, '_versions', name), join(tableDir, name));
    }
    await assert.rejects(inspectTable(tableDir), /_versions: no manifest/);
    await assert.rejects(inspectTable(join(work, 'nowhere')), /nowhere\/_versions: no such directory/);
  });
});

describe('untrusted manifest paths', () => {
  const editPath = (path: string) => (m: Record<string, any>) => {
    m.fragments[0].files[0].path = path;
  };

  for (const [label, path, why] of [
    ['".." segments', '../../../../etc/passwd', /"\.\." segment/],
    ['".." inside', 'sub/../../_versions/1.manifest', /"\.\." segment/],
    ['an absolute path', '/etc/passwd', /absolute/],
    ['a backslash', '..\\..\\etc\\passwd', /backslash/],
    ['a NUL byte', 'a\0b.lance', /NUL/],
  ] as const) {
    test(`data file path with ${label}: UnsafePathError naming the manifest and the path`, async () => {
      const { tableDir } = await copyTable('v1');
      await rewriteManifest(tableDir, '4.manifest', editPath(path));
      await assert.rejects(inspectTable(tableDir), unsafe('_versions/4.manifest', path, why));
    });
  }

  test('the same unsafe path in several manifests: the error names the oldest', async () => {
    const { tableDir } = await copyTable('v1');
    await rewriteManifest(tableDir, '4.manifest', editPath('../x.lance'));
    await rewriteManifest(tableDir, '3.manifest', editPath('../x.lance'));
    await rewriteManifest(tableDir, '5.manifest', editPath('/abs.lance'));
    await assert.rejects(inspectTable(tableDir), unsafe('_versions/3.manifest', '../x.lance', /"\.\." segment/));
  });

  test('transaction file path with "..": UnsafePathError', async () => {
    const { tableDir } = await copyTable('v1');
    await rewriteManifest(tableDir, '2.manifest', (m) => {
      m.transactionFile = '../data/x.txn';
    });
    await assert.rejects(inspectTable(tableDir), unsafe('_versions/2.manifest', '../data/x.txn', /"\.\." segment/));
  });

  test('rewritten manifest with a safe path still parses (the crafting helper is sound)', async () => {
    const { tableDir } = await copyTable('v1');
    await rewriteManifest(tableDir, '5.manifest', editPath('renamed.lance'));
    const inspection = await inspectTable(tableDir);
    const v5 = byVersion(inspection).get(5)!;
    assert.deepEqual(v5.missing, ['data/renamed.lance']);
    assert.equal(v5.indices.length, 1, 'index section kept');
    assert.equal(v5.rows, 20);
  });

  test('data file that is a symlink to a file outside the table: UnsafePathError', async () => {
    const { tableDir } = await copyTable('v1');
    const file = await fragmentFile(tableDir, 2);
    const outside = join(work, `outside-${seq}.lance`);
    await cp(join(tableDir, file), outside);
    await rm(join(tableDir, file));
    await symlink(outside, join(tableDir, file));
    await assert.rejects(inspectTable(tableDir), unsafe('_versions/4.manifest', file, /is a symlink to .*outside the table/));
  });

  test('data/ itself a symlink outside the table: UnsafePathError; a symlink inside the table is fine', async () => {
    const { tableDir } = await copyTable('v1');
    const file = await fragmentFile(tableDir, 0);
    // Inside: data/<file> -> ../moved/<file>
    await mkdir(join(tableDir, 'moved'));
    await rename(join(tableDir, file), join(tableDir, 'moved', 'f.lance'));
    await symlink('../moved/f.lance', join(tableDir, file));
    assert.equal((await inspectTable(tableDir)).latestCompleteVersion, 5);
    // Outside: the whole data/ directory.
    const elsewhere = join(work, `data-elsewhere-${seq}`);
    await rename(join(tableDir, 'data'), elsewhere);
    await symlink(elsewhere, join(tableDir, 'data'));
    await assert.rejects(inspectTable(tableDir), unsafe('_versions/1.manifest', file, /^data is a symlink to .*outside the table/));
  });
});
