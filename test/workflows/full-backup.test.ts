// fullBackup and verifyBackup on real parts: sqlite databases written to during the backup, real
// folders, Debian's podman (vfs storage of the test's own, images imported, containers created the
// compose way; `podman compose` does not exist here, so the image list falls back as in the seed),
// the target's filesystem type from the real /proc/mounts, a real tmpfs for the full disk.
import assert from 'node:assert/strict';
import { execa, type ResultPromise } from 'execa';
import { lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getProgress, startRunbook, waitForReport } from '../../src/client';
import type { FullBackupRequest } from '../../src/workflows/inputs';
import type { RunbookReport } from '../../src/workflows/report';
import { treeDigest } from '../hostile/sandbox';
import { makePodman, type TestPodman } from '../helpers/podman';
import { waitFor } from '../helpers/service';
import { useTestBed } from '../helpers/temporal';

const bed = useTestBed('backup');

let root: string;
let podman: TestPodman;
let ids: { api: string; worker: string };
const writers: ResultPromise[] = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'full-backup-'));
  podman = await makePodman(join(root, 'podman'));
  ids = { api: await podman.image('localhost/shop-api:1', 2 << 20), worker: await podman.image('localhost/shop-worker:1', 1 << 20) };
  await podman.image('localhost/unrelated:1', 1 << 10);
  await podman.container('shop-api-1', 'localhost/shop-api:1', 'shop');
  await podman.container('shop_worker_1', 'localhost/shop-worker:1', 'shop');
  await podman.container('unrelated-1', 'localhost/unrelated:1');
});
after(async () => {
  // The whole group: a sqlite3 the loop started would otherwise go on writing its -wal while the folder is removed (ENOTEMPTY).
  for (const w of writers) {
    try {
      process.kill(-w.pid!, 'SIGKILL');
    } catch {
      // the loop already ended (a failed insert exits it)
    }
  }
  await Promise.all(writers);
  await rm(root, { recursive: true, force: true });
});

/** A sqlite db in WAL mode with a writer inserting 10-row transactions until killed. */
async function busyDb(path: string): Promise<void> {
  await execa('sqlite3', [path, 'PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, tx INTEGER, pad BLOB); INSERT INTO t(tx, pad) SELECT 0, randomblob(1000) FROM generate_series(1, 2000);']).catch(async () => {
    // generate_series is an extension some sqlite3 builds lack: a recursive CTE instead.
    await execa('sqlite3', [path, 'PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, tx INTEGER, pad BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000) INSERT INTO t(tx, pad) SELECT 0, randomblob(1000) FROM n;']);
  });
  const loop = `i=1; while true; do sqlite3 -cmd '.timeout 5000' ${JSON.stringify(path)} "BEGIN; WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k+1 FROM n WHERE k < 10) INSERT INTO t(tx, pad) SELECT $i, randomblob(1000) FROM n; COMMIT;" || exit 1; i=$((i+1)); done`;
  writers.push(execa('bash', ['-c', loop], { reject: false, detached: true }));
}

async function sources(name: string): Promise<{ dbs: string[]; volumes: string[] }> {
  const dir = join(root, name);
  await mkdir(join(dir, 'uploads', 'a'), { recursive: true });
  await writeFile(join(dir, 'uploads', 'a', 'one.bin'), Buffer.alloc(300_000, 7));
  await writeFile(join(dir, 'uploads', 'two.txt'), 'two\n');
  const db = join(dir, 'app.db');
  await busyDb(db);
  return { dbs: [db], volumes: [join(dir, 'uploads')] };
}

const start = (input: FullBackupRequest) => startRunbook(bed.client, bed.config, 'fullBackup', input, { requestedBy: 'cron', origin: 'test' });
const run = async (input: FullBackupRequest) => waitForReport((await start(input)).handle);
const verify = async (pack: string) => waitForReport((await startRunbook(bed.client, bed.config, 'verifyBackup', { mode: 'plan', pack }, { requestedBy: 'alice', origin: 'test' })).handle);
const evidence = (report: RunbookReport, id: string) => report.steps.find((s) => s.id === id)?.evidence as Record<string, any>;

describe('fullBackup', () => {
  test('a complete pack: sqlite copied consistently while written, volumes, images found by label after compose config fails; verifyBackup passes; a corrupted file is named', { timeout: 300_000 }, async () => {
    const { dbs, volumes } = await sources('complete');
    const target = join(root, 'target-complete');
    await mkdir(target);
    const { report, error } = await run({ mode: 'apply', approval: 'auto', target, sqlite: dbs, volumes, compose: { project: 'shop' }, includeImages: true, engine: 'podman' });
    assert.equal(report?.outcome, 'Succeeded', error);
    const packs = await readdir(target);
    assert.equal(packs.length, 1);
    assert.match(packs[0]!, /^backup-\d{8}T\d{6}\.\d{3}Z$/);
    const pack = join(target, packs[0]!);
    const manifest = JSON.parse(await readFile(join(pack, 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.files.map((f: any) => f.path).sort(), ['images.tar', 'sqlite/0-app.db', 'volumes/0-uploads.tar']);
    assert.equal(manifest.imageSource, 'label', 'no compose provider here: the compose project label finds both containers (shop-api-1, shop_worker_1)');
    assert.deepEqual(manifest.images.map((i: any) => i.id).sort(), [ids.api, ids.worker].map((id) => (id.startsWith('sha256:') ? id : `sha256:${id}`)).sort());
    assert.ok(manifest.imageAttempts.some((a: any) => a.source === 'compose-config' && a.error), JSON.stringify(manifest.imageAttempts));
    assert.ok(report!.notes.some((n) => n.startsWith('images: 2 from label')), report!.notes.join('\n'));
    // The sqlite copy holds whole transactions only: every tx has its 10 rows.
    const { stdout } = await execa('sqlite3', [join(pack, 'sqlite', '0-app.db'), 'PRAGMA integrity_check; SELECT count(*) FROM (SELECT tx FROM t WHERE tx > 0 GROUP BY tx HAVING count(*) <> 10);']);
    assert.deepEqual(stdout.split('\n'), ['ok', '0']);
    const listed = await execa('tar', ['-tf', join(pack, 'volumes', '0-uploads.tar')]);
    assert.ok(listed.stdout.includes('uploads/a/one.bin'), listed.stdout);

    if (process.env.DEMO_TRANSCRIPT) process.stderr.write(`${report!.plan!.summary}\n${report!.plan!.actions.join('\n')}\n${report!.notes.join('\n')}\n`);
    const good = await verify(pack);
    assert.equal(good.report?.outcome, 'Planned', good.error);
    assert.match(good.report!.plan!.summary, /restores: 3 files .* 1 sqlite databases pass integrity_check after restore, 2 images load with their IDs/);

    const volume = join(pack, 'volumes', '0-uploads.tar');
    const bytes = await readFile(volume);
    const middle = bytes.length >> 1;
    bytes[middle] = bytes[middle]! ^ 0xff;
    await writeFile(volume, bytes);
    const bad = await verify(pack);
    assert.equal(bad.report?.outcome, 'Failed');
    assert.match(bad.error ?? '', /volumes\/0-uploads\.tar: sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}/);
  });

  test('no images found when images were asked for: the run fails, says which sources it tried, and writes nothing', { timeout: 120_000 }, async () => {
    const target = join(root, 'target-noimages');
    await mkdir(target);
    const { report, error } = await run({ mode: 'apply', approval: 'auto', target, compose: { project: 'nosuchproject' }, includeImages: true, engine: 'podman' });
    assert.equal(report?.outcome, 'Failed');
    assert.match(error ?? '', /no images found for compose project nosuchproject: compose-config: .*; label: 0 found; name-prefix: 0 found/);
    assert.deepEqual(await readdir(target), []);
  });

  test('the target on the wrong filesystem type (a plain folder where a cifs share should be): refused before any write', { timeout: 120_000 }, async () => {
    const { volumes } = await sources('wrongfs');
    const target = join(root, 'target-wrongfs');
    await mkdir(target);
    const before = await treeDigest(target);
    const { report, error } = await run({ mode: 'apply', approval: 'auto', target, targetFsType: 'cifs', volumes });
    assert.equal(report?.outcome, 'Failed');
    assert.match(error ?? '', /refused before writing anything: .*target-wrongfs is on .* not a cifs mount/);
    assert.equal(await treeDigest(target), before);
  });

  test('free space below the estimate (a real 16 MB tmpfs, 40 MB of volume): refused with the numbers', { timeout: 120_000 }, async (t) => {
    const target = join(root, 'target-small');
    await mkdir(target);
    const mounted = await execa('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', target], { reject: false });
    if (mounted.exitCode !== 0) {
      t.skip(`cannot mount a tmpfs here (${mounted.stderr.trim()}): needs root`);
      return;
    }
    try {
      const big = join(root, 'big');
      await mkdir(big);
      await writeFile(join(big, 'blob'), Buffer.alloc(40 << 20, 1));
      const { report, error } = await run({ mode: 'apply', approval: 'auto', target, targetFsType: 'tmpfs', volumes: [big] });
      assert.equal(report?.outcome, 'Failed');
      assert.match(error ?? '', /needs 48\.0 MiB \(estimate 40\.0 MiB × 1\.2\), 16\.0 MiB free on .*target-small/);
      assert.deepEqual(await readdir(target), []);
    } finally {
      await execa('umount', [target], { reject: false });
    }
  });

  test('a second backup on the same target while one runs: refused, naming the running one', { timeout: 120_000 }, async () => {
    const { volumes } = await sources('second');
    const target = join(root, 'target-second');
    await mkdir(target);
    const first = await start({ mode: 'apply', approval: 'required', target, volumes });
    await waitFor('the first to wait for approval', async () => (await getProgress(bed.client, first.workflowId).catch(() => undefined))?.outcome === 'AwaitingApproval', 60_000);
    await assert.rejects(start({ mode: 'apply', approval: 'auto', target, volumes }), new RegExp(`already running.*${first.workflowId.replace(/[/.]/g, '.')}`));
    await first.handle.cancel();
  });

  test('retention keeps the newest K complete packs and never touches an incomplete one', { timeout: 300_000 }, async () => {
    const { volumes } = await sources('retention');
    const target = join(root, 'target-retention');
    await mkdir(join(target, '.partial-backup-20200101T000000Z'), { recursive: true });
    await mkdir(join(target, 'backup-20200101T000000Z'));
    await writeFile(join(target, 'backup-20200101T000000Z', 'mine.txt'), 'not a pack: no manifest\n');
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { report, error } = await run({ mode: 'apply', approval: 'auto', target, volumes, keep: 2 });
      assert.equal(report?.outcome, 'Succeeded', error);
      made.push(evidence(report!, 'finish').pack);
      await new Promise((r) => setTimeout(r, 1100)); // pack names have one-second resolution
    }
    const left = (await readdir(target)).sort();
    assert.deepEqual(left, ['.partial-backup-20200101T000000Z', 'backup-20200101T000000Z', ...made.slice(1).map((p) => p.replace(/^.*\//, ''))].sort());
    assert.ok(await lstat(join(target, 'backup-20200101T000000Z', 'mine.txt')));
  });

  test('a pack being verified is not pruned: verifyBackup holds it (in plan mode too), the prune keeps it and names the holder, a later prune deletes it', { timeout: 300_000 }, async () => {
    const { volumes } = await sources('verify-hold');
    const target = join(root, 'target-verify-hold');
    await mkdir(target);
    const backup = async () => {
      const { report, error } = await run({ mode: 'apply', approval: 'auto', target, volumes, keep: 1 });
      assert.equal(report?.outcome, 'Succeeded', error);
      await new Promise((r) => setTimeout(r, 1100)); // pack names have one-second resolution
      return report!;
    };
    const oldest = evidence(await backup(), 'finish').pack as string;
    const planned = await verify(oldest);
    assert.equal(planned.report?.outcome, 'Planned', planned.error);
    assert.deepEqual(planned.report!.claims, [`path:${hostname()}:${await realpath(oldest)}`], 'a plan-mode verify claims the pack it reads');

    // An apply-mode verify waits for its approval holding the pack: a backup meanwhile keeps it.
    const held = await startRunbook(bed.client, bed.config, 'verifyBackup', { mode: 'apply', approval: 'required', pack: oldest }, { requestedBy: 'alice', origin: 'test' });
    await waitFor('the verify to wait for its approval', async () => (await getProgress(bed.client, held.workflowId)).outcome === 'AwaitingApproval');
    const during = await backup();
    assert.deepEqual(evidence(during, 'prune').inUse, [{ pack: basename(oldest), heldBy: held.workflowId }]);
    assert.deepEqual(evidence(during, 'prune').deleted, []);
    assert.ok(during.notes.some((n) => n.includes(`in use, not deleted: ${basename(oldest)} (held by ${held.workflowId})`)), during.notes.join('\n'));
    assert.ok((await lstat(join(oldest, 'manifest.json'))).isFile(), 'the pack under verification is whole');

    await held.handle.cancel();
    await waitForReport(held.handle);
    const after = await backup();
    const newest = evidence(after, 'finish').pack as string;
    assert.deepEqual(evidence(after, 'prune').deleted.map((d: { pack: string }) => d.pack).sort(), [basename(oldest), basename(evidence(during, 'finish').pack)].sort());
    assert.deepEqual(await readdir(target), [basename(newest)]);
  });
});
