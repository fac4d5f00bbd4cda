// `npm run record-history`: runs serviceRestart once (approval, steps, progress signals) against the
// test server and saves its event history; test/workflows/replay.test.ts replays it with every change.
import { writeFile, mkdir } from 'node:fs/promises';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { approveRunbook, getProgress, startRunbook, waitForReport } from '../../src/client';
import { serviceControl } from '../../src/activities/services/index';
import { makeService, servingPid, waitFor } from './service';
import { startWorker, testClient, testConfig } from './temporal';

export const HISTORY_FILE = new URL('../fixtures/histories/serviceRestart.json', import.meta.url);

const config = testConfig('history');
const client = await testClient(config);
const worker = await startWorker(config);
const service = await makeService('recorded', { startupDelayMs: 1500 });
try {
  await serviceControl(service.spec).start();
  await waitFor('the service', () => servingPid(service));
  const run = await startRunbook(client, config, 'serviceRestart', {
    mode: 'apply',
    approval: 'required',
    service: service.spec,
    health: { url: service.url('/health') },
    smokeChecks: [{ url: service.url('/'), bodyMatch: '"pid"' }],
  }, { requestedBy: 'alice', origin: 'test' });
  await waitFor('approval', async () => (await getProgress(client, run.workflowId).catch(() => undefined))?.outcome === 'AwaitingApproval');
  await approveRunbook(client, run.workflowId, { approver: 'bob', decision: 'approve' });
  const { report } = await waitForReport(run.handle);
  if (report?.outcome !== 'Succeeded') throw new Error(`recording run ended ${report?.outcome}`);
  await mkdir(new URL('.', HISTORY_FILE), { recursive: true });
  // The workflow checks its own ID against its target, so replay needs the recorded ID too.
  const history = JSON.parse(historyToJSON(await run.handle.fetchHistory()));
  await writeFile(HISTORY_FILE, `${JSON.stringify({ workflowId: run.workflowId, history }, null, 1)}\n`);
  process.stderr.write(`recorded ${HISTORY_FILE.pathname}\n`);
} finally {
  await worker.stop();
  await client.connection.close();
  await service.cleanup();
}
