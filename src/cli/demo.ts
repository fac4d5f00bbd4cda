// `runbook demo lance`: incident 000 rebuilt in a sandbox (a 30-row version 61 and a 386-row version
// 421 whose 295 data files are gone from data/ but still in the local git-LFS store), its backend
// answering 500, and a lanceRestore run started against it. `runbook demo leveldb`: incident 003, a
// goleveldb store with a damaged table block, its service answering 500, and a logStoreRecover run.
// `runbook demo etcd`: incident 002, a real etcd whose db has the seed's page cycle, and an etcdRecover run.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { serviceControl } from '../activities/services/index';
import { startRunbook, type StartedRun } from '../client';
import { workflowUrl, type Config } from '../config';
import { buildLanceIncident } from '../demo/lance-incident';
import { updateHostFile } from '../host/host-file';
import { freePort } from '../platform/dev-server';
import type { EtcdRecoverRequest, LanceRestoreRequest, LogStoreRecoverRequest } from '../workflows/inputs';
import { readPidFile } from '../activities/services/process-identity';
import { makeKeyBucketCycle, putEtcdKeys } from '../demo/etcd-incident';
import { snapshotSave } from '../engines/etcd/etcdctl';
import type { hostService } from '../workflows/service-spec';
import { buildLogStoreIncident } from '../demo/log-store-incident';
import { storectlPath } from '../engines/logstore/storectl';
import type { z } from 'zod';

const backendScript = fileURLToPath(new URL('../../demo/lance-images-api.mjs', import.meta.url));
const storeApiScript = fileURLToPath(new URL('../../demo/logstore-api.mjs', import.meta.url));

type HostExecEntry = Extract<z.input<typeof hostService>, { adapter: 'exec' }>;

export interface LanceDemo {
  run: StartedRun;
  api: string;
  pidFile: string;
}

async function answer(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    return `${res.status} ${(await res.text()).trim().slice(0, 200)}`;
  } catch (err) {
    return `no answer: ${(err as Error).message}`;
  }
}

export async function startLanceDemo(client: Client, config: Config, options: DemoOptions & { approval: 'auto' | 'required'; requestedBy: string }): Promise<LanceDemo> {
  const { say } = options;
  await mkdir(options.dir, { recursive: true });
  say(`building the incident in ${options.dir} (LanceDB table in a git repository with git-LFS) …`);
  const incident = await buildLanceIncident({ dir: join(options.dir, 'repo'), versions: 'seed' });
  say(`  ${incident.tableDir}: version ${incident.newVersion} (${incident.newRows} rows) needs ${incident.dataFiles.length} data files; ${incident.missingFiles.length} are gone from data/, their objects are still in ${incident.gitDir}/lfs/objects`);

  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const service: HostExecEntry = {
    adapter: 'exec',
    start: [process.execPath, backendScript, '--db', incident.dbDir, '--table', incident.tableName, '--port', String(port)],
    pidFile: join(options.dir, 'images-api.pid'),
    logFile: join(options.dir, 'images-api.log'),
    stopTimeoutSeconds: 10,
    health: { url: `${api}/health`, expectStatus: 200, retries: 5, delayMs: 1000, timeoutMs: 5000 },
    checks: {
      rows: { url: `${api}/api/images`, expectStatus: 200, bodyMatch: `"rows":${incident.newRows}`, retries: 5, delayMs: 1000, timeoutMs: 5000 },
      last: { url: `${api}/api/images/${incident.newRows - 1}`, expectStatus: 200, retries: 5, delayMs: 1000, timeoutMs: 5000 },
    },
  };
  await declareAndStart(options, 'images-api', service, `${api}/health`);
  say(`backend on ${api}: GET /api/images → ${await answer(`${api}/api/images`)}`);

  const input: LanceRestoreRequest = {
    mode: 'apply',
    approval: options.approval,
    strategy: 'auto',
    tableDir: incident.tableDir,
    expectedRows: incident.newRows,
    service: 'images-api',
  };
  const run = await startRunbook(client, config, 'lanceRestore', input, { requestedBy: options.requestedBy, origin: 'cli-demo' });
  say(`lanceRestore started: ${run.workflowId}`);
  say(`  watch it: ${workflowUrl(config, run.workflowId)}`);
  if (options.approval === 'required') say(`  approve it (as someone else): npx runbook approve '${run.workflowId}' --as <name>`);
  return { run, api, pidFile: service.pidFile };
}

type DemoOptions = { dir: string; servicesFile: string; say: (line: string) => void };

/**
 * The worker acts only on services its host declares: the demo declares its service in this
 * machine's development services file (the one `npm start` writes), and the sandbox as a data root,
 * then starts the service and waits until it answers.
 */
async function declareAndStart(options: DemoOptions, name: string, service: HostExecEntry, health: string): Promise<void> {
  await updateHostFile(options.servicesFile, (file) => ({
    ...file,
    // A sandbox already under a declared root adds nothing.
    dataRoots: (file.dataRoots ?? []).some((root) => options.dir === root || options.dir.startsWith(`${root}/`)) ? file.dataRoots : [...(file.dataRoots ?? []), options.dir],
    services: { ...file.services, [name]: service },
  }));
  options.say(`declared service ${name} and data root ${options.dir} in ${options.servicesFile}`);
  await serviceControl({ ...service, name, stopTimeoutSeconds: service.stopTimeoutSeconds ?? 10 }).start();
  for (let i = 0; i < 50 && (await answer(health)).startsWith('no answer'); i++) await new Promise((r) => setTimeout(r, 100));
}

export interface LogStoreDemo {
  run: StartedRun;
  api: string;
  pidFile: string;
}

export async function startLogStoreDemo(client: Client, config: Config, options: DemoOptions & { policy: 'strict' | 'rebuild'; approval: 'auto' | 'required'; requestedBy: string }): Promise<LogStoreDemo> {
  const { say } = options;
  await mkdir(options.dir, { recursive: true });
  say(`building the incident in ${options.dir} (a goleveldb store written by goleveldb itself) …`);
  const incident = await buildLogStoreIncident(options.dir);
  say(`  ${incident.storeDir}: ${incident.keys} keys in 4 tables; one byte flipped in a data block of ${incident.damaged.table} (offset ${incident.damaged.flippedAt})`);

  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const service: HostExecEntry = {
    adapter: 'exec',
    start: [process.execPath, storeApiScript, '--engine', 'goleveldb', '--dir', incident.storeDir, '--port', String(port), '--storectl', storectlPath()],
    pidFile: join(options.dir, 'index-api.pid'),
    logFile: join(options.dir, 'index-api.log'),
    stopTimeoutSeconds: 10,
    health: { url: `${api}/health`, expectStatus: 200, retries: 5, delayMs: 1000, timeoutMs: 5000 },
    checks: { keys: { url: `${api}/api/keys`, expectStatus: 200, retries: 5, delayMs: 1000, timeoutMs: 10_000 } },
  };
  await declareAndStart(options, 'index-api', service, `${api}/health`);
  say(`service on ${api}: GET /api/keys → ${await answer(`${api}/api/keys`)}`);

  const input: LogStoreRecoverRequest = { mode: 'apply', approval: options.approval, dir: incident.storeDir, engine: 'goleveldb', policy: options.policy, service: 'index-api' };
  const run = await startRunbook(client, config, 'logStoreRecover', input, { requestedBy: options.requestedBy, origin: 'cli-demo' });
  say(`logStoreRecover started: ${run.workflowId}`);
  say(`  watch it: ${workflowUrl(config, run.workflowId)}`);
  // Recovering a damaged table loses keys: the plan says how many, and a second person decides.
  say(`  the plan loses keys, so a second person approves it, even with --approval auto: npx runbook approve '${run.workflowId}' --as <name>`);
  return { run, api, pidFile: service.pidFile };
}

export interface EtcdDemo {
  run: StartedRun;
  url: string;
  pidFile: string;
}

/** Stops the demo's etcd by its pidfile (SIGTERM: etcd commits its db on the way out) and waits until it is gone. */
async function stopByPidFile(pidFile: string): Promise<void> {
  const state = await readPidFile(pidFile);
  const contents = state.kind === 'file' ? state.contents : undefined;
  const pid = contents?.kind === 'ours' ? contents.identity.pid : contents?.kind === 'legacy' ? contents.pid : undefined;
  if (!pid) throw new Error(`${pidFile}: no pid to stop`);
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 300; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`etcd (pid ${pid}) did not stop within 30 s`);
}

export async function startEtcdDemo(client: Client, config: Config, options: DemoOptions & { approval: 'auto' | 'required'; requestedBy: string }): Promise<EtcdDemo> {
  const { say } = options;
  const snapshotDir = join(options.dir, 'snapshots');
  await mkdir(snapshotDir, { recursive: true });
  const [client_, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client_}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const dataDir = join(options.dir, 'default.etcd');
  const service: HostExecEntry = {
    adapter: 'exec',
    start: ['etcd', '--name', 'default', '--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url, '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `default=${peerUrl}`],
    pidFile: join(options.dir, 'etcd.pid'),
    logFile: join(options.dir, 'etcd.log'),
    stopTimeoutSeconds: 20,
    health: { url: `${url}/health`, expectStatus: 200, bodyMatch: '"health":"true"', retries: 10, delayMs: 1000, timeoutMs: 5000 },
  };
  say(`building the incident in ${options.dir} (a real etcd, the machine's own) …`);
  await declareAndStart(options, 'demo-etcd', service, `${url}/health`);
  await putEtcdKeys(url, 0, 1_500);
  const snapshot = join(snapshotDir, `etcd-default-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}Z.db`);
  await snapshotSave(url, snapshot);
  await putEtcdKeys(url, 1_500, 500);
  say(`  etcd on ${url} served 2,000 keys; a snapshot with the first 1,500 is ${snapshot}`);
  await stopByPidFile(service.pidFile);
  const { branch, root } = await makeKeyBucketCycle(join(dataDir, 'member', 'snap', 'db'));
  say(`  etcd stopped; branch page ${branch} of its key bucket now points back at the bucket's root ${root}: the seed's cycle, etcd panics at start`);

  const input: EtcdRecoverRequest = { mode: 'apply', approval: options.approval, dataDir, member: 'default', clientUrl: url, peerUrl, snapshotDir, service: 'demo-etcd' };
  const run = await startRunbook(client, config, 'etcdRecover', input, { requestedBy: options.requestedBy, origin: 'cli-demo' });
  say(`etcdRecover started: ${run.workflowId}`);
  say(`  watch it: ${workflowUrl(config, run.workflowId)}`);
  say(`  the least-loss candidate loses the keys the cycle hid, so a second person approves it, even with --approval auto: npx runbook approve '${run.workflowId}' --as <name> [--choice snapshot]`);
  return { run, url, pidFile: service.pidFile };
}

export { answer as httpAnswer };
