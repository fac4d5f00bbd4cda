// `npm run record-history`: runs each runbook once (approval, steps, progress signals) against the
// test server and saves its event history; test/workflows/replay.test.ts replays them on every change.
import { mkdir, writeFile } from 'node:fs/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { getProgress, startRunbook, waitForReport, type StartedRun } from '../../src/client';
import { serviceControl } from '../../src/activities/services/index';
import { buildLanceIncident } from '../../src/demo/lance-incident';
import { makeService, servingPid, waitFor } from './service';
import { answerCurrentPlan, startWorker, testClient, testConfig } from './temporal';

export const HISTORIES = new URL('../fixtures/histories/', import.meta.url);

const config = testConfig('history');
const client = await testClient(config);
const worker = await startWorker(config);

async function approveAndSave(name: string, run: StartedRun): Promise<void> {
  await waitFor('approval', async () => (await getProgress(client, run.workflowId).catch(() => undefined))?.outcome === 'AwaitingApproval', 60_000);
  await answerCurrentPlan(client, run.workflowId, 'bob');
  const { report, error } = await waitForReport(run.handle as WorkflowHandle);
  if (report?.outcome !== 'Succeeded') throw new Error(`recording ${name} ended ${report?.outcome}: ${error}`);
  // The workflow checks its own ID against its target, so replay needs the recorded ID too.
  const history = JSON.parse(historyToJSON(await run.handle.fetchHistory()));
  await mkdir(HISTORIES, { recursive: true });
  await writeFile(new URL(`${name}.json`, HISTORIES), `${JSON.stringify({ workflowId: run.workflowId, history }, null, 1)}\n`);
  process.stderr.write(`recorded ${name}\n`);
}

const service = await makeService('recorded', { startupDelayMs: 1500 });
const incident = await buildLanceIncident({ newRows: 40, missing: 10 });
try {
  await serviceControl(service.spec).start();
  await waitFor('the service', () => servingPid(service));
  const options = { requestedBy: 'alice', origin: 'test' };
  await approveAndSave('serviceRestart', await startRunbook(client, config, 'serviceRestart', {
    mode: 'apply', approval: 'required', service: service.spec,
    health: { url: service.url('/health') }, smokeChecks: [{ url: service.url('/'), bodyMatch: '"pid"' }],
  }, options));
  await approveAndSave('lanceRestore', await startRunbook(client, config, 'lanceRestore', {
    mode: 'apply', approval: 'required', tableDir: incident.tableDir, expectedRows: 40, service: service.spec,
    health: { url: service.url('/health') },
  }, options));
} finally {
  await worker.stop();
  await client.connection.close();
  await service.cleanup();
  await incident.cleanup();
}
