// `npm run stack:cluster`: docker-compose.yml's production topology on this machine, without
// Docker (src/platform/cluster.ts): PostgreSQL, schema, the Temporal server, namespace and Web UI,
// state under var/cluster/ (runs survive a restart), and our worker for two hosts, alpha and beta,
// each with its own services file, data root and demo HTTP service under var/cluster/hosts/<host>/.
// Ctrl-C stops the workers, then the UI, the server and PostgreSQL. With RUNBOOK_TLS_DIR (the
// variable compose reads) naming a folder of certificates, docker-compose.mtls.yml is layered on.
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResultPromise } from 'execa';
import { logger } from './logger';
import { endLeftover, hasEnv } from './platform/children';
import { startCluster, type Cluster } from './platform/cluster';
import { freePort } from './platform/dev-server';
import { spawnStackWorker, stopWorker, writeDevHostFile } from './stack-hosts';

const root = fileURLToPath(new URL('..', import.meta.url));
const clusterDir = `${root}var/cluster`;
/** The two hosts and their demo services' ports (npm start's demo is on 8091). */
const HOSTS = { alpha: 8111, beta: 8112 } as const;

async function main(): Promise<void> {
  await mkdir(clusterDir, { recursive: true });
  let cluster: Cluster;
  try {
    const tlsDir = process.env.RUNBOOK_TLS_DIR;
    cluster = await startCluster({ dir: clusterDir, detach: true, ...(tlsDir ? { mtls: { dir: resolve(tlsDir) } } : {}) });
  } catch (err) {
    logger.fatal({ err }, `cannot start the cluster in ${clusterDir} (its logs are in ${clusterDir}/logs)`);
    process.exit(1);
  }
  const workers: Array<{ host: string; process: ResultPromise; servicesFile: string; metrics: string; example: string }> = [];
  for (const [host, demoPort] of Object.entries(HOSTS)) {
    const dir = `${clusterDir}/hosts/${host}`;
    await mkdir(`${dir}/data`, { recursive: true });
    await mkdir(`${dir}/demo`, { recursive: true });
    const servicesFile = `${dir}/services.json`;
    await writeDevHostFile(servicesFile, { dataRoots: [`${dir}/data`, `${dir}/demo`], demoDir: `${dir}/demo`, demoPort });
    const example = `${dir}/serviceRestart.json`;
    await writeFile(example, `${JSON.stringify({ mode: 'apply', approval: 'auto', service: 'demo-api', host }, null, 2)}\n`);
    // A worker a killed earlier stack left polling for this host goes first.
    const pidFile = `${dir}/worker.pid`;
    await endLeftover(pidFile, hasEnv(`RUNBOOK_SERVICES_FILE=${servicesFile}`));
    const metrics = `127.0.0.1:${await freePort()}`;
    const worker = spawnStackWorker({
      ...cluster.clientTls,
      TEMPORAL_ADDRESS: cluster.address,
      TEMPORAL_UI_URL: cluster.uiUrl ?? '',
      RUNBOOK_HOST: host,
      RUNBOOK_SERVICES_FILE: servicesFile,
      RUNBOOK_STATE_DIR: `${dir}/state`,
      RUNBOOK_METRICS_ADDRESS: metrics,
    });
    await writeFile(pidFile, `${worker.pid}\n`);
    workers.push({ host, process: worker, servicesFile, metrics, example });
  }

  const t = cluster.timings;
  const tlsEnv = Object.entries(cluster.clientTls).map(([k, v]) => `${k}=${v} `).join('');
  process.stderr.write(
    [
      '',
      `Temporal frontend  ${cluster.address}   (server pid ${cluster.server.pid}, PostgreSQL pid ${cluster.postgres.pid} on 127.0.0.1:${cluster.postgres.port})`,
      `Temporal Web UI    ${cluster.uiUrl ?? '(off)'}/namespaces/${cluster.namespace}/workflows`,
      `Started in         ${(t.total / 1000).toFixed(1)} s: PostgreSQL ${t.postgres} ms, schema ${t.schema} ms, server ${t.server} ms, namespace ${t.namespace} ms${t.ui === undefined ? '' : `, UI ${t.ui} ms`}`,
      ...workers.map((w) => `Worker ${w.host.padEnd(11)} pid ${w.process.pid}, services ${w.servicesFile}, metrics http://${w.metrics}/metrics`),
      ...workers.map((w) => `Try on ${w.host.padEnd(11)} ${tlsEnv}TEMPORAL_ADDRESS=${cluster.address} npx runbook start serviceRestart --input ${w.example} --wait`),
      `Logs               ${clusterDir}/logs`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await Promise.all(workers.map((w) => stopWorker(w.process)));
    await cluster.stop();
    logger.info('cluster stack stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  const first = await Promise.race(workers.map((w) => w.process.then((r) => ({ host: w.host, r }))));
  if (!stopping) {
    logger.error({ host: first.host, exitCode: first.r.exitCode, signal: first.r.signal }, 'a worker exited; stopping the cluster stack');
    await stop(1);
  }
}

main().catch((err) => {
  logger.fatal({ err }, 'cluster stack failed');
  process.exit(1);
});
