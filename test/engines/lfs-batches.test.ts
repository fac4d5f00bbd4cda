// copyVerifiedObjects in batches on a real repository (a LanceDB table committed through git-lfs
// that lost data files, test/helpers/lance-incident.ts): order, durability before each report, the
// first bad object stopping everything after it, and nothing left of an abandoned batch.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LfsDestinationConflictError, LfsObjectMismatchError, copyVerifiedObject, copyVerifiedObjects, hashFile, lfsObjectPath } from '../../src/engines/lfs/store';
import { buildLanceIncident, type LanceIncident } from '../../src/demo/lance-incident';
import { headPointer, tempFilesIn } from '../helpers/lfs-objects';

describe('copyVerifiedObjects (batches)', () => {
  let inc: LanceIncident;
  let scratch: string;
  before(async () => {
    inc = await buildLanceIncident({ newRows: 30, missing: 12, corruptObjects: 1 });
    scratch = await mkdtemp(join(tmpdir(), 'lfs-batch-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
    await inc?.cleanup();
  });
  const dataDir = () => join(inc.tableDir, 'data');
  const item = async (file: string, destination = join(inc.tableDir, file)) => {
    const pointer = await headPointer(inc, file);
    return { objectPath: lfsObjectPath(inc.gitDir, pointer), pointer, destination };
  };

  it('restores every item in order, and a second run finds them all in place without rewriting them', async () => {
    const good = inc.missingFiles.filter((f) => !inc.corruptedFiles.includes(f)).slice(0, 6);
    const items = await Promise.all(good.map((f) => item(f)));
    const first = await copyVerifiedObjects(items);
    assert.equal(first.error, undefined);
    assert.deepEqual(first.results, items.map((i) => ({ sha256: i.pointer.oid, bytes: i.pointer.size, already: false })));
    for (const i of items) assert.deepEqual(await hashFile(i.destination), { sha256: i.pointer.oid, bytes: i.pointer.size });
    assert.deepEqual(await tempFilesIn(dataDir()), []);
    const mtimes = await Promise.all(items.map(async (i) => (await stat(i.destination)).mtimeMs));
    const again = await copyVerifiedObjects(items);
    assert.equal(again.error, undefined);
    assert.deepEqual(again.results.map((r) => r.already), items.map(() => true));
    assert.deepEqual(await Promise.all(items.map(async (i) => (await stat(i.destination)).mtimeMs)), mtimes);
  });

  it('stops at the first bad object: the items before it are done, nothing of it or after it is written', async () => {
    const [a, b] = inc.missingFiles.filter((f) => !inc.corruptedFiles.includes(f)).slice(6, 8);
    const items = [await item(a!), await item(inc.corruptedFiles[0]!), await item(b!)];
    const { results, error } = await copyVerifiedObjects(items);
    assert.ok(error instanceof LfsObjectMismatchError, String(error));
    assert.deepEqual(results, [{ sha256: items[0]!.pointer.oid, bytes: items[0]!.pointer.size, already: false }]);
    assert.equal((await hashFile(items[0]!.destination)).sha256, items[0]!.pointer.oid);
    await assert.rejects(stat(items[1]!.destination), { code: 'ENOENT' });
    await assert.rejects(stat(items[2]!.destination), { code: 'ENOENT' });
    assert.deepEqual(await tempFilesIn(dataDir()), []);
  });

  it('never overwrites a file that appears at the destination after the object was verified', async () => {
    // Both items are verified and written to temp files before either is linked into place: the
    // second finds the destination taken by the first.
    const [a, b] = inc.missingFiles.filter((f) => !inc.corruptedFiles.includes(f)).slice(8, 10);
    const destination = join(scratch, 'contested.lance');
    const first = await item(a!, destination);
    const other = await item(b!, destination);
    const { results, error } = await copyVerifiedObjects([first, other]);
    assert.ok(error instanceof LfsDestinationConflictError, String(error));
    assert.equal(error.actual.oid, first.pointer.oid);
    assert.equal(results.length, 1);
    assert.equal((await hashFile(destination)).sha256, first.pointer.oid);
    // The same object twice: the second counts as already there.
    const twice = join(scratch, 'twice.lance');
    const same = await copyVerifiedObjects([{ ...first, destination: twice }, { ...first, destination: twice }]);
    assert.equal(same.error, undefined);
    assert.deepEqual(same.results.map((r) => r.already), [false, true]);
    assert.deepEqual(await tempFilesIn(scratch), []);
  });

  it('in batches: reports each batch once durable, and stops at the first bad object even in a later batch', async () => {
    const good = inc.missingFiles.filter((f) => !inc.corruptedFiles.includes(f));
    const out = join(scratch, 'batches');
    const items = [
      ...(await Promise.all(good.slice(0, 3).map((f, i) => item(f, join(out, `${i}.lance`))))),
      await item(inc.corruptedFiles[0]!, join(out, '3.lance')),
      await item(good[3]!, join(out, '4.lance')),
    ];
    const calls: Array<[number, number]> = [];
    const before: number[] = [];
    const { results, error } = await copyVerifiedObjects(items, {
      batchSize: 2,
      beforeItem: (i) => {
        before.push(i);
      },
      afterBatch: async (batch, first) => {
        calls.push([first, batch.length]);
        for (const [k, r] of batch.entries()) assert.equal((await hashFile(items[first + k]!.destination)).sha256, r.sha256, 'in place when reported');
      },
    });
    assert.ok(error instanceof LfsObjectMismatchError, String(error));
    assert.equal(results.length, 3);
    assert.deepEqual(calls, [[0, 2], [2, 1]]);
    assert.deepEqual(before, [0, 1, 2, 3]);
    assert.deepEqual((await readdir(out)).sort(), ['0.lance', '1.lance', '2.lance']);
  });

  it('in batches: a failure while placing one batch abandons the next one, already copied, without a trace', async () => {
    const good = inc.missingFiles.filter((f) => !inc.corruptedFiles.includes(f));
    const out = join(scratch, 'abandon');
    const items = [
      await item(good[0]!, join(out, 'taken.lance')),
      await item(good[1]!, join(out, 'taken.lance')), // other bytes for the same path: a conflict when placed
      await item(good[2]!, join(out, 'c.lance')),
      await item(good[3]!, join(out, 'd.lance')),
    ];
    const before: number[] = [];
    const { results, error } = await copyVerifiedObjects(items, { batchSize: 2, beforeItem: (i) => void before.push(i) });
    assert.ok(error instanceof LfsDestinationConflictError, String(error));
    assert.equal(results.length, 1);
    assert.deepEqual(before, [0, 1, 2, 3], 'the next batch was copied before this one was placed');
    assert.deepEqual(await readdir(out), ['taken.lance']);
    // An afterBatch that throws (a cancelled pause, say) stops the same way.
    await rm(out, { recursive: true });
    const thrown = await copyVerifiedObjects([items[0]!, items[2]!, items[3]!], {
      batchSize: 1,
      afterBatch: (_batch, first) => {
        if (first === 1) throw new Error('cancelled');
      },
    });
    assert.equal((thrown.error as Error).message, 'cancelled');
    assert.equal(thrown.results.length, 2);
    assert.deepEqual((await readdir(out)).sort(), ['c.lance', 'taken.lance']);
  });

  it('makes missing directories, and streams objects larger than 1 MiB with the same checks', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 5);
    const pointer = { oid: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
    const objectPath = join(scratch, 'store', 'big-object');
    await mkdir(dirname(objectPath), { recursive: true });
    await writeFile(objectPath, bytes);
    const destination = join(scratch, 'new', 'nested', 'big.lance');
    const { results, error } = await copyVerifiedObjects([{ objectPath, pointer, destination }, await item(inc.missingFiles[10]!, join(scratch, 'new', 'small.lance'))]);
    assert.equal(error, undefined);
    assert.deepEqual(results[0], { sha256: pointer.oid, bytes: pointer.size, already: false });
    assert.deepEqual(await readFile(destination), bytes);
    assert.equal((await copyVerifiedObject(objectPath, pointer, destination)).already, true);

    // Same size, one byte changed: refused after the streamed copy, the temp file removed.
    bytes[1234567] = bytes[1234567]! ^ 0xff;
    await writeFile(objectPath, bytes);
    const elsewhere = join(scratch, 'other', 'big.lance');
    await assert.rejects(copyVerifiedObject(objectPath, pointer, elsewhere), (err: unknown) => err instanceof LfsObjectMismatchError && err.actual.size === pointer.size && err.actual.oid !== pointer.oid);
    await assert.rejects(stat(join(scratch, 'other')), { code: 'ENOENT' });
    // Short: refused before anything is written.
    await writeFile(objectPath, bytes.subarray(0, 2 * 1024 * 1024));
    await assert.rejects(copyVerifiedObject(objectPath, pointer, elsewhere), (err: unknown) => err instanceof LfsObjectMismatchError && err.actual.size === 2 * 1024 * 1024);
    await assert.rejects(stat(join(scratch, 'other')), { code: 'ENOENT' });
    assert.deepEqual(await tempFilesIn(dirname(destination)), []);
  });

  it('refuses a small object that is longer than its pointer says', async () => {
    const file = inc.missingFiles[11]!;
    const pointer = await headPointer(inc, file);
    const objectPath = join(scratch, 'long-object');
    await writeFile(objectPath, Buffer.concat([await readFile(lfsObjectPath(inc.gitDir, pointer)), Buffer.from('x')]));
    const { results, error } = await copyVerifiedObjects([{ objectPath, pointer, destination: join(inc.tableDir, file) }]);
    assert.deepEqual(results, []);
    assert.ok(error instanceof LfsObjectMismatchError && error.actual.size === pointer.size + 1, String(error));
    await assert.rejects(stat(join(inc.tableDir, file)), { code: 'ENOENT' });
    assert.deepEqual(await tempFilesIn(dataDir()), []);
  });
});
