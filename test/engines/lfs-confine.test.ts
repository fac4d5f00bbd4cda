// A verified copy confined to a root (a table), on real files: a directory swapped for a symlink to
// outside the table while the copy runs (through the copy's own beforeItem hook) stops it with
// UnsafePathError naming the directory, and nothing is written outside: not the file, not its temp.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, realpath, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { isUnsafePathError } from '../../src/engines/lance/errors';
import { copyVerifiedObjects, type CopyVerifiedItem } from '../../src/engines/lfs/store';
import { writeObject } from '../helpers/lfs-objects';

let work: string;
let table: string;
let outside: string;
let n = 0;

const object = (bytes: Buffer) => writeObject(work, bytes);

const item = (o: { path: string; oid: string; size: number }, rel: string): CopyVerifiedItem => ({ objectPath: o.path, pointer: { oid: o.oid, size: o.size }, destination: join(table, rel) });

/** Every entry under `dir`, recursively. */
const tree = async (dir: string) => (await readdir(dir, { recursive: true })).sort();

/** What an attacker with write access to the table does: `rel` moved aside, a symlink to `outside` in its place. */
async function swapForSymlink(rel: string): Promise<void> {
  await rename(join(table, rel), join(table, `${rel}.moved`));
  await symlink(outside, join(table, rel));
}

function unsafeNaming(component: string) {
  return (error: unknown) => {
    assert.ok(isUnsafePathError(error), `expected UnsafePathError, got ${String(error)}`);
    // The copy's own checks (not the path resolution before it) say what changed during the copy.
    assert.match((error as Error).message, new RegExp(`\\b${component} is (a symlink|no longer the directory)[^]*during the copy`));
    return true;
  };
}

before(async () => {
  work = await realpath(await mkdtemp(join(tmpdir(), 'lfs-confine-')));
});
after(() => rm(work, { recursive: true, force: true }));
beforeEach(async () => {
  n += 1;
  table = join(work, `table${n}`);
  outside = join(work, `outside${n}`);
  await mkdir(join(table, 'data'), { recursive: true });
  await mkdir(join(table, '_indices'), { recursive: true });
  await mkdir(outside);
});

describe('copyVerifiedObjects confined to a root', () => {
  it('copies as before: nested directories made, existing files found in place', async () => {
    const [a, b] = await Promise.all([object(randomBytes(3000)), object(randomBytes(5000))]);
    await writeFile(join(table, 'data', 'b.lance'), await readFile(b.path));
    const { results, error } = await copyVerifiedObjects([item(a, '_indices/idx/part/a.idx'), item(b, 'data/b.lance')], { root: table });
    assert.equal(error, undefined);
    assert.deepEqual(results.map((r) => r.already), [false, true]);
    assert.deepEqual(await readFile(join(table, '_indices/idx/part/a.idx')), await readFile(a.path));
    assert.deepEqual((await tree(table)).filter((f) => f.includes('.restore-tmp-')), []);
  });

  it('a directory swapped for a symlink before a file is staged: refused, nothing made outside', async () => {
    const [a, b] = await Promise.all([object(randomBytes(3000)), object(randomBytes(4000))]);
    const { results, error } = await copyVerifiedObjects([item(a, '_indices/a.idx'), item(b, 'data/sub/b.lance')], {
      root: table,
      batchSize: 1,
      beforeItem: async (i) => (i === 1 ? swapForSymlink('data') : undefined),
    });
    assert.ok(unsafeNaming('data')(error));
    assert.match((error as Error).message, /data\/sub\/b\.lance/, 'the destination is named too');
    assert.equal(results.length, 1, 'the file before the swap is in place');
    assert.deepEqual(await tree(outside), [], 'no directory, file or temp file outside the table');
    assert.deepEqual(await tree(join(table, 'data.moved')), []);
  });

  it('a directory swapped after its file was staged, before it is placed: refused, the temp file removed', async () => {
    const [a, b] = await Promise.all([object(randomBytes(3000)), object(randomBytes(4000))]);
    // One batch: item 0's temp file is written into data/ before item 1's hook swaps data/ away.
    const { results, error } = await copyVerifiedObjects([item(a, 'data/a.lance'), item(b, '_indices/b.idx')], {
      root: table,
      beforeItem: async (i) => (i === 1 ? swapForSymlink('data') : undefined),
    });
    assert.ok(unsafeNaming('data')(error));
    assert.deepEqual(results, [], 'nothing placed');
    assert.deepEqual(await tree(outside), []);
    assert.deepEqual(await tree(join(table, 'data.moved')), [], 'the temp file went with the directory and was removed there');
    assert.equal(existsSync(join(table, '_indices', 'b.idx')), false, 'nothing after the failure is placed');
  });

  it('a directory replaced by another real directory before placing: refused (not the directory the copy opened)', async () => {
    const a = await object(randomBytes(3000));
    const { error } = await copyVerifiedObjects([item(a, 'data/a.lance'), item(a, '_indices/a.idx')], {
      root: table,
      beforeItem: async (i) => {
        if (i !== 1) return;
        await rename(join(table, 'data'), join(outside, 'data')); // moved out of the table whole
        await mkdir(join(table, 'data'));
      },
    });
    assert.ok(unsafeNaming('data')(error));
    assert.deepEqual(await tree(outside), ['data'], 'the moved directory holds no file and no temp file');
    assert.deepEqual(await tree(join(table, 'data')), []);
  });

  it('a symlink already on the way, even one pointing inside the table, is refused', async () => {
    const a = await object(randomBytes(1000));
    await symlink(join(table, '_indices'), join(table, 'alias'));
    const { error } = await copyVerifiedObjects([item(a, 'alias/a.idx')], { root: table });
    assert.ok(unsafeNaming('alias')(error));
    assert.deepEqual(await tree(join(table, '_indices')), []);
  });

  it('a destination outside the root is refused before anything is made', async () => {
    const a = await object(randomBytes(1000));
    const { error } = await copyVerifiedObjects([{ ...item(a, 'x'), destination: join(outside, 'x') }], { root: table });
    assert.ok(isUnsafePathError(error), String(error));
    assert.deepEqual(await tree(outside), []);
  });
});
