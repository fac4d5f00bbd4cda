// The verified copy's hooks for a caller that heartbeats and can be cancelled, on real files: progress
// inside a file every 64 MiB, a per-file callback once the file is durable, and an AbortSignal
// checked between chunks that leaves no temp file and no destination behind.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { copyVerifiedObject, copyVerifiedObjects, hashFile, isAbortError, type CopyVerifiedItem } from '../../src/engines/lfs/store';
import { writeObject } from '../helpers/lfs-objects';

const MiB = 1024 * 1024;
/** Over 64 MiB, so at least one progress call comes from inside the file. */
const BIG = 67 * MiB + 123;

let work: string;
let big: CopyVerifiedItem['pointer'] & { path: string };

const object = (bytes: Buffer) => writeObject(work, bytes);

const item = (o: { path: string; oid: string; size: number }, destination: string): CopyVerifiedItem => ({ objectPath: o.path, pointer: { oid: o.oid, size: o.size }, destination });
const leftovers = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).filter((f) => f.includes('.restore-tmp-'));

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lfs-hooks-'));
  big = await object(randomBytes(BIG));
});
after(() => rm(work, { recursive: true, force: true }));

describe('copyVerifiedObjects hooks', () => {
  it('reports progress inside a file over 64 MiB, and the file once it is in place', async () => {
    const dir = join(work, 'progress');
    const destination = join(dir, 'big.lance');
    const progress: Array<{ index: number; bytes: number; size: number }> = [];
    const done: Array<{ index: number; present: number }> = [];
    const { results, error } = await copyVerifiedObjects([item(big, destination)], {
      onProgress: (p) => progress.push(p),
      onFileDone: async (result, index) => {
        assert.equal(result.bytes, BIG);
        done.push({ index, present: (await stat(destination)).size });
      },
    });
    assert.equal(error, undefined);
    assert.equal(results.length, 1);
    assert.ok(progress.length >= 1, 'at least one call from inside the file');
    assert.deepEqual(progress[0], { index: 0, bytes: 64 * MiB, size: BIG });
    assert.ok(progress.every((p) => p.bytes < BIG));
    assert.deepEqual(done, [{ index: 0, present: BIG }], 'fired once, with the file in place');
    assert.deepEqual(await leftovers(dir), []);
  });

  it('fires once per file in order; small files before a big one are durable before it is copied', async () => {
    const dir = join(work, 'order');
    const small = await Promise.all([1, 2, 3].map((n) => object(randomBytes(1000 * n))));
    const items = [item(small[0]!, join(dir, 'a')), item(small[1]!, join(dir, 'b')), item(big, join(dir, 'big')), item(small[2]!, join(dir, 'c'))];
    const events: string[] = [];
    const { results, error } = await copyVerifiedObjects(items, {
      batchSize: 64,
      onProgress: ({ index }) => {
        if (!events.includes(`progress ${index}`)) events.push(`progress ${index}`);
      },
      onFileDone: (_, index) => void events.push(`done ${index}`),
    });
    assert.equal(error, undefined);
    assert.equal(results.length, 4);
    assert.deepEqual(events, ['done 0', 'done 1', 'progress 2', 'done 2', 'done 3']);
  });

  it('an abort in the middle of a file stops the copy: no temp file, no destination, an AbortError', async () => {
    const dir = join(work, 'abort');
    const destination = join(dir, 'big.lance');
    const controller = new AbortController();
    const done: number[] = [];
    const { results, error } = await copyVerifiedObjects([item(big, destination)], {
      signal: controller.signal,
      onProgress: () => controller.abort(new Error('activity cancelled')),
      onFileDone: (_, index) => void done.push(index),
    });
    assert.ok(isAbortError(error), String(error));
    assert.equal((error as Error).name, 'AbortError');
    assert.match((error as Error).message, /activity cancelled/);
    assert.deepEqual(results, []);
    assert.deepEqual(done, []);
    assert.equal(existsSync(destination), false);
    assert.deepEqual(await leftovers(dir), []);
    assert.equal(existsSync(dir), false, 'the directory made for it is gone too');
  });

  it('an abort between files keeps the files before it and copies nothing after', async () => {
    const dir = join(work, 'between');
    await mkdir(dir);
    const small = await Promise.all([1, 2, 3].map((n) => object(randomBytes(2000 * n))));
    const controller = new AbortController();
    const { results, error } = await copyVerifiedObjects(
      small.map((o, i) => item(o, join(dir, `f${i}`))),
      { batchSize: 1, onFileDone: (_, index) => (index === 0 ? controller.abort() : undefined), signal: controller.signal },
    );
    assert.ok(isAbortError(error));
    assert.ok(results.length >= 1 && results.length < 3);
    assert.equal(existsSync(join(dir, 'f2')), false);
    assert.deepEqual(await leftovers(dir), []);
  });

  it('copyVerifiedObject throws the AbortError; an already aborted signal writes nothing', async () => {
    const dir = join(work, 'aborted');
    const destination = join(dir, 'big.lance');
    await assert.rejects(copyVerifiedObject(big.path, big, destination, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(existsSync(dir), false);
  });
});

describe('hashFile hooks', () => {
  it('reports progress every 64 MiB and stops on abort', async () => {
    const seen: number[] = [];
    const hashed = await hashFile(big.path, { onProgress: (bytes) => seen.push(bytes) });
    assert.equal(hashed.sha256, big.oid);
    assert.deepEqual(seen, [64 * MiB]);

    const controller = new AbortController();
    await assert.rejects(hashFile(big.path, { signal: controller.signal, onProgress: () => controller.abort() }), { name: 'AbortError' });
  });
});
