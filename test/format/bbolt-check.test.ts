// checkBbolt on dbs written by the real bbolt library (storectl bbolt-write, bbolt v1.4.3): clean
// dbs of every shape report nothing and count exactly the keys written; damaged meta pages; files
// that are not bbolt at all, or not readable as bbolt, give a clear error and never a hang. Each
// case also asks bbolt's own tx.Check (storectl bbolt-check) and pins what it says.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, truncate, writeFile } from 'node:fs/promises';
import { before, describe, test } from 'node:test';
import { bboltEngineCheck, writeBbolt, type WrittenBbolt } from '../../src/engines/bbolt/storectl-bbolt';
import { checkBbolt, type BboltReport } from '../../src/format/bbolt';
import { breakMetaChecksum, bucketTree, patch, readBytes, readFreelist, rewriteMeta } from '../helpers/bbolt-damage';
import { fresh, useScratch } from '../helpers/log-stores';

useScratch('bbolt-check-');

const T = { timeout: 60_000 };

const bucketMap = (r: BboltReport) => Object.fromEntries(r.stats.bucketKeys.map((b) => [b.bucket, b.keys]));

async function rejectsFile(path: string, reason: RegExp): Promise<void> {
  await assert.rejects(checkBbolt(path), (e: Error) => {
    assert.equal(e.name, 'BboltFileError');
    assert.ok(e.message.startsWith(`${path}: `), e.message);
    assert.match(e.message, reason);
    return true;
  });
}

describe('clean dbs written by bbolt', () => {
  let shaped: string;
  let written: WrittenBbolt;
  let etcd: string;
  let etcdWritten: WrittenBbolt;
  before(async () => {
    shaped = fresh();
    written = await writeBbolt(shaped, { keys: 20_000, buckets: 3, nested: true, largeValues: 20 });
    etcd = fresh();
    etcdWritten = await writeBbolt(etcd, { keys: 20_000, noFreelist: true, pageSize: 1024 });
  });

  test('nested, inline and empty buckets, overflow values, a persisted freelist: nothing found, every key counted per bucket', T, async () => {
    const r = await checkBbolt(shaped);
    assert.deepEqual(r.findings, []);
    assert.equal(r.healthy, true);
    assert.equal(r.engine, 'bbolt');
    assert.equal(r.path, shaped);
    assert.equal(r.pageSize, 4096);
    assert.deepEqual(await bboltEngineCheck(shaped), { opened: true, panicked: false, errors: [], truncated: false });

    assert.equal(r.stats.keys, written.keys);
    assert.deepEqual(bucketMap(r), written.buckets);
    assert.equal(r.stats.buckets, Object.keys(written.buckets).length);
    const root = (name: string) => r.stats.bucketKeys.find((b) => b.bucket === name)!.root;
    assert.equal(root('bucket-001/small'), 0, 'a bucket of 2 small keys is inline');
    assert.equal(root('bucket-001/empty'), 0, 'an empty bucket is inline');
    assert.notEqual(root('bucket-001/nested/deeper'), 0);

    // Both metas valid; bbolt uses the one with the higher txid, and a freelist page is persisted.
    assert.deepEqual(r.metas.map((m) => m.valid), [true, true]);
    const newer = r.metas[0]!.txid > r.metas[1]!.txid ? 0 : 1;
    assert.equal(r.activeMeta, newer);
    assert.equal(r.walkedMeta, newer);
    const meta = r.metas[newer]!;
    assert.equal(meta.pgid, written.pages);
    assert.notEqual(meta.freelist, null);
    assert.equal(r.stats.freePages, (await readFreelist(shaped)).ids.length);
    assert.ok(r.stats.freePages! > 0, 'the deleted keys freed pages');

    // Large values make leaves with overflow pages; the db is clean with a freelist, so every
    // overflow page was marked reachable (else it would be "unreachable unfreed").
    const tree = await bucketTree(shaped, 'bucket-000');
    assert.ok(tree.pages.some((p) => p.kind === 'leaf' && p.overflow >= 2), 'some leaf has overflow pages');
  });

  test('the older meta page\'s tree is clean too and holds the transaction before the last', T, async () => {
    const r0 = await checkBbolt(shaped);
    const older = r0.activeMeta === 0 ? 1 : 0;
    const r = await checkBbolt(shaped, { meta: older });
    assert.deepEqual(r.findings, []);
    assert.equal(r.walkedMeta, older);
    assert.equal(r.activeMeta, r0.activeMeta);
    // The last transaction deleted "gone-…" twins: the older tree still has some of them.
    assert.ok(r.stats.keys > written.keys, `${r.stats.keys} > ${written.keys}`);
  });

  test('etcd\'s way (no freelist persisted), 1 KiB pages: nothing found, unreachable pages count as free', T, async () => {
    const r = await checkBbolt(etcd);
    assert.deepEqual(r.findings, []);
    assert.equal(r.pageSize, 1024);
    assert.equal(r.metas[r.activeMeta!]!.freelist, null);
    assert.equal(r.stats.keys, 20_000);
    assert.deepEqual(bucketMap(r), etcdWritten.buckets);
    assert.ok(r.stats.freePages! > 0);
    assert.deepEqual((await bboltEngineCheck(etcd)).errors, []);
  });

  test('an empty db and one bucket holding one key', T, async () => {
    const empty = fresh();
    await writeBbolt(empty, { keys: 0 });
    const r = await checkBbolt(empty);
    assert.deepEqual(r.findings, []);
    assert.deepEqual(r.stats.bucketKeys, [{ bucket: 'bucket-000', keys: 0, root: 0 }]);
    const one = fresh();
    await writeBbolt(one, { keys: 1 });
    assert.deepEqual((await checkBbolt(one)).stats.bucketKeys, [{ bucket: 'bucket-000', keys: 1, root: 0 }]);
  });

  test('progress is reported and a signal stops the check with an AbortError', T, async () => {
    const seen: number[] = [];
    const r = await checkBbolt(etcd, { onProgress: (p) => seen.push(p.pagesVisited) });
    assert.ok(r.stats.pagesVisited > 4096, 'pages enough for progress during the walk');
    assert.ok(seen.length >= 3, `${seen.length} progress reports`);
    assert.equal(seen.at(-1), r.stats.pagesVisited);
    assert.deepEqual([...seen].sort((a, b) => a - b), seen);

    const ac = new AbortController();
    ac.abort(new Error('operator cancelled'));
    await assert.rejects(checkBbolt(shaped, { signal: ac.signal }), { name: 'AbortError', message: /operator cancelled/ });
    const mid = new AbortController();
    const stop = checkBbolt(etcd, { signal: mid.signal, onProgress: () => mid.abort() });
    await assert.rejects(stop, { name: 'AbortError' });
  });
});

describe('meta pages', () => {
  let base: string;
  let pageSize: number;
  before(async () => {
    base = fresh();
    await writeBbolt(base, { keys: 5000, buckets: 2 });
    pageSize = (await checkBbolt(base)).pageSize;
  });
  const copy = async () => {
    const p = fresh();
    await cp(base, p);
    return p;
  };

  test('a bad meta-0 checksum: meta-invalid for page 0, bbolt uses meta 1, and its own check says OK', T, async () => {
    const path = await copy();
    await breakMetaChecksum(path, pageSize, 0);
    const r = await checkBbolt(path);
    assert.deepEqual(r.findings, [{ code: 'meta-invalid', page: 0, stack: [], message: 'meta page 0: checksum error' }]);
    assert.equal(r.healthy, false);
    assert.equal(r.activeMeta, 1);
    assert.deepEqual([r.metas[0]!.valid, r.metas[0]!.error, r.metas[1]!.valid], [false, 'checksum error', true]);
    assert.equal(r.stats.keys, 5000);
    // bbolt silently opens with meta 1 (formats.md §6): only a checker that reads both metas sees it.
    assert.deepEqual(await bboltEngineCheck(path), { opened: true, panicked: false, errors: [], truncated: false });
  });

  test('the newer meta broken: bbolt falls back to the older one, whose tree is walked', T, async () => {
    const path = await copy();
    const clean = await checkBbolt(path);
    const newer = clean.activeMeta!;
    await breakMetaChecksum(path, pageSize, newer);
    const r = await checkBbolt(path);
    assert.equal(r.activeMeta, newer === 0 ? 1 : 0);
    assert.equal(r.walkedMeta, r.activeMeta);
    assert.deepEqual(r.findings.map((f) => [f.code, f.page]), [['meta-invalid', newer]]);
    assert.deepEqual((await bboltEngineCheck(path)).errors, []);
  });

  test('magic and version in bbolt\'s words; both metas invalid: a report with no active meta, and bbolt refuses to open', T, async () => {
    const path = await copy();
    await rewriteMeta(path, pageSize, 0, { version: 3 });
    await patch(path, pageSize + 16, Buffer.from([0, 0, 0, 0]));
    const r = await checkBbolt(path);
    assert.deepEqual(r.findings.map((f) => f.message), ['meta page 0: version mismatch', 'meta page 1: invalid database']);
    assert.equal(r.activeMeta, null);
    assert.equal(r.walkedMeta, null);
    assert.equal(r.stats.keys, 0);
    assert.deepEqual(await bboltEngineCheck(path), { opened: false, panicked: false, errors: ['version mismatch'], truncated: false });
    await assert.rejects(checkBbolt(path, { meta: 1 }), { name: 'BboltFileError', message: /meta page 1 is not valid \(invalid database\)/ });
  });
});

describe('files that are not readable bbolt: a clear error naming the file, never a hang', () => {
  let base: string;
  before(async () => {
    base = fresh();
    await writeBbolt(base, { keys: 1000 });
  });

  test('random bytes', T, async () => {
    const path = fresh();
    await writeFile(path, randomBytes(64 * 1024));
    await rejectsFile(path, /not a bbolt file: no meta page carries the bbolt magic/);
    assert.deepEqual(await bboltEngineCheck(path), { opened: false, panicked: false, errors: ['invalid database'], truncated: false });
  });

  test('truncated to 1.5 pages', T, async () => {
    const path = fresh();
    await cp(base, path);
    await truncate(path, 6144);
    await rejectsFile(path, /truncated: 6144 bytes, but a bbolt file of 4096-byte pages holds at least its 2 meta pages \(8192 bytes\)/);
    const e = await bboltEngineCheck(path);
    assert.equal(e.opened, false);
    assert.match(e.errors[0]!, /file size too small 6144/);
  });

  test('page size 0 in both metas (checksums resealed)', T, async () => {
    const path = fresh();
    await cp(base, path);
    await rewriteMeta(path, 4096, 0, { pageSize: 0 });
    await rewriteMeta(path, 4096, 1, { pageSize: 0 });
    await rejectsFile(path, /no usable page size: meta page 0 says 0, meta page 1 \(at byte 4096\) says 0/);
    const e = await bboltEngineCheck(path);
    assert.ok(e.errors.length > 0, 'bbolt does not accept it either');
  });

  test('empty, shorter than a meta page, a directory, a missing file', T, async () => {
    const empty = fresh();
    await writeFile(empty, '');
    await rejectsFile(empty, /not a bbolt file: 0 bytes/);
    const short = fresh();
    await writeFile(short, (await readBytes(base, 0, 79)));
    await rejectsFile(short, /not a bbolt file: 79 bytes, shorter than a meta page/);
    const dir = fresh();
    await mkdir(dir);
    await rejectsFile(dir, /not a regular file/);
    await rejectsFile(fresh(), /cannot open: ENOENT/);
  });
});
