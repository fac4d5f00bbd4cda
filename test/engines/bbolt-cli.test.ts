// The real bbolt CLI (v1.4.3, built by set-up) through its wrapper, on bbolt files written by the
// bbolt library itself (`storectl bbolt-write`: 2000 keys in bucket-000, whose root is a branch over
// leaves, in many transactions; one db with a persisted freelist, one without as etcd keeps it),
// then damaged at page level the way etcd's db was. What is asserted is what v1.4.3 does. Pages are
// found by reading the few header fields needed here (formats.md §3), not with our checker: this
// test is the referee's.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { execa } from 'execa';
import { readBytes } from '../helpers/bbolt-damage';
import {
  BBOLT_CLI_VERSION,
  BboltCliError,
  bboltCheck,
  bboltCliPath,
  BboltSurgeryRefusedError,
  clearPageElements,
  copyPage,
  freelistAbandon,
  freelistRebuild,
  metaUpdate,
  metaValidate,
  revertMetaPage,
} from '../../src/engines/bbolt/bbolt-cli';
import { writeBbolt } from '../../src/engines/bbolt/storectl-bbolt';
import { fresh, useScratch } from '../helpers/log-stores';

useScratch('bbolt-cli-');

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

async function patch(file: string, at: number, bytes: Buffer): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, at);
  } finally {
    await fh.close();
  }
}

const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

/** The facts the tests damage by (formats.md §3): page size, each meta's txid and root, the active meta. */
async function layout(file: string) {
  const head = await readBytes(file, 0, 4096);
  const pageSize = head.readUInt32LE(24);
  const meta = async (page: number) => {
    const m = await readBytes(file, page * pageSize, 80);
    return { txid: Number(m.readBigUInt64LE(64)), root: Number(m.readBigUInt64LE(32)) };
  };
  const metas = [await meta(0), await meta(1)] as const;
  const active = metas[0].txid > metas[1].txid ? 0 : 1;
  return { pageSize, metas, active } as const;
}

/** The root page of the only bucket, bucket-000: its leaf element's InBucket value under the active meta's root. */
async function bucketRoot(file: string): Promise<number> {
  const { pageSize, metas, active } = await layout(file);
  const root = await readBytes(file, metas[active].root * pageSize, pageSize);
  assert.equal(root.readUInt16LE(8), 0x02, 'the root bucket page is a leaf');
  assert.equal(root.readUInt16LE(10), 1, 'one top-level bucket');
  const elem = 16;
  const [flags, pos, ksize] = [root.readUInt32LE(elem), root.readUInt32LE(elem + 4), root.readUInt32LE(elem + 8)];
  assert.equal(flags, 0x01, 'a bucket element');
  assert.equal(root.subarray(elem + pos, elem + pos + ksize).toString(), 'bucket-000');
  return Number(root.readBigUInt64LE(elem + pos + ksize));
}

/** Where the pgid of element `i` of branch page `page` is (element: pos u32, ksize u32, pgid u64, after the 16-byte header). */
const childAt = (page: number, i: number) => page * pageSize + 16 + i * 16 + 8;

/** bucket-000's keys, in order, as `bbolt keys` lists them. */
const keys = async (file: string) => (await execa(bboltCliPath(), ['keys', file, 'bucket-000'])).stdout.split('\n');

let clean: string;
let etcdLike: string;
/** bucket-000's root, a branch, in each (the freelist page shifts the allocation, so they differ). */
let branch: number;
let etcdBranch: number;
let pageSize: number;

/** A copy of a db (the clean one by default) to damage. */
async function copyOf(db = clean): Promise<string> {
  const file = `${fresh()}.db`;
  await copyFile(db, file);
  return file;
}

/** Files in the folder other than the ones named: no temporary output left behind. */
async function leftovers(dir: string, known: string[]): Promise<string[]> {
  return (await readdir(dir)).filter((n) => !known.includes(n) && n.includes('.bbolt-'));
}

describe('bbolt CLI', () => {
  // Inside the suite: the scratch folder (useScratch's top-level hook) exists by then.
  before(async () => {
    clean = `${fresh()}.db`;
    etcdLike = `${fresh()}.db`;
    const w = await writeBbolt(clean, { keys: 2000, valueBytes: 32 });
    assert.equal(w.keys, 2000);
    await writeBbolt(etcdLike, { keys: 2000, valueBytes: 32, noFreelist: true });
    ({ pageSize } = await layout(clean));
    branch = await bucketRoot(clean);
    etcdBranch = await bucketRoot(etcdLike);
    for (const [db, root] of [[clean, branch], [etcdLike, etcdBranch]] as const) {
      const header = await readBytes(db, root * pageSize, 16);
      assert.equal(header.readUInt16LE(8), 0x01, `page ${root} is a branch`);
      assert.ok(header.readUInt16LE(10) > 2, 'the branch has several children');
      const child = Number((await readBytes(db, childAt(root, 0), 8)).readBigUInt64LE());
      assert.equal((await readBytes(db, child * pageSize + 8, 2)).readUInt16LE(), 0x02, 'its children are leaves');
    }
  });

  test(`set-up built v${BBOLT_CLI_VERSION}; BBOLT_CLI names another binary, and a missing one is a clear error`, async () => {
    const r = await execa(bboltCliPath(), ['version']);
    assert.match(r.stdout, new RegExp(`^bbolt Version: ${BBOLT_CLI_VERSION.replaceAll('.', '\\.')}$`, 'm'));
    const saved = process.env.BBOLT_CLI;
    try {
      process.env.BBOLT_CLI = join(dirname(fresh()), 'no-bbolt');
      assert.throws(() => bboltCliPath(), /the bbolt CLI is not built: .*no-bbolt does not exist; run npm test or npm start once/);
    } finally {
      if (saved === undefined) delete process.env.BBOLT_CLI;
      else process.env.BBOLT_CLI = saved;
    }
  });

  test('a clean db: OK, both metas valid, the file untouched', async () => {
    const before = await sha256(clean);
    const r = await bboltCheck(clean);
    assert.deepEqual({ ...r, durationMs: 0 }, { ok: true, errors: [], errorCount: 0, panicked: false, timedOut: false, stoppedEarly: false, exitCode: 0, durationMs: 0 });
    assert.deepEqual(await metaValidate(clean), [{ page: 0, valid: true }, { page: 1, valid: true }]);
    assert.equal(await sha256(clean), before);
  });

  test('not a bbolt file, an empty one, page size 0: bbolt refuses to open, reported as openError', async () => {
    const junk = `${fresh()}.db`;
    await writeFile(junk, Buffer.alloc(16384, 0x5a));
    const j = await bboltCheck(junk);
    assert.equal(j.ok, false);
    assert.equal(j.openError, 'invalid database');
    assert.deepEqual(j.errors, ['invalid database']);
    assert.equal(j.exitCode, 1);

    const empty = `${fresh()}.db`;
    await writeFile(empty, '');
    const e = await bboltCheck(empty);
    assert.equal(e.ok, false);
    // A read-only open of an empty file tries to initialise it and cannot: the file stays empty.
    assert.match(e.openError ?? '', /bad file descriptor/);
    assert.equal((await readFile(empty)).length, 0);

    const zero = await copyOf();
    await patch(zero, 24, Buffer.alloc(4));
    await patch(zero, pageSize + 24, Buffer.alloc(4));
    const z = await bboltCheck(zero);
    assert.equal(z.openError, 'checksum error', 'the page size is under the checksum');
  });

  test('a truncated file: a crash (panic or fatal error), reported, never thrown', async () => {
    const cut = `${fresh()}.db`;
    await writeFile(cut, (await readFile(clean)).subarray(0, 2 * pageSize));
    const r = await bboltCheck(cut);
    assert.equal(r.ok, false);
    assert.ok(r.panicked || r.openError, JSON.stringify(r));
    if (r.panicked) assert.match(r.errors.at(-1)!, /^(panic: |fatal error: )/);
  });

  describe('a bad meta checksum (bytes 72..80 of a meta page)', () => {
    /** Meta `page` (0 or 1) valid and the other not, as `metaValidate` says it. */
    const onlyBad = (page: number) => [0, 1].map((p) => (p === page ? { page, valid: false, error: 'checksum error' } : { page: p, valid: true }));

    test('on the newer meta: check says OK (bbolt silently falls back to the older); revert-meta-page and meta update each write a new, clean file and leave the original byte-identical', async () => {
      const file = await copyOf();
      const { metas, active: newer } = await layout(file);
      const older = newer === 0 ? 1 : 0;
      await patch(file, newer * pageSize + 72, Buffer.alloc(8));
      const original = await sha256(file);

      const r = await bboltCheck(file);
      assert.equal(r.ok, true, 'bbolt check does not see a bad meta it does not use');
      assert.deepEqual(await metaValidate(file), onlyBad(newer));

      // Revert: the older transaction's meta copied over the newer; the last transaction is lost.
      const reverted = `${fresh()}.db`;
      const rv = await revertMetaPage(file, reverted);
      assert.equal(rv.output, reverted);
      assert.deepEqual(rv.messages, ['The meta page is reverted.']);
      assert.equal(rv.freelistAbandonAdvised, false);
      assert.equal(await sha256(file), original, 'the source is byte-identical');
      assert.equal((await bboltCheck(reverted)).ok, true);
      assert.deepEqual(await metaValidate(reverted), [{ page: 0, valid: true }, { page: 1, valid: true }]);
      const after = await layout(reverted);
      assert.deepEqual(after.metas, [metas[older], metas[older]], 'both metas are the older transaction now');
      assert.ok(metas[older].txid < metas[newer].txid);

      // meta update with no fields: the checksum recomputed over the newer meta as it is; nothing is lost.
      const updated = `${fresh()}.db`;
      const up = await metaUpdate(file, updated, { metaPage: newer });
      assert.deepEqual(up.messages, [`The meta page ${newer} has been updated!`]);
      assert.equal(await sha256(file), original);
      assert.deepEqual(await metaValidate(updated), [{ page: 0, valid: true }, { page: 1, valid: true }]);
      assert.deepEqual((await layout(updated)).metas, metas, 'the newest transaction is kept');
      assert.deepEqual(await keys(updated), await keys(clean));
      assert.equal((await bboltCheck(updated)).ok, true);
      assert.deepEqual(await leftovers(dirname(updated), [basename(updated), basename(reverted)]), []);
    });

    test('on the older meta: check says OK, but revert-meta-page copies the BAD older meta over the good one: its output does not open', async () => {
      const file = await copyOf();
      const older = 1 - (await layout(file)).active;
      await patch(file, older * pageSize + 72, Buffer.alloc(8));
      const original = await sha256(file);
      assert.equal((await bboltCheck(file)).ok, true);
      assert.deepEqual(await metaValidate(file), onlyBad(older));
      const reverted = `${fresh()}.db`;
      await revertMetaPage(file, reverted);
      assert.equal(await sha256(file), original);
      const r = await bboltCheck(reverted);
      assert.equal(r.ok, false);
      assert.equal(r.openError, 'checksum error', 'revert picks the older meta by txid, valid or not');
    });
  });

  describe('a branch page pointing at itself (the seed\'s cycle)', () => {
    /** A copy of the clean db, or of the etcd-like one, whose bucket root's first element points at the root itself. */
    async function cyclic(etcd = false): Promise<{ file: string; root: number }> {
      const [file, root] = [await copyOf(etcd ? etcdLike : clean), etcd ? etcdBranch : branch];
      await patch(file, childAt(root, 0), u64(root));
      return { file, root };
    }

    test('with a persisted freelist the open succeeds and `check` never finishes: stopped after maxErrors lines, or by the timeout', async () => {
      const { file } = await cyclic();
      const original = await sha256(file);
      const r = await bboltCheck(file, { maxErrors: 50 });
      assert.equal(r.ok, false);
      assert.equal(r.stoppedEarly, true);
      assert.equal(r.panicked, false);
      assert.equal(r.errorCount, 50);
      assert.equal(r.errors[0], `page ${branch}: multiple references (stack: [${branch} ${branch}])`);
      assert.equal(r.errors[1], `page ${branch}: multiple references (stack: [${branch} ${branch} ${branch}])`, 'the stack grows by one each line: it recurses without end');

      const t0 = Date.now();
      const timed = await bboltCheck(file, { maxErrors: Number.POSITIVE_INFINITY, timeoutMs: 1500 });
      assert.equal(timed.timedOut, true);
      assert.equal(timed.ok, false);
      assert.equal(timed.exitCode, undefined);
      assert.ok(timed.errorCount > 50, `${timed.errorCount} lines before the timeout`);
      assert.ok(timed.errors.length <= 100 && timed.errors.every((e) => e.length <= 2100), 'what is kept stays small');
      assert.ok(Date.now() - t0 < 15_000, 'killed at the timeout');
      assert.equal(await sha256(file), original);
    });

    test('a cancelled check is killed and rejects with AbortError (what the activities map to Cancelled)', async () => {
      const { file } = await cyclic();
      const t0 = Date.now();
      await assert.rejects(bboltCheck(file, { maxErrors: Number.POSITIVE_INFINITY, signal: AbortSignal.timeout(300) }), { name: 'AbortError' });
      assert.ok(Date.now() - t0 < 10_000);
    });

    test('without a freelist (as etcd keeps it) the open walks the tree and PANICS: reported as panicked with the panic line; clearing the element repairs a copy', async () => {
      const { file: noFreelist, root } = await cyclic(true);
      const original = await sha256(noFreelist);
      const r = await bboltCheck(noFreelist);
      assert.equal(r.ok, false);
      assert.equal(r.panicked, true);
      assert.equal(r.exitCode, 2);
      assert.deepEqual(r.errors, [`panic: freepages: failed to get all reachable pages (page ${root}: multiple references (stack: [${root} ${root}]))`]);

      // freelist rebuild opens the copy read-write: the same panic, as a BboltCliError, and no output.
      const rebuilt = `${fresh()}.db`;
      const err = await freelistRebuild(noFreelist, rebuilt).then(
        () => assert.fail('rebuild of a cyclic db succeeded'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof BboltCliError, String(err));
      assert.equal(err.panicked, true);
      assert.match(err.cliMessage, /^panic: freepages: failed to get all reachable pages/);
      assert.deepEqual(await readdir(dirname(rebuilt)).then((names) => names.filter((n) => n.includes(basename(rebuilt)))), [], 'no output, no temporary file');

      // With no freelist an unreachable page is simply free: clearing the element is the whole repair.
      const cleared = `${fresh()}.db`;
      const c = await clearPageElements(noFreelist, cleared, { pageId: root, from: 0, to: 1 });
      assert.equal(c.freelistAbandonAdvised, true, 'v1.4.3 advises it for any cleared branch element, freelist or not');
      assert.equal(c.messages.at(-1), `All elements in [0, 1) in page ${root} were cleared`);
      assert.equal((await bboltCheck(cleared)).ok, true);
      const all = await keys(etcdLike);
      const left = await keys(cleared);
      assert.ok(left.length > 0 && left.length < all.length);
      assert.deepEqual(left, all.slice(all.length - left.length), 'what is lost is the first child\'s keys, the smallest');
      assert.equal(await sha256(noFreelist), original);
    });

    test('with a freelist, surgery repairs a copy: clear the bad element, abandon and rebuild the freelist: check OK, the first leaf\'s keys lost, the original untouched', async () => {
      const { file } = await cyclic();
      const original = await sha256(file);
      const cleared = `${fresh()}.db`;
      const c = await clearPageElements(file, cleared, { pageId: branch, from: 0, to: 1 });
      assert.equal(c.freelistAbandonAdvised, true, 'clearing a branch element leaves its child neither referenced nor free');
      assert.deepEqual(c.warnings, ['WARNING: The clearing has abandoned some pages that are not yet referenced from free list.']);
      const afterClear = await bboltCheck(cleared);
      assert.equal(afterClear.ok, false);
      assert.equal(afterClear.errorCount, 1);
      assert.match(afterClear.errors[0]!, /^page \d+: unreachable unfreed$/);

      const abandoned = `${fresh()}.db`;
      const rebuilt = `${fresh()}.db`;
      const ab = await freelistAbandon(cleared, abandoned);
      assert.deepEqual(ab.messages, ['The freelist was abandoned in both meta pages.', 'It may cause some delay on next startup because bbolt needs to scan the whole db to reconstruct the free list.']);
      const rb = await freelistRebuild(abandoned, rebuilt);
      assert.deepEqual(rb.messages, ['The freelist was successfully rebuilt.']);
      assert.equal((await bboltCheck(rebuilt)).ok, true);
      const all = await keys(clean);
      assert.equal(all.length, 2000);
      const left = await keys(rebuilt);
      assert.ok(left.length < 2000 && left.length > 1900, `${left.length} keys left: one leaf's worth lost`);
      assert.deepEqual(left, all.slice(all.length - left.length));
      assert.equal(await sha256(file), original);
    });
  });

  describe('surgery always writes a new file', () => {
    test('an output that exists, or is the source, is refused before the CLI runs; both files stay as they were', async () => {
      const file = await copyOf();
      const original = await sha256(file);
      const taken = `${fresh()}.db`;
      await writeFile(taken, 'mine');
      for (const run of [
        () => revertMetaPage(file, taken),
        () => copyPage(file, taken, { from: 3, to: 4 }),
        () => clearPageElements(file, taken, { pageId: branch, from: 0, to: -1 }),
        () => freelistAbandon(file, taken),
        () => freelistRebuild(file, taken),
        () => metaUpdate(file, taken, { metaPage: 1 }),
      ]) {
        await assert.rejects(run(), (e: unknown) => e instanceof BboltSurgeryRefusedError && /the output .* exists; surgery writes a new file only/.test(e.message));
      }
      await assert.rejects(revertMetaPage(file, file), (e: unknown) => e instanceof BboltSurgeryRefusedError && /is the source/.test(e.message));
      await assert.rejects(revertMetaPage(file, join(dirname(file), '.', basename(file))), BboltSurgeryRefusedError);
      assert.equal(await readFile(taken, 'utf8'), 'mine');
      assert.equal(await sha256(file), original);
      assert.deepEqual(await leftovers(dirname(file), []), []);
    });

    test('options out of range are refused; what the CLI refuses is a BboltCliError in its own words', async () => {
      const file = await copyOf();
      await assert.rejects(clearPageElements(file, `${fresh()}.db`, { pageId: 1, from: 0, to: -1 }), /pageId must be an integer ≥ 2/);
      await assert.rejects(clearPageElements(file, `${fresh()}.db`, { pageId: branch, from: 3, to: 2 }), /to must be -1 \(to the end\) or greater than from/);
      await assert.rejects(copyPage(file, `${fresh()}.db`, { from: 5, to: 5 }), /same page/);
      // The db persists a freelist: rebuild is the CLI's refusal, and no output is left.
      const out = `${fresh()}.db`;
      await assert.rejects(freelistRebuild(file, out), (e: unknown) => e instanceof BboltCliError && e.cliMessage.startsWith('the file already has freelist') && e.exitCode === 1 && !e.panicked);
      await assert.rejects(readFile(out), { code: 'ENOENT' });
      assert.deepEqual(await leftovers(dirname(out), []), []);
    });

    test('copy-page writes the page at its new id in the copy only; the check then sees the damage it made', async () => {
      const file = await copyOf();
      const original = await sha256(file);
      // Copy the branch's second child over its third: the third leaf's keys are gone, the second's twice.
      const child = async (i: number) => Number((await readBytes(file, childAt(branch, i), 8)).readBigUInt64LE());
      const [second, third] = [await child(1), await child(2)];
      const out = `${fresh()}.db`;
      const r = await copyPage(file, out, { from: second, to: third });
      assert.equal(r.messages.at(-1), `The page ${second} was successfully copied to page ${third}`);
      assert.equal(r.freelistAbandonAdvised, true, 'the db persists a freelist');
      assert.equal(await sha256(file), original);
      const copied = await readBytes(out, third * pageSize, pageSize);
      const source = await readBytes(file, second * pageSize, pageSize);
      assert.equal(Number(copied.readBigUInt64LE(0)), third, 'its id is the new page');
      assert.deepEqual(copied.subarray(8), source.subarray(8));
      const check = await bboltCheck(out);
      assert.equal(check.ok, false);
      assert.ok(check.errors.some((e) => e.includes(`on leaf page(${third})`)), check.errors.join('\n'));
    });
  });
});
