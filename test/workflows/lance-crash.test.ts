// lanceRestore survives a worker killed with SIGKILL mid-restore: the new worker resumes from the
// last heartbeat, never copies again a file that was verified, and leaves no temp files.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { getProgress, startRunbook, waitForReport } from '../../src/client';
import type { Config } from '../../src/config';
import { buildLanceIncident, type LanceIncident } from '../../src/demo/lance-incident';
import { diagnoseLance } from '../../src/engines/lance/doctor';
import { waitFor } from '../helpers/service';
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
});
after(async () => {
  for (const w of workers) w.process.kill('SIGKILL');
  await client.connection.close();
  await incident.cleanup();
});

test('a worker killed with SIGKILL mid-restore: the run completes, every file verified, none copied twice, no temp files', async () => {
  const first = await spawnWorker(config, workers);
  const run = await startRunbook(client, config, 'lanceRestore', {
    mode: 'apply',
    approval: 'auto',
    strategy: 'full-restore',
    tableDir: incident.tableDir,
    expectedRows: 386,
    restorePauseMs: 40, // ~12 s for 295 files: time to kill the worker in the middle
  }, { requestedBy: 'alice', origin: 'test' });

  await waitFor('the restore to be under way', async () => {
    const step = (await getProgress(client, run.workflowId).catch(() => undefined))?.steps.find((s) => s.name === 'restore files from LFS');
    return ((step?.lastHeartbeat as { done?: number } | undefined)?.done ?? 0) >= 40;
  }, 60_000);
  first.process.kill('SIGKILL');
  await first.process;
  const data = join(incident.tableDir, 'data');
  const restoredBeforeKill = (await readdir(data)).filter((f) => f.endsWith('.lance')).length - (386 - 295);
  assert.ok(restoredBeforeKill > 0 && restoredBeforeKill < 295, `killed mid-restore (${restoredBeforeKill} of 295 restored)`);

  await spawnWorker(config, workers);
  const { report, error } = await waitForReport(run.handle);
  assert.equal(report?.outcome, 'Succeeded', error);
  const restore = report!.steps.find((s) => s.name === 'restore files from LFS')!;
  assert.ok(restore.attempts >= 2, `the restore step was retried (attempts ${restore.attempts})`);
  const evidence = restore.evidence as { restored: number; resumedAfter: number; copiedThisAttempt: number };
  assert.equal(evidence.restored, 295);
  assert.equal(evidence.copiedThisAttempt, 295 - restoredBeforeKill, 'files verified before the kill were not copied again');
  assert.deepEqual(report!.steps.find((s) => s.name === 'verify table')!.evidence, { version: 421, countRows: 386, scannedRows: 386 });
  const files = await readdir(data);
  assert.deepEqual(files.filter((f) => f.includes('.restore-tmp-')), [], 'no temp files left');
  assert.equal((await diagnoseLance(incident.tableDir)).healthy, true);
});
