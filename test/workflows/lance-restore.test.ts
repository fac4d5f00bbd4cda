// lanceRestore on incident 000 made for real: a LanceDB table in a git repository whose *.lance files
// are in git-LFS, 295 of the 386 files version 421 needs gone from data/, a real HTTP backend that
// answers 500 while they are gone, the real dev server and worker.
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { getProgress, RefusedError, startRunbook, waitForReport } from '../../src/client';
import { sha256File } from '../../src/activities/files';
import { serviceControl } from '../../src/activities/services/index';
import { diagnoseLance } from '../../src/engines/lance/doctor';
import { freePort } from '../../src/platform/dev-server';
import type { LanceRestoreRequest } from '../../src/workflows/inputs';
import { RunbookOutcome } from '../../src/workflows/names';
import { buildLanceIncident, type LanceIncident } from '../../src/demo/lance-incident';
import { rewriteManifest } from '../helpers/lance-manifest';
import { declareService, get, pidInFile, waitFor } from '../helpers/service';
import { answerCurrentPlan, useTestBed } from '../helpers/temporal';

const bed = useTestBed('lance');

const backendScript = fileURLToPath(new URL('../../demo/lance-images-api.mjs', import.meta.url));


interface Scene {
  incident: LanceIncident;
  input: LanceRestoreRequest;
  api: string;
  /** The backend's pidfile. */
  pidFile: string;
}

/**
 * The incident plus its backend running, serving /api/images from the table, declared in the test
 * worker's services file as `images-api-<port>` (health: GET /health; check `images`: GET /api/images).
 */
async function scene(options: Parameters<typeof buildLanceIncident>[0] = {}): Promise<Scene> {
  const incident = await buildLanceIncident(options);
  bed.cleanups.push(() => incident.cleanup());
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const service = {
    adapter: 'exec' as const,
    name: `images-api-${port}`,
    start: [process.execPath, backendScript, '--db', incident.dbDir, '--table', 'images', '--port', String(port)],
    pidFile: join(incident.repoRoot, '..', `images-api-${port}.pid`),
    logFile: join(incident.repoRoot, '..', `images-api-${port}.log`),
  };
  const { name, ...entry } = service;
  await declareService(name, {
    ...entry,
    health: { url: `${api}/health` },
    checks: { images: { url: `${api}/api/images`, expectStatus: 200, retries: 2, delayMs: 200 } },
  });
  await serviceControl({ ...service, stopTimeoutSeconds: 10 }).start();
  bed.cleanups.push(() => serviceControl({ ...service, stopTimeoutSeconds: 5 }).stop());
  await waitFor('the backend', async () => 'status' in (await get(`${api}/health`)));
  return {
    incident,
    api,
    pidFile: service.pidFile,
    input: {
      mode: 'apply',
      approval: 'auto',
      tableDir: incident.tableDir,
      service: name,
    },
  };
}

const start = (input: LanceRestoreRequest, requestedBy = 'alice') => startRunbook(bed.client, bed.config, 'lanceRestore', input, { requestedBy, origin: 'test' });

async function apiRows(api: string): Promise<{ status: number; rows?: number; version?: number }> {
  const answer = await get(`${api}/api/images`);
  if (!('status' in answer)) throw new Error(`backend did not answer: ${answer.error}`);
  return { status: answer.status, ...(answer.status === 200 ? JSON.parse(answer.body) : {}) };
}

/** When a process started, from /proc (boot time + start ticks; Linux's USER_HZ is 100). */
async function processStartMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  const boot = Number(/^btime (\d+)$/m.exec(await readFile('/proc/stat', 'utf8'))![1]);
  return boot * 1000 + ticks * 10;
}

describe('lanceRestore', () => {
  test('full restore at the seed scale: 295 files back from LFS, 386 rows, every fragment scanned, API 200', async () => {
    const { incident, input, api } = await scene({ versions: 'seed' });
    assert.equal((await apiRows(api)).status, 500, 'the backend fails while files are missing, as in the incident');

    const run = await start({ ...input, strategy: 'auto', expectedRows: 386 });
    const { report, error } = await waitForReport(run.handle);
    assert.equal(report?.outcome, 'Succeeded', error);
    assert.deepEqual(report!.steps.map((s) => s.id), [
      'resolve', 'diagnose', 'diagnose-backend', 'stop-backend', 'wait-backend-down', 'snapshot', 'restore',
      'verify', 'start-backend', 'wait-backend-healthy', 'smoke',
    ]);
    const byId = Object.fromEntries(report!.steps.map((s) => [s.id, s.evidence as Record<string, any>]));
    assert.equal(byId['restore']!.restored, 295);
    assert.deepEqual(byId['verify'], { version: 421, countRows: 386, scannedRows: 386 });
    assert.equal(byId['diagnose']!.restorable.count, 295);
    assert.equal(byId['diagnose']!.restorable.first.length, 5, 'the payload carries the first few; the host keeps the list');
    assert.deepEqual(await apiRows(api), { status: 200, rows: 386, version: 421 });

    const data = await readdir(join(incident.tableDir, 'data'));
    assert.equal(data.length, 386);
    assert.equal(data.filter((f) => f.includes('restore-tmp')).length, 0, 'no temp files left');
    const sums = (await readFile(join(byId['snapshot']!.destination, 'SHA256SUMS'), 'utf8')).trim().split('\n');
    assert.ok(sums.some((l) => l.endsWith('_versions/421.manifest')), 'the snapshot lists the manifest it copied');
    assert.equal((await diagnoseLance(incident.tableDir)).healthy, true);
  });

  test('fallback when an LFS object is corrupt: approval shows the rows lost, the broken version is moved aside, API 200 on version 61', async () => {
    const { incident, input, api } = await scene({ versions: 'seed', corruptObjects: 1 });
    const run = await start({ ...input, strategy: 'auto' });
    await waitFor('approval', async () => (await getProgress(bed.client, run.workflowId).catch(() => undefined))?.outcome === 'AwaitingApproval');
    const { plan } = await getProgress(bed.client, run.workflowId);
    assert.ok(plan!.actions.some((a) => /356 rows of version 421 will no longer be served/.test(a)), plan!.actions.join('\n'));
    assert.equal((await apiRows(api)).status, 500, 'nothing changes before approval');

    await answerCurrentPlan(bed.client, run.workflowId, 'bob');
    const { report, error } = await waitForReport(run.handle);
    assert.equal(report?.outcome, 'Succeeded', error);
    assert.deepEqual(await apiRows(api), { status: 200, rows: 30, version: 61 });
    assert.ok(report!.notes.some((n) => /356 rows of version 421 are no longer served/.test(n)), report!.notes.join('\n'));
    const manifestMove = report!.filesMoved.find((m) => m.from.endsWith('_versions/421.manifest'));
    assert.ok(manifestMove, 'the broken manifest was moved, not deleted');
    assert.equal(await sha256File(manifestMove.to), manifestMove.sha256);
    assert.ok(report!.filesMoved.some((m) => /_transactions\/420-.*\.txn$/.test(m.from)), 'its transaction file went with it');
    assert.equal(report!.compensations.length, 0);
    void incident;
  });

  test('a fallback whose verification fails is undone from disk: the manifest is back byte for byte, the backend runs again', async () => {
    const { incident, input, api } = await scene({ versions: 'seed', corruptObjects: 1 });
    const manifest = join(incident.tableDir, '_versions', '421.manifest');
    const sha = await sha256File(manifest);
    const run = await start({ ...input, strategy: 'fallback', approval: 'auto', expectedRows: 999 });
    const { report } = await waitForReport(run.handle);
    assert.equal(report?.outcome, 'Failed');
    assert.match(report!.error!, /20 rows, expected 999|30 rows, expected 999/);
    assert.deepEqual(report!.compensations.map((c) => [c.id, c.state]), [['return-quarantined', 'completed'], ['start-backend-again', 'completed']]);
    assert.equal(await sha256File(manifest), sha, 'the broken manifest is back where it was, unchanged');
    const answer = await waitFor('the backend to answer again', async () => { const a = await get(`${api}/api/images`); return 'status' in a && a; });
    assert.equal(answer.status, 500, 'the backend runs again, on the table as it was');
  });

  test('cancel in the middle of a restore: the copy stops, then the backend starts again; no temp file is left', async () => {
    const { incident, input, api, pidFile } = await scene({ versions: 'seed' });
    const run = await start({ ...input, strategy: 'full-restore', restorePauseMs: 150 });
    await waitFor('the restore to be under way', async () => {
      const step = (await getProgress(bed.client, run.workflowId).catch(() => undefined))?.steps.find((s) => s.id === 'restore');
      return ((step?.lastHeartbeat as { done?: number } | undefined)?.done ?? 0) >= 10;
    }, 60_000);
    await run.handle.cancel();
    await assert.rejects(run.handle.result());
    assert.equal((await run.handle.describe()).typedSearchAttributes.get(RunbookOutcome), 'Cancelled');
    const data = join(incident.tableDir, 'data');
    const files = await readdir(data);
    assert.equal(files.filter((f) => f.includes('restore-tmp')).length, 0, 'no temp file left');
    assert.ok(files.length > 91 && files.length < 386, `the restore stopped part way (${files.length} of 386 files)`);
    const lastWrite = Math.max(...(await Promise.all(files.map(async (f) => (await stat(join(data, f))).mtimeMs))));
    const pid = pidInFile(await readFile(pidFile, 'utf8'));
    assert.ok(pid, 'the backend has a pid in its pidfile');
    const startedAt = await processStartMs(pid);
    assert.ok(startedAt >= lastWrite, `the backend started (${new Date(startedAt).toISOString()}) after the last file was written (${new Date(lastWrite).toISOString()})`);
    const restarted = await waitFor('the backend', async () => 'status' in (await get(`${api}/health`)));
    assert.ok(restarted);
  });

  test('an LFS object whose content does not match its oid is refused: full restore fails before anything is written', async () => {
    const { incident, input, api } = await scene({ versions: 'seed', corruptObjects: 1 });
    const before = (await readdir(join(incident.tableDir, 'data'))).sort();
    const run = await start({ ...input, strategy: 'full-restore' });
    const finished = await waitForReport(run.handle);
    assert.equal(finished.report?.outcome, 'Failed');
    assert.match(finished.report!.error!, new RegExp(`full restore impossible: ${incident.corruptedFiles[0]}: LFS object [0-9a-f]{64} is corrupt: its bytes hash to [0-9a-f]{64}`));
    assert.equal(finished.report!.changed, false);
    assert.deepEqual((await readdir(join(incident.tableDir, 'data'))).sort(), before, 'data/ unchanged');
    assert.equal((await apiRows(api)).status, 500, 'the backend was not touched either');
  });

  for (const [label, hostile] of [['a path with ..', '../../../../etc/passwd'], ['an absolute path', '/etc/passwd']] as const) {
    test(`a manifest naming ${label} is rejected with a clear error, nothing touched`, async () => {
      const { incident, input } = await scene({ newRows: 40, missing: 5 });
      await rewriteManifest(incident.tableDir, `${incident.newVersion}.manifest`, (m) => {
        m.fragments[0].files[0].path = hostile;
      });
      const versions = await readdir(join(incident.tableDir, '_versions'));
      const run = await start({ ...input, strategy: 'auto' });
      const finished = await waitForReport(run.handle);
      assert.equal(finished.ok, false);
      assert.match(finished.report?.error ?? finished.error!, new RegExp(`unsafe path "${hostile.replace(/[./]/g, '\\$&')}"`));
      assert.equal(finished.report?.changed, false);
      assert.deepEqual(await readdir(join(incident.tableDir, '_versions')), versions);
    });
  }

  test('two runs on the same table: the second is refused with the first one’s ID', async () => {
    const { input } = await scene({ newRows: 40, missing: 5 });
    const first = await start({ ...input, approval: 'required' });
    await assert.rejects(start({ ...input, mode: 'plan' }), (err: Error) => err instanceof RefusedError && err.message === `already running: ${first.workflowId}`);
    await waitFor('approval', async () => (await getProgress(bed.client, first.workflowId).catch(() => undefined))?.outcome === 'AwaitingApproval');
    await answerCurrentPlan(bed.client, first.workflowId, 'bob', 'reject');
    assert.equal((await waitForReport(first.handle)).report?.outcome, 'Rejected');
  });

  test('one run per resource: the same table spelled /t/ is the same run; a serviceRestart of its backend is refused naming the holder', async () => {
    const { input } = await scene({ newRows: 40, missing: 5 });
    const first = await start({ ...input, approval: 'required' });
    await assert.rejects(start({ ...input, tableDir: `${input.tableDir}/`, mode: 'plan' }), (err: Error) => err instanceof RefusedError && err.message === `already running: ${first.workflowId}`);
    await waitFor('approval', async () => (await getProgress(bed.client, first.workflowId).catch(() => undefined))?.outcome === 'AwaitingApproval');
    const restart = await startRunbook(bed.client, bed.config, 'serviceRestart', { mode: 'apply', approval: 'auto', service: input.service! }, { requestedBy: 'carol', origin: 'test' });
    const refused = await waitForReport(restart.handle);
    assert.equal(refused.ok, false);
    const said = refused.report?.error ?? refused.error ?? '';
    assert.match(said, /^(service:[^ ]+:images-api-\d+|path:[^ ]+\.pid) is held by /);
    assert.ok(said.includes(`is held by ${first.workflowId}`), said);
    assert.equal(refused.report?.changed, false);
    assert.deepEqual(refused.report?.steps.map((s) => s.id), ['resolve'], 'nothing ran after the refused claim');
    await answerCurrentPlan(bed.client, first.workflowId, 'bob', 'reject');
    assert.equal((await waitForReport(first.handle)).report?.outcome, 'Rejected');
    // The claim ended with the run: the backend can be restarted now.
    const next = await startRunbook(bed.client, bed.config, 'serviceRestart', { mode: 'apply', approval: 'required', service: input.service! }, { requestedBy: 'carol', origin: 'test' });
    await waitFor('approval', async () => (await getProgress(bed.client, next.workflowId).catch(() => undefined))?.outcome === 'AwaitingApproval');
    await answerCurrentPlan(bed.client, next.workflowId, 'bob', 'reject');
    assert.equal((await waitForReport(next.handle)).report?.outcome, 'Rejected');
  });
});
