// The temp files a killed copy left beside its destinations, on real files (copyVerifiedObjects with
// adoptLeftovers, as a restore's retry calls it): a complete one is placed as it is (the destination
// is the leftover's inode, its mtime unchanged: nothing written), a partial or wrong one is removed and
// the object copied again, and nothing that is not one of our own temp files is followed or adopted.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, link, lstat, mkdir, mkdtemp, open, readdir, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { execa } from 'execa';
import { copyVerifiedObjects, type CopyVerifiedItem } from '../../src/engines/lfs/store';
import { formatLfsPointer } from '../../src/format/lfs/pointer';
import { writeObject } from '../helpers/lfs-objects';

type StoredObject = { path: string; oid: string; size: number };

let work: string;
let table: string;
let outside: string;
let n = 0;

const item = (o: StoredObject, rel: string): CopyVerifiedItem => ({ objectPath: o.path, pointer: { oid: o.oid, size: o.size }, destination: join(table, rel) });
const temps = async (dir: string) => (await readdir(dir)).filter((f) => f.includes('.restore-tmp-')).sort();
const node = async (path: string) => {
  const s = await stat(path, { bigint: true });
  return { ino: s.ino, mtimeNs: s.mtimeNs, atimeNs: s.atimeNs, nlink: s.nlink };
};

/** A temp file as a killed copy leaves it: `<destination>.restore-tmp-<hex tag>-<index>`, written with `bytes`. */
async function leftover(destination: string, bytes: Buffer, suffix = '5f3a09c1d2e4-7'): Promise<string> {
  const path = `${destination}.restore-tmp-${suffix}`;
  await writeFile(path, bytes, { mode: 0o644 });
  return path;
}

before(async () => {
  work = await realpath(await mkdtemp(join(tmpdir(), 'lfs-leftovers-')));
});
after(() => rm(work, { recursive: true, force: true }));
beforeEach(async () => {
  n += 1;
  table = join(work, `table${n}`);
  outside = join(work, `outside${n}`);
  await mkdir(join(table, 'data'), { recursive: true });
  await mkdir(outside);
});

describe('copyVerifiedObjects with adoptLeftovers', () => {
  for (const confined of [false, true]) {
    it(`adopts a complete leftover: the destination is its inode, unwritten${confined ? ' (confined to the table)' : ''}`, async () => {
      const small = await writeObject(work, randomBytes(200_000));
      const big = await writeObject(work, randomBytes(3 * 1024 * 1024 + 5)); // over 1 MiB: copied alone, hashed in chunks
      const items = [item(small, 'data/a.lance'), item(big, 'data/b.lance')];
      const leftovers = [await leftover(items[0]!.destination, await readFile(small.path)), await leftover(items[1]!.destination, await readFile(big.path), '00ff-12')];
      const partial = await leftover(items[0]!.destination, (await readFile(small.path)).subarray(0, 4096), 'abc-3'); // a second, partial one of the same file
      const was = await Promise.all(leftovers.map(node));

      const { results, error } = await copyVerifiedObjects(items, { adoptLeftovers: true, batchSize: 64, ...(confined ? { root: table } : {}) });
      assert.equal(error, undefined);
      assert.deepEqual(results, [
        { sha256: small.oid, bytes: small.size, already: false, adopted: true, leftoversRemoved: 1 },
        { sha256: big.oid, bytes: big.size, already: false, adopted: true },
      ]);
      for (const [i, it] of items.entries()) {
        const now = await node(it.destination);
        assert.equal(now.ino, was[i]!.ino, `${it.destination} is the leftover's inode: placed, not copied`);
        assert.equal(now.mtimeNs, was[i]!.mtimeNs, `${it.destination} was not written`);
        assert.equal(now.nlink, 1n, 'the temp name is gone');
      }
      await assert.rejects(lstat(partial), { code: 'ENOENT' });
      assert.deepEqual(await temps(join(table, 'data')), []);
    });
  }

  it('adopts one over a pointer text it replaces (replacePointerFile), by rename, through the open directory', async () => {
    const o = await writeObject(work, randomBytes(5000));
    const it0 = item(o, 'data/p.lance');
    await writeFile(it0.destination, formatLfsPointer(it0.pointer));
    const was = await node(await leftover(it0.destination, await readFile(o.path)));
    const { results, error } = await copyVerifiedObjects([it0], { adoptLeftovers: true, replacePointerFile: true, root: table });
    assert.equal(error, undefined);
    assert.deepEqual(results, [{ sha256: o.oid, bytes: o.size, already: false, adopted: true }]);
    assert.equal((await node(it0.destination)).ino, was.ino);
    assert.deepEqual(await temps(join(table, 'data')), []);
  });

  for (const [what, damage] of [
    ['partial', (bytes: Buffer) => bytes.subarray(0, bytes.length - 1000)],
    ['the right size, other bytes', (bytes: Buffer) => Buffer.concat([bytes.subarray(0, 100), Buffer.from([bytes[100]! ^ 0xff]), bytes.subarray(101)])],
  ] as const) {
    it(`removes a leftover (${what}) and copies the object again`, async () => {
      const o = await writeObject(work, randomBytes(50_000));
      const it0 = item(o, 'data/c.lance');
      const bad = await leftover(it0.destination, damage(await readFile(o.path)));
      const was = await node(bad);
      const held = await open(bad, 'r'); // keeps its inode number from being reused by the new copy
      const { results, error } = await copyVerifiedObjects([it0], { adoptLeftovers: true, root: table });
      await held.close();
      assert.equal(error, undefined);
      assert.deepEqual(results, [{ sha256: o.oid, bytes: o.size, already: false, leftoversRemoved: 1 }]);
      assert.notEqual((await node(it0.destination)).ino, was.ino, 'a new copy, not the leftover');
      await assert.rejects(lstat(bad), { code: 'ENOENT' });
      assert.deepEqual(await readFile(it0.destination), await readFile(o.path));
      assert.deepEqual(await temps(join(table, 'data')), []);
    });
  }

  // Removed, not refused: the name is ours (`<file>.restore-tmp-<hex>-<digits>` beside the file),
  // unlink removes the link and never what it points to, and a stray link must not block every retry.
  // It is never opened (O_NOFOLLOW): nothing outside is read, linked or placed.
  it('never follows a leftover that is a symlink, even to the right bytes: the link is removed, its target untouched', async () => {
    const o = await writeObject(work, randomBytes(40_000));
    const it0 = item(o, 'data/s.lance');
    const lure = join(outside, 'lure');
    await writeFile(lure, await readFile(o.path));
    await new Promise((r) => setTimeout(r, 20));
    const lureWas = await node(lure);
    const link = `${it0.destination}.restore-tmp-abcdef-1`;
    await symlink(lure, link);
    const { results, error } = await copyVerifiedObjects([it0], { adoptLeftovers: true, root: table });
    assert.equal(error, undefined);
    assert.deepEqual(results, [{ sha256: o.oid, bytes: o.size, already: false, leftoversRemoved: 1 }]);
    await assert.rejects(lstat(link), { code: 'ENOENT' });
    assert.deepEqual(await node(lure), lureWas, 'the target: same inode, one link, not read (atime), not written');
    assert.notEqual((await node(it0.destination)).ino, lureWas.ino);
    assert.deepEqual(await readFile(it0.destination), await readFile(o.path));
  });

  it('adopts only files made as ours (one link, not writable by others), never blocks on a FIFO, and touches no other name', async () => {
    const objects = await Promise.all([1, 2, 3].map(() => writeObject(work, randomBytes(30_000))));
    const items = objects.map((o, i) => item(o, `data/f${i}.lance`));
    // Right bytes, but a second name elsewhere could change them: not adopted, the name removed.
    const elsewhere = join(outside, 'linked');
    await writeFile(elsewhere, await readFile(objects[0]!.path));
    await link(elsewhere, `${items[0]!.destination}.restore-tmp-aa-1`);
    // Right bytes, group-writable: not as our temp files are made.
    await chmod(await leftover(items[1]!.destination, await readFile(objects[1]!.path)), 0o664);
    // A FIFO under the name: opening it for reading would wait for a writer.
    await execa('mkfifo', [`${items[2]!.destination}.restore-tmp-bb-2`]);
    // Not our names, or not beside the file: left as they are.
    const others = ['f0.lance.restore-tmp-XYZ-1', 'f0.lance.restore-tmp-aa-1.bak', 'xf0.lance.restore-tmp-aa-1', 'f0.lance.restore-tmp-aa-', 'f9.lance.restore-tmp-aa-1'];
    for (const name of others) await writeFile(join(table, 'data', name), await readFile(objects[0]!.path));
    await mkdir(join(table, 'sub'));
    const beside = join(table, 'sub', 'f0.lance.restore-tmp-aa-1');
    await writeFile(beside, await readFile(objects[0]!.path));

    const { results, error } = await copyVerifiedObjects(items, { adoptLeftovers: true, root: table });
    assert.equal(error, undefined);
    assert.deepEqual(results, objects.map((o) => ({ sha256: o.oid, bytes: o.size, already: false, leftoversRemoved: 1 })));
    assert.equal((await node(elsewhere)).nlink, 1n, 'the other name of the hard link stays');
    assert.notEqual((await node(items[0]!.destination)).ino, (await node(elsewhere)).ino);
    assert.deepEqual(await temps(join(table, 'data')), others.sort());
    assert.ok((await stat(beside)).isFile(), 'a temp-like name in another directory is not touched');
  });

  it('removes the leftovers of a file already in place, which stays as it is', async () => {
    const o = await writeObject(work, randomBytes(10_000));
    const it0 = item(o, 'data/d.lance');
    await writeFile(it0.destination, await readFile(o.path));
    const was = await node(it0.destination);
    await leftover(it0.destination, await readFile(o.path));
    const { results, error } = await copyVerifiedObjects([it0], { adoptLeftovers: true, root: table });
    assert.equal(error, undefined);
    assert.deepEqual(results, [{ sha256: o.oid, bytes: o.size, already: true, leftoversRemoved: 1 }]);
    assert.equal((await node(it0.destination)).ino, was.ino);
    assert.deepEqual(await temps(join(table, 'data')), []);
  });
});
