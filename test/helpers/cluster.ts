// One production-topology cluster per test file (src/platform/cluster.ts, started by before() and
// stopped by after()), with two hosts, alpha and beta: each our real worker in its own process
// (spawnWorker), with its own services file, data root, state dir and demo HTTP service under
// <cluster>/hosts/<host>/. Tests kill and start the server, PostgreSQL and each host's worker.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Client } from '@temporalio/client';
import { connectClient } from '../../src/client';
import { loadConfig, type Config } from '../../src/config';
import { startCluster, type Cluster } from '../../src/platform/cluster';
import { freePort } from '../../src/platform/dev-server';
import { writeDevHostFile } from '../../src/stack-hosts';
import { DEFAULT_TASK_QUEUE } from '../../src/workflows/names';
import { pidInFile } from './service';
import { makeMtlsCertificates } from './tls-certs';
import { spawnWorker, type WorkerProcess } from './worker-process';

export const HOST_NAMES = ['alpha', 'beta'] as const;
export type HostName = (typeof HOST_NAMES)[number];

export interface ClusterHost {
  name: HostName;
  /** <cluster>/hosts/<name>: services.json, data/, demo/, state/. */
  dir: string;
  dataRoot: string;
  demoDir: string;
  servicesFile: string;
  /** The demo HTTP service declared as `demo-api` in this host's file. */
  demoPort: number;
  /** The worker process while it runs. */
  readonly worker: WorkerProcess | undefined;
  readonly pid: number | undefined;
  /** Sends `signal` (default SIGKILL) to the worker and waits for it to end. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the worker again; resolves once it runs (its metrics answer). */
  start(): Promise<void>;
}

export interface ClusterBed {
  cluster: Cluster;
  /** The production task queue (`runbooks`) on the cluster's frontend. */
  config: Config;
  client: Client;
  hosts: Record<HostName, ClusterHost>;
  /** Run after the workers stop, newest first; failures ignored. */
  cleanups: Array<() => Promise<unknown>>;
}

function makeHost(name: HostName, cluster: Cluster, config: Config, running: WorkerProcess[], demoPort: number): ClusterHost {
  const dir = join(cluster.dir, 'hosts', name);
  let worker: WorkerProcess | undefined;
  const alive = () => worker && worker.process.exitCode === null && worker.process.signalCode === null;
  const host: ClusterHost = {
    name,
    dir,
    dataRoot: join(dir, 'data'),
    demoDir: join(dir, 'demo'),
    servicesFile: join(dir, 'services.json'),
    demoPort,
    get worker() {
      return alive() ? worker : undefined;
    },
    get pid() {
      return alive() ? worker!.process.pid : undefined;
    },
    async kill(signal = 'SIGKILL') {
      if (!alive()) return;
      worker!.process.kill(signal);
      await worker!.process;
    },
    async start() {
      if (alive()) throw new Error(`host ${name}'s worker still runs (pid ${worker!.process.pid})`);
      worker = await spawnWorker(config, running, {
        env: { ...cluster.clientTls, TEMPORAL_ADDRESS: cluster.address, RUNBOOK_HOST: name, RUNBOOK_SERVICES_FILE: host.servicesFile, RUNBOOK_STATE_DIR: join(dir, 'state') },
      });
    },
  };
  return host;
}

/**
 * The cluster, client and both hosts for this test file; read the fields inside tests. `mtls`:
 * docker-compose.mtls.yml layered on, with certificates from makeMtlsCertificates in
 * `bed.tlsDir`, and every client (workers, `bed.client`) presenting compose's client certificate.
 */
export function useCluster(options: { mtls?: boolean; ui?: boolean } = {}): ClusterBed & { tlsDir?: string } {
  const bed = { cleanups: [] } as unknown as ClusterBed & { tlsDir?: string };
  const running: WorkerProcess[] = [];
  before(async () => {
    if (options.mtls) {
      bed.tlsDir = await mkdtemp(join(tmpdir(), 'cluster-tls-'));
      await makeMtlsCertificates(bed.tlsDir);
    }
    bed.cluster = await startCluster({ ui: options.ui ?? false, ...(bed.tlsDir ? { mtls: { dir: bed.tlsDir } } : {}) });
    bed.config = { ...loadConfig(bed.cluster.clientTls), address: bed.cluster.address, namespace: bed.cluster.namespace, taskQueue: DEFAULT_TASK_QUEUE, metricsAddress: '' };
    bed.client = await connectClient(bed.config);
    bed.hosts = {} as Record<HostName, ClusterHost>;
    for (const name of HOST_NAMES) {
      const host = makeHost(name, bed.cluster, bed.config, running, await freePort());
      for (const sub of ['data', 'demo', 'state']) await mkdir(join(host.dir, sub), { recursive: true });
      await writeDevHostFile(host.servicesFile, { dataRoots: [host.dataRoot, host.demoDir], demoDir: host.demoDir, demoPort: host.demoPort });
      bed.hosts[name] = host;
    }
    await Promise.all(HOST_NAMES.map((name) => bed.hosts[name].start()));
  }, { timeout: 300_000 });
  after(async () => {
    for (const w of running) w.process.kill('SIGTERM');
    await Promise.all(running.map((w) => w.process));
    await bed.client?.connection.close();
    for (const cleanup of bed.cleanups.reverse()) await cleanup().catch(() => undefined);
    // Demo services outlive the worker that started them (detached, as on a real host).
    for (const host of Object.values(bed.hosts ?? {})) {
      const pid = pidInFile(await readFile(join(host.demoDir, 'demo-api.pid'), 'utf8').catch(() => ''));
      if (pid && pid > 1) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // not running
        }
      }
    }
    await bed.cluster?.stop();
    if (bed.tlsDir) await rm(bed.tlsDir, { recursive: true, force: true });
  }, { timeout: 120_000 });
  return bed;
}
