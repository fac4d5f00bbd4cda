// A run started without `mode` only plans: nothing on the host changes. Real worker, a real HTTP
// service process, and a real broken LanceDB table in a git-lfs repository.
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { startRunbook, waitForReport } from '../../src/client';
import type { Config } from '../../src/config';
import { buildLanceIncident, type LanceIncident } from '../../src/demo/lance-incident';
import { runningService, servingPid, type TestService } from '../helpers/service';
import { startWorker, testClient, testConfig } from '../helpers/temporal';

let config: Config;
let client: Client;
let worker: { stop(): Promise<void> };
const services: TestService[] = [];
let incident: LanceIncident | undefined;

before(async () => {
  config = testConfig('default-mode');
  client = await testClient(config);
  worker = await startWorker(config);
});
after(async () => {
  await worker.stop();
  await client.connection.close();
  await Promise.all(services.map((s) => s.cleanup()));
  await incident?.cleanup();
});

/** Every file under `dir` with its inode, size and mtime (ns): any write, move or removal changes it. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const s = await stat(join(dir, name), { bigint: true });
    out[name] = `${s.isDirectory() ? 'dir' : 'file'} ino ${s.ino} size ${s.size} mtime ${s.mtimeNs}`;
  }
  return out;
}

test('serviceRestart started without mode only plans: the service keeps its process and pidfile', async () => {
  const { service, pid } = await runningService('default-mode', services);
  const pidFileBefore = await readFile(service.spec.pidFile, 'utf8');
  // No `mode` (and approval: auto, so an apply default would go ahead without anyone approving).
  const input = { approval: 'auto', service: service.spec.name };
  assert.equal('mode' in input, false);
  const run = await startRunbook(client, config, 'serviceRestart', input, { requestedBy: 'alice', origin: 'test' });
  const { report, error } = await waitForReport(run.handle);
  assert.equal(await servingPid(service), pid, 'the same process still serves');
  assert.equal(await readFile(service.spec.pidFile, 'utf8'), pidFileBefore, 'the pidfile is untouched');
  assert.equal(report?.outcome, 'Planned', error);
  assert.equal(report?.changed, false);
});

test('lanceRestore started without mode only plans: no file of the table or beside it changes', async () => {
  incident = await buildLanceIncident({ versions: 'seed' });
  const parent = dirname(incident.tableDir); // quarantine would go here, beside the table
  const before = await tree(parent);
  const input = { approval: 'auto', tableDir: incident.tableDir, strategy: 'full-restore', expectedRows: 386 };
  assert.equal('mode' in input, false);
  const run = await startRunbook(client, config, 'lanceRestore', input, { requestedBy: 'alice', origin: 'test' });
  const { report, error } = await waitForReport(run.handle);
  assert.deepEqual(await tree(parent), before, 'nothing restored, moved or quarantined');
  const missing = incident.missingFiles.filter((f) => !before[join('images.lance', f)]);
  assert.equal(missing.length, 295, 'the 295 files are still missing');
  assert.equal(report?.outcome, 'Planned', error);
  assert.equal(report?.changed, false);
});
