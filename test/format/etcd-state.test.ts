// readEtcdDb against a real etcd (Debian's etcd 3.4, an exec service declared by test/helpers/etcd):
// the state read from its db after it stopped is what etcdctl served before (live keys, revision,
// the keys themselves), through overwrites, deletes and compactions; an `etcdctl snapshot save`
// file reads the same; damage is read around, never thrown on.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { checkBbolt, missingKeys, readEtcdDb, type EtcdDbState } from '../../src/format/bbolt/index';
import { bucketTree, patch, setBranchChild } from '../helpers/bbolt-damage';
import { compact, deleteRange, keyName, makeEtcd, putKeys, saveSnapshot, served, servedKeys, type TestEtcd } from '../helpers/etcd';

const K = '/registry/k';
/** A UTF-8 prefix: keys are bytes, read back losslessly as latin1 strings. */
const UTF8 = '/registry/é/';

let work: string;
let etcd: TestEtcd;
/** Shared by the tests below: the healthy read of the db after phase 2, and its live keys as served. */
let healthy: EtcdDbState;
let snapshot: { file: string; dbSize: number; keys: Set<string> };

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'etcd-state-'));
  etcd = await makeEtcd(work);
});
after(async () => {
  await etcd.kill();
  await rm(work, { recursive: true, force: true });
});

/** etcd's applied raft index and the backend size it reports (`endpoint status`). */
async function status(url: string): Promise<{ appliedIndex: number; dbSize: number }> {
  const { stdout } = await execa('etcdctl', ['--endpoints', url, 'endpoint', 'status', '-w', 'json'], { env: { ETCDCTL_API: '3' } });
  const [{ Status }] = JSON.parse(stdout) as [{ Status: { raftAppliedIndex: number; dbSize: number } }];
  return { appliedIndex: Status.raftAppliedIndex, dbSize: Status.dbSize };
}

test('the state read from a stopped etcd\'s db is what etcdctl served before it stopped', { timeout: 120_000 }, async () => {
  await etcd.start();
  await putKeys(etcd.url, 500, { prefix: K }); // revisions 2..6, 1 KiB values: the key bucket has branch pages
  await putKeys(etcd.url, 100, { prefix: K }); // 7: overwrites 0..99
  assert.equal(await deleteRange(etcd.url, keyName(K, 100), keyName(K, 150)), 50); // 8
  await compact(etcd.url, 8); // drops 0..99's first revisions, and 100..149 (puts and tombstones) whole
  assert.equal(await deleteRange(etcd.url, keyName(K, 200), keyName(K, 210)), 10); // 9: tombstones kept
  await putKeys(etcd.url, 3, { prefix: K, from: 205 }); // 10: 205..207 live again, in a new generation
  await putKeys(etcd.url, 20, { prefix: UTF8 }); // 11

  const before1 = await served(etcd.url);
  const keys1 = await servedKeys(etcd.url);
  assert.deepEqual(before1, { keys: 463, revision: 11 });
  const snapFile = join(work, 'snapshot.db');
  await saveSnapshot(etcd.url, snapFile); // commits etcd's pending batch first: dbSize below is what it streamed
  const { appliedIndex, dbSize } = await status(etcd.url);
  snapshot = { file: snapFile, dbSize, keys: keys1 };
  await etcd.stop();

  const state1 = await readEtcdDb(etcd.db, { collectKeys: true });
  assert.equal(state1.report.healthy, true, JSON.stringify(state1.report.findings.slice(0, 3)));
  assert.equal(state1.liveKeys, before1.keys);
  assert.equal(state1.revision, before1.revision);
  assert.deepEqual(state1.keys, keys1);
  assert.ok(state1.keys!.has(Buffer.from(`${UTF8}000000`).toString('latin1')), 'UTF-8 keys kept byte for byte');
  // 350 untouched + 100 overwritten (their newest only) + 10 tombstones + 3 re-put + 20 = 483.
  assert.equal(state1.revisions, 483);
  assert.equal(state1.revisions, state1.report.stats.bucketKeys.find((b) => b.bucket === 'key')?.keys);
  assert.equal(state1.compactRevision, 8);
  assert.equal(state1.undecodable, 0);
  // etcd saves the index with backend writes only: raft entries that write nothing (a leader's
  // empty entry) are applied without it.
  assert.ok(state1.consistentIndex !== null && state1.consistentIndex > 0 && state1.consistentIndex <= appliedIndex, `consistent_index ${state1.consistentIndex}, applied ${appliedIndex}`);

  // Phase 2: a delete compacted at once leaves no trace in the key bucket (etcd drops a
  // generation ended by a tombstone at or below the compaction), yet etcd serves its revision.
  await etcd.start();
  assert.equal(await deleteRange(etcd.url, keyName(K, 499)), 1); // 12
  await compact(etcd.url, 12);
  const before2 = await served(etcd.url);
  const keys2 = await servedKeys(etcd.url);
  assert.deepEqual(before2, { keys: 462, revision: 12 });
  await etcd.stop();

  healthy = await readEtcdDb(etcd.db, { collectKeys: true });
  assert.equal(healthy.report.healthy, true, JSON.stringify(healthy.report.findings.slice(0, 3)));
  assert.equal(healthy.liveKeys, before2.keys);
  assert.equal(healthy.revision, before2.revision, 'the revision etcd serves: raised to the compaction');
  assert.equal(healthy.compactRevision, 12);
  assert.deepEqual(healthy.keys, keys2);
  // 200..209's puts and tombstones (9) and 499's put went with the compaction, 12 left nothing:
  // what is left is one revision a live key.
  assert.equal(healthy.revisions, 462);
  assert.deepEqual(missingKeys(keys1, healthy.keys!), { count: 1, first: [keyName(K, 499)] });
});

test('an `etcdctl snapshot save` file is the backend plus a 32-byte sha256 of it, and reads as the same state', async () => {
  const bytes = await readFile(snapshot.file);
  assert.equal(bytes.length, snapshot.dbSize + 32, 'etcd 3.4 appends a sha256 to the backend it streams');
  assert.equal(bytes.length % 512, 32, 'snapshot restore detects the hash by size % 512 == 32');
  const body = bytes.subarray(0, bytes.length - 32);
  assert.deepEqual(bytes.subarray(-32), createHash('sha256').update(body).digest());

  const report = await checkBbolt(snapshot.file);
  assert.equal(report.healthy, true, `the trailer is shorter than a page: no finding (${JSON.stringify(report.findings.slice(0, 3))})`);
  assert.equal(report.fileBytes, bytes.length);
  const meta = report.metas[report.activeMeta!]!;
  assert.equal(body.length, meta.pgid * report.pageSize, 'the backend streamed up to its high-water mark');
  const state = await readEtcdDb(snapshot.file, { collectKeys: true });
  assert.equal(state.report.healthy, true);
  assert.equal(state.liveKeys, snapshot.keys.size);
  assert.deepEqual(state.keys, snapshot.keys);
  assert.equal(state.revision, 11);
});

test('a db with the seed\'s cycle in its key bucket still reads, with fewer revisions; the lost keys are named', async () => {
  const copy = join(work, 'cycle.db');
  await copyFile(etcd.db, copy);
  const tree = await bucketTree(copy, 'key');
  const branch = tree.pages.find((p) => p.kind === 'branch' && p.parent === tree.root) ?? tree.pages.find((p) => p.id === tree.root)!;
  assert.equal(branch.kind, 'branch');
  await setBranchChild(copy, tree.pageSize, branch.id, 0, tree.root);

  const damaged = await readEtcdDb(copy, { collectKeys: true });
  assert.ok(damaged.report.findings.some((f) => f.code === 'cycle'), JSON.stringify(damaged.report.findings.slice(0, 3)));
  assert.ok(damaged.revisions > 0 && damaged.revisions < healthy.revisions, `${damaged.revisions} of ${healthy.revisions}`);
  assert.ok(damaged.liveKeys < healthy.liveKeys);
  // Every key left has one revision since the compaction: a lost revision is a lost key.
  const lost = missingKeys(healthy.keys!, damaged.keys!, 3);
  assert.equal(lost.count, healthy.liveKeys - damaged.liveKeys);
  assert.equal(lost.count, healthy.revisions - damaged.revisions);
  assert.equal(lost.first.length, 3);
});

test('a malformed revision key or KeyValue in the key bucket is counted and skipped', async () => {
  const copy = join(work, 'entries.db');
  await copyFile(etcd.db, copy);
  const tree = await bucketTree(copy, 'key');
  const leaf = tree.pages.find((p) => p.kind === 'leaf' && p.elements.length >= 2)!;
  const [first, second] = leaf.elements;
  const at = (e: typeof first) => leaf.id * tree.pageSize + e!.keyAt;
  await patch(copy, at(first) + 8, Buffer.from('-')); // the '_' between main and sub revision
  await patch(copy, at(second) + second!.key.length, Buffer.from([0x07])); // field 0, wire type 7

  const state = await readEtcdDb(copy, { collectKeys: true });
  assert.equal(state.undecodable, 2);
  assert.equal(state.revisions, healthy.revisions);
  assert.equal(state.liveKeys, healthy.liveKeys - 2);
  assert.equal(missingKeys(healthy.keys!, state.keys!).count, 2);
});

test('missingKeys: keys of the first set the second lacks, the first few in byte order, shown as UTF-8', () => {
  const latin1 = (s: string) => Buffer.from(s).toString('latin1');
  const before = new Set(['/b', '/a', '/é', '/c', '/d'].map(latin1));
  const after = new Set(['/a', '/z'].map(latin1));
  assert.deepEqual(missingKeys(before, after), { count: 4, first: ['/b', '/c', '/d', '/é'] });
  assert.deepEqual(missingKeys(before, after, 2), { count: 4, first: ['/b', '/c'] });
  assert.deepEqual(missingKeys(before, after, 0), { count: 4, first: [] });
  assert.deepEqual(missingKeys(after, after), { count: 0, first: [] });
  // A key that is not UTF-8 shows the replacement character, not a crash.
  assert.deepEqual(missingKeys(new Set(['\xff\x00k']), new Set()), { count: 1, first: ['\ufffd\x00k'] });
});
