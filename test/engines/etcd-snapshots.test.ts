// What etcdSnapshot may touch in an operator's folder, on real snapshot files of a real etcd 3.4:
// the name pattern (one member's files only), the check (checker, sha256 trailer), and pruning's
// rules run through the real activity: keep the newest K that check clean, never the newest good
// one, nothing deleted while fewer than K are clean, failing ones kept as *.db.bad, no symlink or
// other file touched.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { pruneEtcdSnapshots, type PruneResult } from '../../src/activities/etcd-snapshot';
import { checkSnapshotFile, decidePrune, snapshotName, snapshotPattern, type SnapshotFile } from '../../src/engines/etcd/snapshots';
import { breakMetaChecksum, patch, readBytes } from '../helpers/bbolt-damage';
import { makeEtcd, putKeys, saveSnapshot, type TestEtcd } from '../helpers/etcd';
import { fresh, useScratch } from '../helpers/log-stores';

useScratch('etcd-snapshots-');

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const prune = (args: Parameters<typeof pruneEtcdSnapshots>[0]): Promise<PruneResult> => new MockActivityEnvironment(undefined, { logger: quiet }).run(pruneEtcdSnapshots, args);
const at = (day: number) => new Date(Date.UTC(2026, 0, day, 12, 0, 0, 0));

/** A data byte inverted in place: only the sha256 trailer can see it. */
const flipByte = async (file: string, at: number) => patch(file, at, Buffer.from([(await readBytes(file, at, 1))[0]! ^ 0xff]));

describe('etcd snapshot files', () => {
  let etcd: TestEtcd;
  let good: string;
  before(async () => {
    etcd = await makeEtcd(fresh());
    await etcd.start();
    await putKeys(etcd.url, 120, { valueBytes: 100 });
    good = join(fresh(), 'good.db');
    await mkdir(join(good, '..'));
    await saveSnapshot(etcd.url, good);
  });
  after(async () => {
    await etcd.kill();
  });

  test('names: etcd-<member>-<UTC ms>.db; one member\'s pattern never matches another member\'s files, a .bad, a .part or any other name', () => {
    assert.equal(snapshotName('default', at(5)), 'etcd-default-20260105T120000.000Z.db');
    const a = snapshotPattern('a');
    assert.ok(a.test(snapshotName('a', at(1))));
    for (const name of [snapshotName('a-b', at(1)), snapshotName('a.b', at(1)), `${snapshotName('a', at(1))}.bad`, `.${snapshotName('a', at(1))}.part`, 'etcd-a-latest.db', `x${snapshotName('a', at(1))}`]) {
      assert.ok(!a.test(name), name);
    }
    assert.ok(!snapshotPattern('a.b').test(snapshotName('axb', at(1))), 'a "." in a member name is literal');
  });

  test('check: a real snapshot is clean with its sha256 trailer; a flipped data byte, a cut tail, and a file that is no bbolt each fail, saying why', async () => {
    const clean = await checkSnapshotFile(good);
    assert.equal(clean.healthy, true, clean.problems.join('; '));
    assert.equal(clean.trailer, 'ok');

    const dir = fresh();
    await mkdir(dir);
    const flipped = join(dir, 'flipped.db');
    await copyFile(good, flipped);
    await flipByte(flipped, clean.bytes - 32 - 100); // a data byte in the last page: only the trailer sees it
    const f = await checkSnapshotFile(flipped);
    assert.equal(f.healthy, false);
    assert.match(f.problems.join('; '), /last 32 bytes are not the sha256 of the rest/);

    const cut = join(dir, 'cut.db');
    await writeFile(cut, (await readFile(good)).subarray(0, clean.bytes - 10));
    const c = await checkSnapshotFile(cut);
    assert.equal(c.healthy, false);
    assert.ok(c.problems.length > 0);

    const text = join(dir, 'text.db');
    await writeFile(text, 'not a database at all\n'.repeat(500));
    const t = await checkSnapshotFile(text);
    assert.equal(t.healthy, false);
    assert.match(t.problems[0]!, /^not a readable bbolt file: /);
  });

  test('decidePrune: newest first until K clean; older ones removed only once K are clean; the newest good one always kept', async () => {
    const files = (healthy: boolean[]) => healthy.map((h, i) => ({ file: { name: `f${i}`, bytes: 1, mtime: '', dev: 0, ino: i } as SnapshotFile, h }));
    const decide = async (healthy: boolean[], keep: number) => {
      const list = files(healthy);
      const checked: string[] = [];
      const d = await decidePrune(list.map((l) => l.file), keep, async (s) => (checked.push(s.name), { healthy: list.find((l) => l.file.name === s.name)!.h }));
      return { kept: d.kept.map((s) => s.name), failing: d.failing.map((s) => s.name), remove: d.remove.map((s) => s.name), checked };
    };
    assert.deepEqual(await decide([true, true, true, true], 2), { kept: ['f0', 'f1'], failing: [], remove: ['f2', 'f3'], checked: ['f0', 'f1'] });
    assert.deepEqual(await decide([false, true, false, true, true], 2), { kept: ['f1', 'f3'], failing: ['f0', 'f2'], remove: ['f4'], checked: ['f0', 'f1', 'f2', 'f3'] });
    assert.deepEqual(await decide([false, false, false], 1), { kept: [], failing: ['f0', 'f1', 'f2'], remove: [], checked: ['f0', 'f1', 'f2'] }, 'none clean: nothing removed');
    assert.deepEqual(await decide([false, true, false], 3), { kept: ['f1'], failing: ['f0', 'f2'], remove: [], checked: ['f0', 'f1', 'f2'] }, 'fewer than K clean: nothing removed');
    await assert.rejects(decidePrune([], 0, async () => ({ healthy: true })), RangeError);
  });

  test('pruneEtcdSnapshots in a real folder: the newest good one stays even when a newer one is damaged; other files and symlinks are untouched', async () => {
    const dir = fresh();
    await mkdir(dir);
    const names = [1, 2, 3, 4].map((d) => snapshotName('default', at(d)));
    for (const n of names) await copyFile(good, join(dir, n));
    await breakMetaChecksum(join(dir, names[3]!), 4096, 1); // the newest
    await writeFile(join(dir, 'keep-me.txt'), 'operator');
    await copyFile(good, join(dir, snapshotName('other', at(1))));
    await writeFile(join(dir, 'outside.db'), 'target');
    await symlink(join(dir, 'outside.db'), join(dir, snapshotName('default', at(0))));

    const r = await prune({ snapshotDir: dir, member: 'default', keep: 1 });
    assert.deepEqual(r.kept.first.map((s) => s.name), [names[2]], 'the newest that checks clean');
    assert.deepEqual(r.movedBad.first.map((b) => b.name), [names[3]]);
    assert.deepEqual(r.deleted.first.map((s) => s.name).sort(), [names[0], names[1]]);
    assert.ok(r.deleted.first.every((s) => /^[0-9a-f]{64}$/.test(s.sha256)));
    assert.deepEqual((await readdir(dir)).sort(), [
      snapshotName('default', at(0)), names[2], `${names[3]}.bad`, `${names[3]}.bad.json`, snapshotName('other', at(1)), 'keep-me.txt', 'outside.db',
    ].sort());
    assert.equal(await readlink(join(dir, snapshotName('default', at(0)))), join(dir, 'outside.db'));

    // Run again: the same answer, nothing more deleted.
    const again = await prune({ snapshotDir: dir, member: 'default', keep: 1 });
    assert.deepEqual([again.kept.first.map((s) => s.name), again.deleted.count, again.movedBad.count], [[names[2]], 0, 0]);
  });

  test('pruneEtcdSnapshots when none checks clean: deletes nothing', async () => {
    const dir = fresh();
    await mkdir(dir);
    const names = [1, 2, 3].map((d) => snapshotName('default', at(d)));
    for (const n of names) {
      await copyFile(good, join(dir, n));
      await breakMetaChecksum(join(dir, n), 4096, 0);
      await breakMetaChecksum(join(dir, n), 4096, 1);
    }
    const r = await prune({ snapshotDir: dir, member: 'default', keep: 1 });
    assert.deepEqual([r.kept.count, r.deleted.count, r.movedBad.count], [0, 0, 3]);
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.db.bad')).sort(), names.map((n) => `${n}.bad`).sort(), 'kept, renamed, with their findings');
  });

  test('pruneEtcdSnapshots refuses a folder outside the host\'s data roots, naming snapshotDir', async () => {
    await assert.rejects(prune({ snapshotDir: '/etc', member: 'default', keep: 1 }), /snapshotDir \/etc: .*outside this host's data roots/);
  });
});
