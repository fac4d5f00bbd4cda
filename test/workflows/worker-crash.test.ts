// Durability: the worker process is killed with SIGKILL in the middle of a long step and started
// again; the run completes, the report shows the retry, and nothing ran twice that had finished.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { getProgress as queryProgress, startRunbook, waitForReport } from '../../src/client';
import type { Config } from '../../src/config';
import { serviceControl } from '../../src/activities/services/index';
import { get, makeService, servingPid, waitFor, type TestService } from '../helpers/service';
import { testClient, testConfig } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

let config: Config;
let client: Client;
let service: TestService;
const workers: WorkerProcess[] = [];

before(async () => {
  config = testConfig('crash');
  client = await testClient(config);
  service = await makeService('slow', { startupDelayMs: 8000 });
});
after(async () => {
  for (const w of workers) w.process.kill('SIGKILL');
  await client.connection.close();
  await service.cleanup();
});

test('a worker killed with SIGKILL during a long step: the run resumes on a new worker and completes', async () => {
  await serviceControl({ ...service.spec, start: service.spec.start.slice(0, -2) }).start(); // running, fast start
  const oldPid = await waitFor('the service', () => servingPid(service));

  const first = await spawnWorker(config, workers);
  // The endpoint answers once the runtime is installed; the SDK's series appear once its workers poll.
  await waitFor('the worker to serve Prometheus metrics from the SDK runtime', async () => {
    const metrics = await get(first.metricsUrl);
    return 'body' in metrics && /temporal_/.test(metrics.body);
  }, 30_000);

  const run = await startRunbook(client, config, 'serviceRestart', {
    mode: 'apply',
    approval: 'auto',
    service: service.spec.name, // declared by makeService: health GET /health, no retries
  }, { requestedBy: 'alice', origin: 'test' });

  // The new process takes 8 s to listen: kill the worker while "wait healthy" polls and heartbeats.
  const waiting = await waitFor('the wait-healthy step to report a heartbeat', async () => {
    const step = (await queryProgress(client, run.workflowId).catch(() => undefined))?.steps.find((s) => s.id === 'wait-healthy');
    return step?.state === 'running' && step.lastHeartbeat ? step : undefined;
  }, 60_000);
  assert.equal(waiting.attempts, 1);
  first.process.kill('SIGKILL');
  const killed = await first.process;
  assert.equal(killed.signal, 'SIGKILL');
  assert.ok(
    (killed.stdout as string[]).every((line) => typeof JSON.parse(line).msg === 'string'),
    'every worker log line is pino JSON',
  );

  await spawnWorker(config, workers);
  const { report, error } = await waitForReport(run.handle);
  assert.equal(report?.outcome, 'Succeeded', error);
  const byName = Object.fromEntries(report!.steps.map((s) => [s.id, s]));
  assert.ok(byName['wait-healthy']!.attempts >= 2, `wait healthy retried (attempts: ${byName['wait-healthy']!.attempts})`);
  assert.equal(byName.start!.attempts, 1, 'the service was started once, before the crash, and not again');
  const newPid = await servingPid(service);
  assert.equal((byName.start!.evidence as { pid: number }).pid, newPid);
  assert.notEqual(newPid, oldPid);
});
