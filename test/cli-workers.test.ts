// `runbook start` refuses, before anything starts, a run whose host no worker serves: exit 3 and the
// queue named. With a worker on that host the same command starts the run.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import type { Config } from '../src/config';
import { listRuns } from '../src/runs';
import { runCli, shown } from './helpers/cli';
import { makeService, restartInput, type TestService } from './helpers/service';
import { startWorker, testClient, testConfig } from './helpers/temporal';

let config: Config;
let client: Client;
let worker: { stop(): Promise<void> };
let service: TestService;

before(async () => {
  config = testConfig('workers');
  client = await testClient(config);
  worker = await startWorker(config);
  service = await makeService('nobody-serves');
});
after(async () => {
  await worker.stop();
  await client.connection.close();
  await service.cleanup();
});

test('a start for a host nobody serves is refused with exit 3, naming the queue; nothing is started', async () => {
  const file = join(tmpdir(), `nobody-${process.pid}.json`);
  await writeFile(file, JSON.stringify({ ...restartInput(service, { mode: 'plan' }), host: 'no-such-host' }));
  const r = await runCli(config, ['start', 'serviceRestart', '--input', file, '--as', 'alice']);
  assert.equal(r.exitCode, 3, shown(r));
  assert.match(r.stderr, new RegExp(`no worker serves ${config.taskQueue}@no-such-host`), shown(r));
  const runs = await listRuns(client, { runbook: 'serviceRestart', target: 'no-such-host/nobody-serves' });
  assert.equal(runs.length, 0, 'no run was started');

  // The same input for this host, which a worker serves, starts and plans.
  await writeFile(file, JSON.stringify(restartInput(service, { mode: 'plan' })));
  const ok = await runCli(config, ['start', 'serviceRestart', '--input', file, '--as', 'alice', '--wait']);
  assert.equal(ok.exitCode, 0, shown(ok));
});
