// lanceRestore survives a worker killed with SIGKILL mid-restore: the new worker resumes after the
// files the last heartbeat confirmed, never copies again a file that was verified, places the
// complete copies the first worker had staged as they are (at most the one file being written at the
// kill is copied again), and leaves no temp files. "Not copied again" and "not read again" are read from the disk: a file restored before the
// kill keeps its inode and mtime, and its atime shows whether the retry opened it to check it again.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { startRunbook, waitForReport } from '../../src/client';
import type { Config } from '../../src/config';
import { buildLanceIncident, type LanceIncident } from '../../src/demo/lance-incident';
import { diagnoseLance } from '../../src/engines/lance/doctor';
import { assertCopiedOnceButInFlight, assertMatchesLfsObjects, assertNoTempFiles, assertNotRewritten, onDisk, restoredNow, waitForRestored, watchCopies } from '../helpers/restore-evidence';
import { testClient, testConfig } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

let config: Config;
let client: Client;
let incident: LanceIncident;
const workers: WorkerProcess[] = [];

before(async () => {
  config = testConfig('lance-crash');
  client = await testClient(config);
  incident = await buildLanceIncident({ versions: 'seed' });
  await assertAtimeKept(incident.tableDir);
});
after(async () => {
  for (const w of workers) w.process.kill('SIGKILL');
  await client.connection.close();
  await incident.cleanup();
});

/**
 * The "not read again" check needs the kernel to update atime on the first read after a write
 * (relatime or strictatime, Linux's default). On a noatime mount it cannot see reads: say so.
 */
async function assertAtimeKept(near: string): Promise<void> {
  const dir = await mkdtemp(join(near, '..', '.atime-probe-'));
  try {
    const file = join(dir, 'probe');
    await writeFile(file, 'x');
    const written = (await stat(file, { bigint: true })).atimeNs;
    await new Promise((r) => setTimeout(r, 20));
    await readFile(file);
    const read = (await stat(file, { bigint: true })).atimeNs;
    assert.ok(read > written, `this test reads re-reads from atime, but ${near} is on a file system that does not update atime (noatime?): run it on a relatime or strictatime mount`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a worker killed with SIGKILL mid-restore: the run completes, every file verified, none copied twice but the one in flight, none re-read, no temp files', async () => {
  const first = await spawnWorker(config, workers);
  const copies = watchCopies(incident);
  const run = await startRunbook(client, config, 'lanceRestore', {
    mode: 'apply',
    approval: 'auto',
    strategy: 'full-restore',
    tableDir: incident.tableDir,
    expectedRows: 386,
    restorePauseMs: 40, // ~12 s for 295 files: time to kill the worker in the middle
  }, { requestedBy: 'alice', origin: 'test' });

  await waitForRestored(client, run.workflowId, 40);
  first.process.kill('SIGKILL');
  await first.process;
  const killedAtNs = BigInt(Date.now()) * 1_000_000n;

  // The files in place at the kill: restored (and verified) by the first worker.
  const atKill = await restoredNow(incident);
  const restoredBeforeKill = [...atKill.restored.keys()];
  assert.ok(restoredBeforeKill.length > 0 && restoredBeforeKill.length < 295, `killed mid-restore (${restoredBeforeKill.length} of 295 restored)`);

  await spawnWorker(config, workers);
  const { report, error } = await waitForReport(run.handle);
  assert.equal(report?.outcome, 'Succeeded', error);
  const restore = report!.steps.find((s) => s.name === 'restore files from LFS')!;
  assert.ok(restore.attempts >= 2, `the restore step was retried (attempts ${restore.attempts})`);
  assert.deepEqual(report!.steps.find((s) => s.name === 'verify table')!.evidence, { version: 421, countRows: 386, scannedRows: 386 });

  // Not copied twice: each file restored before the kill is the same inode, never rewritten; of the
  // copies staged at the kill (temp files, not in place; the next batch, while one was being placed),
  // the retry placed the complete ones as they were and copied again at most the one being written.
  await assertNotRewritten(incident, atKill);
  copies.close();
  const twice = assertCopiedOnceButInFlight(incident, copies, atKill);
  const evidence = restore.evidence as { tempFilesAdopted: number; staleTempFilesRemoved: number; copiedThisAttempt: number };
  assert.ok(atKill.staged.size > 1, `the kill left staged copies for the retry to adopt (${atKill.staged.size})`);
  if (restore.attempts === 2) {
    assert.equal(evidence.tempFilesAdopted + twice.length, atKill.staged.size, `every copy staged at the kill adopted (${evidence.tempFilesAdopted}) or copied again (${twice.length})`);
    assert.equal(evidence.staleTempFilesRemoved, twice.length, 'the partial copy of the file copied again was removed');
  }

  // Not read again: the retry resumed after the files the last heartbeat confirmed. A retry that
  // checks a file again reads it before it restores the files after it, so its atime falls between
  // the kill and the last file restored after the kill (the table's verification reads later).
  const data = join(incident.tableDir, 'data');
  const restoredAfterKill = incident.missingFiles.map((f) => f.replace(/^data\//, '')).filter((name) => !atKill.restored.has(name));
  let lastRestoredNs = 0n;
  for (const name of restoredAfterKill) {
    const s = await stat(join(data, name), { bigint: true });
    if (s.ctimeNs > lastRestoredNs) lastRestoredNs = s.ctimeNs;
  }
  const atimes = await Promise.all(restoredBeforeKill.map(async (name) => [name, (await onDisk(join(data, name))).atimeNs] as const));
  const reread = atimes.filter(([, atimeNs]) => atimeNs > killedAtNs && atimeNs <= lastRestoredNs).map(([name]) => name);
  const skipped = restoredBeforeKill.length - reread.length;
  process.stderr.write(`lance-crash: ${restoredBeforeKill.length} files restored before the kill; the retry read ${reread.length} of them again and skipped ${skipped}; ${atKill.staged.size} were staged at the kill: ${evidence.tempFilesAdopted} adopted by the retry, ${twice.length} copied again\n`);
  assert.ok(skipped > 0, `the retry resumed after the heartbeated files: it read all ${restoredBeforeKill.length} files restored before the kill again`);

  await assertNoTempFiles(incident);
  await assertMatchesLfsObjects(incident);
  assert.equal((await diagnoseLance(incident.tableDir)).healthy, true);
});
