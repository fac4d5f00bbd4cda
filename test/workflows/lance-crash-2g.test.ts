// lanceRestore survives a worker killed with SIGKILL inside the copy of one 2 GiB object: the retry on
// a second worker removes the first one's partial copy, resumes after the files the last heartbeat
// confirmed, copies that object exactly once more, and the run's own verify step opens the table at
// its newest version and scans every row. "Once more" is read from the kernel and the disk, not from
// the run's word: the bytes the second worker wrote (/proc/<pid>/io), the temp files created beside
// the object after the kill (inotify), and the inode and mtime of the files restored before the kill.
import assert from 'node:assert/strict';
import { watch, type FSWatcher } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import { getProgress, startRunbook, waitForReport } from '../../src/client';
import type { Config } from '../../src/config';
import { buildLanceIncident, type LanceIncident } from '../../src/demo/lance-incident';
import { diagnoseLance } from '../../src/engines/lance/doctor';
import { hashFile } from '../../src/engines/lfs/store';
import { lfsObjectRelPath, parseLfsPointer } from '../../src/format/lfs/pointer';
import { waitFor } from '../helpers/service';
import { testClient, testConfig } from '../helpers/temporal';
import { processIo, spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const GiB = 1024 ** 3;
const TMP = '.restore-tmp-';

let config: Config;
let client: Client;
let incident: LanceIncident;
let large: NonNullable<LanceIncident['largeFile']>;
let watcher: FSWatcher | undefined;
const workers: WorkerProcess[] = [];
const log = (line: string) => process.stderr.write(`lance-crash-2g: ${line}\n`);

before(async () => {
  config = testConfig('lance-crash-2g');
  client = await testClient(config);
  // Two small files and then the 2 GiB one, all three missing: the retry has files to skip and one to copy.
  incident = await buildLanceIncident({ oldRows: 2, newRows: 4, missing: 3, largeFileBytes: 2 * GiB });
  large = incident.largeFile!;
  log(`built a table with a ${large.bytes} B data file (${large.rows} rows) in ${incident.timings.totalMs} ms (lancedb ${incident.timings.lancedbMs}, git ${incident.timings.gitMs})`);
});
after(async () => {
  watcher?.close();
  for (const w of workers) w.process.kill('SIGKILL');
  await client.connection.close();
  await incident?.cleanup();
});

interface Heartbeat {
  done?: number;
  current?: { path: string; bytes: number; size: number };
}

const exists = (path: string) => lstat(path).then(() => true, () => false);

test('a worker killed with SIGKILL inside the copy of a 2 GiB object: the run succeeds, the object copied exactly once more, verified, no temp files', async () => {
  const started = Date.now();
  const data = join(incident.tableDir, 'data');
  const largeName = basename(large.path);
  const largeDest = join(incident.tableDir, large.path);
  const pointer = parseLfsPointer((await execa('git', ['cat-file', 'blob', `HEAD:db/images.lance/${large.path}`], { cwd: incident.repoRoot })).stdout);
  assert.ok(pointer && pointer.size === large.bytes && large.bytes >= 2 * GiB, `HEAD holds an LFS pointer to the ${large.bytes} B object`);
  assert.equal((await stat(join(incident.gitDir, lfsObjectRelPath(pointer.oid)))).size, large.bytes, 'the LFS store holds the object');

  const first = await spawnWorker(config, workers);
  const run = await startRunbook(client, config, 'lanceRestore', {
    mode: 'apply',
    approval: 'auto',
    strategy: 'full-restore',
    tableDir: incident.tableDir,
    expectedRows: incident.newRows,
  }, { requestedBy: 'alice', origin: 'test' });

  // A heartbeat from inside the large object: some of it copied, not all.
  const seen = await waitFor('a heartbeat from inside the copy of the large object', async () => {
    const step = (await getProgress(client, run.workflowId).catch(() => undefined))?.steps.find((s) => s.id === 'restore');
    const beat = step?.lastHeartbeat as Heartbeat | undefined;
    return beat?.current?.path === large.path && beat.current.bytes > 0 && beat.current.bytes < beat.current.size ? beat : undefined;
  }, 240_000);
  first.process.kill('SIGKILL');
  await first.process;
  log(`killed the first worker ${Math.round((Date.now() - started) / 1000)} s into the run; its last heartbeat seen: ${seen.current!.bytes} of ${seen.current!.size} B of the large object, ${seen.done} files done`);
  assert.equal(seen.current!.size, large.bytes);

  // The disk at the kill: the large object is not in place, only a partial temp copy of it; the
  // files before it are restored.
  const atKill = await readdir(data);
  assert.equal(await exists(largeDest), false, 'no large file at its destination at the kill');
  const partial = atKill.filter((f) => f.startsWith(`${largeName}${TMP}`));
  assert.equal(partial.length, 1, `one partial copy of the large object at the kill: ${partial.join(', ')}`);
  const partialBytes = (await stat(join(data, partial[0]!))).size;
  assert.ok(partialBytes > 0 && partialBytes < large.bytes, `the kill came mid-object: the temp copy held ${partialBytes} of ${large.bytes} B`);
  const smallMissing = incident.missingFiles.filter((f) => f !== large.path);
  const beforeRetry = new Map<string, { ino: bigint; mtimeNs: bigint }>();
  for (const f of smallMissing) {
    const s = await stat(join(incident.tableDir, f), { bigint: true });
    beforeRetry.set(f, { ino: s.ino, mtimeNs: s.mtimeNs });
  }
  assert.equal(beforeRetry.size, 2, 'the two small files were restored before the kill');

  // From here on, every temp file made beside the large object (inotify sees each creation).
  const tempsCreated = new Set<string>();
  watcher = watch(data, (_event, name) => {
    if (name?.startsWith(`${largeName}${TMP}`) && !partial.includes(name)) tempsCreated.add(name);
  });

  const second = await spawnWorker(config, workers);
  const ioAtStart = await processIo(second);
  const { report, error } = await waitForReport(run.handle);
  const ioAtEnd = await processIo(second);
  watcher.close();
  log(`run finished ${Math.round((Date.now() - started) / 1000)} s after it started; the second worker wrote ${ioAtEnd.wchar - ioAtStart.wchar} B`);

  assert.equal(report?.outcome, 'Succeeded', error);
  const byId = Object.fromEntries(report!.steps.map((s) => [s.id, s]));
  assert.equal(byId['restore']!.attempts, 2, 'the restore step ran twice: the killed attempt and the one that finished');
  const restored = byId['restore']!.evidence as Record<string, unknown>;
  assert.equal(restored.restored, 3);
  assert.equal(restored.resumedAfter, 2, 'the retry resumed after the two files the heartbeat confirmed');
  assert.equal(restored.copiedThisAttempt, 1, 'the retry copied one file: the large object');
  assert.equal(restored.staleTempFilesRemoved, 1, 'the retry removed the partial copy');
  assert.deepEqual(byId['verify']!.evidence, { version: incident.newVersion, countRows: incident.newRows, scannedRows: incident.newRows });

  // The large object, in place with the LFS object's bytes.
  const placed = await stat(largeDest);
  assert.equal(placed.size, large.bytes);
  assert.equal(placed.nlink, 1, 'the temp name it was written under is gone');
  assert.equal((await hashFile(largeDest)).sha256, pointer.oid, 'the restored file has the LFS object sha256');

  // Copied exactly once more: one temp file made for it after the kill, and the second worker wrote
  // its bytes once (a second copy, or rewriting the small files, would take it past that).
  assert.equal(tempsCreated.size, 1, `one temp file made for the large object after the kill: ${[...tempsCreated].join(', ')}`);
  const wrote = ioAtEnd.wchar - ioAtStart.wchar;
  assert.ok(wrote >= large.bytes, `the second worker wrote the object (${wrote} B)`);
  assert.ok(wrote < large.bytes + 64 * 1024 * 1024, `the second worker wrote the object once and little else: ${wrote} B for a ${large.bytes} B object`);

  // The files restored before the kill were not copied again.
  for (const [f, was] of beforeRetry) {
    const now = await stat(join(incident.tableDir, f), { bigint: true });
    assert.equal(now.ino, was.ino, `${f} restored before the kill was not replaced (inode)`);
    assert.equal(now.mtimeNs, was.mtimeNs, `${f} restored before the kill was not rewritten (mtime)`);
  }

  assert.deepEqual((await readdir(data)).filter((f) => f.includes(TMP)), [], 'no temp files left');
  assert.equal((await diagnoseLance(incident.tableDir)).healthy, true);
});
