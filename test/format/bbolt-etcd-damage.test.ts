// Each damage kind of incident 002, made at page level in a copy of a real etcd's db (Debian's etcd
// 3.4, 2,000 keys written through its API), is reported with the right code and page ids; and etcd
// itself shows which of them it notices: it panics on a page referenced twice, as on the cycle, and
// starts on keys out of order or a bad meta checksum, which only a checker sees.
import assert from 'node:assert/strict';
import { copyFile, cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { checkBbolt } from '../../src/format/bbolt/index';
import { breakMetaChecksum, bucketTree, setBranchChild, swapKeys } from '../helpers/bbolt-damage';
import { makeEtcd, putKeys, type TestEtcd } from '../helpers/etcd';

let work: string;
let etcd: TestEtcd;
let clean: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'bbolt-etcd-damage-'));
  etcd = await makeEtcd(join(work, 'etcd'));
  await etcd.start();
  await putKeys(etcd.url, 2_000);
  await etcd.stop();
  clean = join(work, 'clean.db');
  await copyFile(etcd.db, clean);
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A copy of the clean db damaged by `damage`, and what etcd does when started on it. */
async function damaged(name: string, damage: (db: string) => Promise<void>): Promise<{ db: string; etcdStarts: () => Promise<{ up: boolean; output: string }> }> {
  const db = join(work, `${name}.db`);
  await copyFile(clean, db);
  await damage(db);
  return {
    db,
    async etcdStarts() {
      // etcd on a copy of its data dir holding this db.
      const dataDir = join(work, `${name}.etcd`);
      await cp(etcd.dataDir, dataDir, { recursive: true });
      await copyFile(db, join(dataDir, 'member', 'snap', 'db'));
      const args = etcd.spec.start.slice(1).map((a) => (a === etcd.dataDir ? dataDir : a));
      const child = execa(etcd.spec.start[0]!, args, { reject: false, all: true });
      const ended = await Promise.race([child, new Promise<'running'>((r) => setTimeout(() => r('running'), 10_000))]);
      if (ended === 'running') {
        child.kill('SIGTERM');
        await child;
        return { up: true, output: '' };
      }
      return { up: false, output: String(ended.all) };
    },
  };
}

describe('damage made in a real etcd db', { timeout: 300_000 }, () => {
  test('one page referenced twice: multiple-references with the second path; etcd panics as in the seed', async () => {
    const tree = await bucketTree(clean, 'key');
    const branch = tree.pages.find((p) => p.kind === 'branch' && p.parent === tree.root)!;
    const [first, second] = tree.pages.filter((p) => p.parent === branch.id);
    assert.ok(first && second);
    const d = await damaged('twice', (db) => setBranchChild(db, tree.pageSize, branch.id, 1, first.id));
    const report = await checkBbolt(d.db);
    const finding = report.findings.find((f) => f.code === 'multiple-references');
    assert.ok(finding, JSON.stringify(report.findings));
    assert.equal(finding.page, first.id);
    assert.deepEqual(finding.stack.slice(-2), [branch.id, first.id], 'the path ends at the branch holding the second reference');
    const run = await d.etcdStarts();
    assert.equal(run.up, false);
    assert.match(run.output, new RegExp(`freepages: failed to get all reachable pages \\(page ${first.id}: multiple references`));
  });

  test('keys out of order in a leaf: key-order on that page; etcd starts anyway', async () => {
    const tree = await bucketTree(clean, 'key');
    const leaf = tree.pages.find((p) => p.kind === 'leaf' && p.elements.length >= 3)!;
    const d = await damaged('order', (db) => swapKeys(db, tree.pageSize, leaf, 0, 1));
    const report = await checkBbolt(d.db);
    const finding = report.findings.find((f) => f.code === 'key-order');
    assert.ok(finding, JSON.stringify(report.findings));
    assert.equal(finding.page, leaf.id);
    assert.equal(finding.stack.at(-1), leaf.id);
    assert.equal((await d.etcdStarts()).up, true, 'etcd does not notice: only a checker does');
  });

  test('a bad meta checksum: meta-invalid on that page, the other meta active; etcd starts anyway', async () => {
    const before = await checkBbolt(clean);
    const older = (1 - before.activeMeta!) as 0 | 1;
    const d = await damaged('meta', (db) => breakMetaChecksum(db, before.pageSize, older));
    const report = await checkBbolt(d.db);
    assert.deepEqual(report.findings.map((f) => [f.code, f.page]), [['meta-invalid', older]]);
    assert.equal(report.activeMeta, before.activeMeta);
    assert.equal(report.metas[older]!.valid, false);
    assert.equal((await d.etcdStarts()).up, true);
  });
});
