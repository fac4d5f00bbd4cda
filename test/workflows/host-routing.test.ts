// Host-bound steps run on the worker of the host the input names: two real worker processes on one
// task queue, each with its own RUNBOOK_HOST and its own services file, and a real HTTP service per
// run, declared only in its host's file. Which worker ran the steps is read from the restarted
// service process itself (its parent, and the environment its host's file declares).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { startRunbook, waitForReport } from '../../src/client';
import type { Config } from '../../src/config';
import { updateHostFile } from '../../src/host/host-file';
import { restartInput, runningService, servingPid, testServicesFile, type TestService } from '../helpers/service';
import { testClient, testConfig } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

let config: Config;
let client: Client;
const workers: WorkerProcess[] = [];
const services: TestService[] = [];
const suffix = randomUUID().slice(0, 8);
const hostA = `host-a-${suffix}`;
const hostB = `host-b-${suffix}`;
let filesDir: string;
/** Each host's own services file (same trust and data roots as the test worker's, its own services). */
const servicesFileOf = (host: string) => join(filesDir, `${host}.json`);

before(async () => {
  config = testConfig('host-routing');
  client = await testClient(config);
  filesDir = await mkdtemp(join(tmpdir(), 'host-routing-'));
  const { trust, dataRoots } = JSON.parse(await readFile(testServicesFile(), 'utf8')) as { trust: 'signed' | 'development'; dataRoots: string[] };
  for (const host of [hostA, hostB]) await updateHostFile(servicesFileOf(host), () => ({ trust, dataRoots, services: {} }));
});
after(async () => {
  for (const w of workers) w.process.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.process));
  await client.connection.close();
  await Promise.all(services.map((s) => s.cleanup()));
  if (filesDir) await rm(filesDir, { recursive: true, force: true });
});

/** The parent pid and RUNBOOK_HOST of a live process, from /proc. */
async function processOrigin(pid: number): Promise<{ ppid: number; runbookHost?: string }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const ppid = Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1]);
  const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
  const runbookHost = environ.find((e) => e.startsWith('RUNBOOK_HOST='))?.slice('RUNBOOK_HOST='.length);
  return { ppid, runbookHost };
}

// Two runs per host, all at once: were steps dealt to either worker regardless of host, all four would
// land on the right worker by chance one time in sixteen. A run that waits for a host nobody serves
// fails the test at its timeout instead of hanging it.
test('two workers with different RUNBOOK_HOST: runs for host B are executed by worker B, runs for host A by worker A', { timeout: 120_000 }, async () => {
  const [workerA, workerB] = [
    await spawnWorker(config, workers, { env: { RUNBOOK_HOST: hostA, RUNBOOK_SERVICES_FILE: servicesFileOf(hostA) } }),
    await spawnWorker(config, workers, { env: { RUNBOOK_HOST: hostB, RUNBOOK_SERVICES_FILE: servicesFileOf(hostB) } }),
  ];
  const cases = [];
  for (const [host, worker, other] of [[hostB, workerB, workerA], [hostA, workerA, workerB], [hostB, workerB, workerA], [hostA, workerA, workerB]] as const) {
    const { service, pid } = await runningService(`routed-${cases.length}`, services);
    // Declared on its own host only (a service starts with the environment its host's file gives it,
    // not the worker's: here the host's name).
    await updateHostFile(servicesFileOf(host), (file) => ({ ...file, services: { ...file.services, [service.spec.name]: { ...service.declared, env: { RUNBOOK_HOST: host } } } }));
    cases.push({ host, worker, other, service, pid });
  }
  const runs = await Promise.all(
    cases.map(({ host, service }) => startRunbook(client, config, 'serviceRestart', restartInput(service, { host }), { requestedBy: 'alice', origin: 'test' })),
  );
  const finished = await Promise.all(runs.map((run) => waitForReport(run.handle)));

  for (const [i, { host, worker, other, service, pid }] of cases.entries()) {
    assert.equal(finished[i]!.report?.outcome, 'Succeeded', finished[i]!.error);
    const newPid = await servingPid(service);
    assert.ok(newPid && newPid !== pid, `${service.spec.name} on ${host}: a new process serves (old ${pid}, new ${newPid})`);
    const origin = await processOrigin(newPid);
    assert.equal(origin.ppid, worker.process.pid, `${service.spec.name} on ${host}: the new service process was started by that host's worker (pid ${worker.process.pid}), not the other (pid ${other.process.pid})`);
    assert.equal(origin.runbookHost, host, `${service.spec.name} on ${host}: the new service process has the environment ${host}'s services file declares`);
  }
});
