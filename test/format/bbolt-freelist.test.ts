// checkBbolt and a persisted freelist (bbolt's default; etcd persists none): damaged freelists
// against bbolt's own tx.Check, overflow pages, the 0xFFFF count rule on a freelist of more than
// 65535 ids, and freelist or file damage that must give findings, never a crash.
import assert from 'node:assert/strict';
import { cp, truncate } from 'node:fs/promises';
import { before, describe, test } from 'node:test';
import { bboltEngineCheck, writeBbolt } from '../../src/engines/bbolt/storectl-bbolt';
import { checkBbolt, pageHeader, type BboltReport } from '../../src/format/bbolt';
import { bucketTree, forgeLargeFreelist, patch, readBytes, readFreelist, rewriteMeta, writeFreelistIds } from '../helpers/bbolt-damage';
import { fresh, useScratch } from '../helpers/log-stores';

useScratch('bbolt-freelist-');

const T = { timeout: 60_000 };
const PS = 4096;
const codes = (r: BboltReport) => r.findings.map((f) => [f.code, f.page]);
const OK = { opened: true, panicked: false, errors: [], truncated: false };

describe('a persisted freelist', () => {
  let base: string;
  let fl: Awaited<ReturnType<typeof readFreelist>>;
  let leaves: number[];
  let overflowing: { id: number; overflow: number };
  before(async () => {
    base = fresh();
    await writeBbolt(base, { keys: 5000, buckets: 2, largeValues: 10 });
    fl = await readFreelist(base);
    assert.ok(fl.ids.length >= 10, `${fl.ids.length} free pages`);
    assert.ok(fl.capacity > fl.ids.length, 'room for one more id in the freelist page');
    const pages = [...(await bucketTree(base, 'bucket-000')).pages, ...(await bucketTree(base, 'bucket-001')).pages];
    leaves = pages.filter((p) => p.kind === 'leaf').map((p) => p.id);
    overflowing = pages.find((p) => p.overflow > 0)!;
    assert.ok(overflowing, 'a leaf with overflow pages');
  });
  const copy = async () => {
    const p = fresh();
    await cp(base, p);
    return p;
  };

  test('a reachable page listed free: reachable-freed, as bbolt says', T, async () => {
    const path = await copy();
    await writeFreelistIds(path, PS, fl.page, [...fl.ids, leaves[0]!]);
    const r = await checkBbolt(path);
    assert.deepEqual(r.findings.map((f) => [f.code, f.message]), [['reachable-freed', `page ${leaves[0]}: reachable freed`]]);
    assert.equal(r.findings[0]!.stack.at(-1), leaves[0], 'the stack leads to it');
    assert.deepEqual((await bboltEngineCheck(path)).errors, [`page ${leaves[0]}: reachable freed`]);
  });

  test('an overflow page listed free: reachable-freed, which bbolt does not see (it checks only the first page)', T, async () => {
    const path = await copy();
    const tail = overflowing.id + overflowing.overflow;
    await writeFreelistIds(path, PS, fl.page, [...fl.ids, tail]);
    const r = await checkBbolt(path);
    assert.deepEqual(codes(r), [['reachable-freed', tail]]);
    assert.deepEqual(await bboltEngineCheck(path), OK);
  });

  test('a page listed twice: already-freed, as bbolt says', T, async () => {
    const path = await copy();
    const twice = fl.ids[3]!;
    await writeFreelistIds(path, PS, fl.page, [...fl.ids, twice]);
    const r = await checkBbolt(path);
    assert.deepEqual(r.findings.map((f) => [f.code, f.message]), [['already-freed', `page ${twice}: already freed`]]);
    assert.equal(r.stats.freePages, fl.ids.length + 1);
    assert.deepEqual((await bboltEngineCheck(path)).errors, [`page ${twice}: already freed`]);
  });

  test('a page neither reachable nor listed: unreachable-unfreed, as bbolt says', T, async () => {
    const path = await copy();
    const dropped = fl.ids[5]!;
    await writeFreelistIds(path, PS, fl.page, fl.ids.filter((id) => id !== dropped));
    const r = await checkBbolt(path);
    assert.deepEqual(r.findings.map((f) => [f.code, f.message]), [['unreachable-unfreed', `page ${dropped}: unreachable unfreed`]]);
    assert.deepEqual((await bboltEngineCheck(path)).errors, [`page ${dropped}: unreachable unfreed`]);
  });

  test('more than 0xFFFF free pages: the count in the first id, read by us and by bbolt alike', T, async () => {
    const path = await copy();
    const { freePages, page } = await forgeLargeFreelist(path, 70_000);
    assert.equal(pageHeader(await readBytes(path, page * PS, 16)).count, 0xffff);
    const r = await checkBbolt(path);
    assert.deepEqual(r.findings, []);
    assert.equal(r.stats.freePages, freePages);
    assert.ok(freePages > 0xffff);
    assert.equal(r.stats.keys, 5000);
    assert.deepEqual(await bboltEngineCheck(path), OK);

    // The same count claiming more ids than the page holds: malformed, and the freelist is not used.
    const huge = Buffer.alloc(8);
    huge.writeBigUInt64LE(1n << 40n);
    await patch(path, page * PS + 16, huge);
    const r2 = await checkBbolt(path);
    assert.deepEqual(codes(r2), [['malformed-page', page]]);
    assert.match(r2.findings[0]!.message, new RegExp(`^page ${page}: freelist count 1099511627776 does not fit in its \\d+ bytes`));
    const e = await bboltEngineCheck(path);
    assert.ok(e.panicked || e.errors.length > 0, 'bbolt does not pass it');
  });

  test('the meta\'s freelist pointing at a leaf, or past the end: bbolt\'s words or out-of-bounds, no crash', T, async () => {
    const path = await copy();
    const active = (await checkBbolt(path)).activeMeta!;
    await rewriteMeta(path, PS, active, { freelist: leaves[0]! });
    const r = await checkBbolt(path);
    assert.deepEqual(r.findings[0], { code: 'invalid-page-type', page: leaves[0], stack: [], message: `invalid freelist page: ${leaves[0]}, page type is leaf` });
    const e = await bboltEngineCheck(path);
    assert.ok(e.panicked && e.errors.some((m) => m.includes(`invalid freelist page: ${leaves[0]}, page type is leaf`)), JSON.stringify(e));

    await rewriteMeta(path, PS, active, { freelist: 10_000_000 });
    const r2 = await checkBbolt(path);
    assert.deepEqual(codes(r2), [['out-of-bounds', 10_000_000]]);
  });

  test('a file cut in the middle of its tree: out-of-bounds findings, not an error', T, async () => {
    const path = await copy();
    const r0 = await checkBbolt(path);
    const pages = r0.metas[r0.activeMeta!]!.pgid;
    await truncate(path, Math.floor(pages / 2) * PS);
    const r = await checkBbolt(path);
    assert.equal(r.findings[0]!.code, 'out-of-bounds');
    assert.match(r.findings[0]!.message, new RegExp(`^meta page ${r.activeMeta}: high-water mark ${pages} passes the end of the file`));
    assert.ok(r.findings.some((f) => f.code === 'out-of-bounds' && /past the end of the file/.test(f.message)));
    assert.ok(r.stats.keys < 5000);
  });
});
