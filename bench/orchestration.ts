// What running a repair as a durable workflow costs, at the seed's shape: a table of 386 rows of
// about 680 KB whose `_versions/` kept every manifest, 295 data files missing from disk.
//
//   orchestration  a whole lanceRestore apply run (auto approval, no backend) on a real dev server
//                  and worker, vs the same activity functions called in sequence in one process
//   history        events and bytes of that run's history, and of serviceRestart runs whose wait
//                  step lasts 5 s and 10 min (heartbeats must add nothing)
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import proto from '@temporalio/proto';
import { diagnoseLance, restoreLanceFiles, snapshotLanceMetadata, verifyLanceTable } from '../src/activities/lance';
import { serviceControl } from '../src/activities/services/index';
import { connectClient, startRunbook, waitForReport } from '../src/client';
import { loadConfig, type Config } from '../src/config';
import { buildLanceIncident, type LanceIncident } from '../src/demo/lance-incident';
import { updateHostFile } from '../src/host/host-file';
import { freePort, startDevServer } from '../src/platform/dev-server';
import { createWorkers, installRuntime } from '../src/worker';
import type { RunbookReport } from '../src/workflows/report';
import { benchHostFile, type Variant } from './harness';

export const WORKFLOW = 'ours: lanceRestore workflow run';
export const IN_PROCESS = 'same activities in sequence, one process';

export interface OrchestrationCase {
  incident: LanceIncident;
  variants: Variant[];
  /** Events and bytes of the last workflow run's history. */
  lastHistory(): { events: number; bytes: number } | undefined;
  /** The last workflow run's report: its steps' times show where the run spent them. */
  lastReport(): RunbookReport | undefined;
  /** serviceRestart histories with a short and a long wait step. */
  stepLengthHistories(): Promise<Array<{ stepSeconds: number; events: number; bytes: number }>>;
  cleanup(): Promise<void>;
}

async function historySize(client: Awaited<ReturnType<typeof connectClient>>, workflowId: string) {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return { events: history.events?.length ?? 0, bytes: proto.temporal.api.history.v1.History.encode(history).finish().length };
}

export async function orchestrationCase(options: { rowBytes: number }): Promise<OrchestrationCase> {
  const incident = await buildLanceIncident({ versions: Infinity, newRows: 386, missing: 295, rowBytes: options.rowBytes });
  const state = await mkdtemp(join(tmpdir(), 'bench-state-'));
  process.env.RUNBOOK_STATE_DIR = state;
  const servicesFile = await benchHostFile(state);
  const server = await startDevServer({ port: await freePort(), uiPort: await freePort() });
  const config: Config = { ...loadConfig(), address: server.address, taskQueue: 'bench' };
  installRuntime({ metricsAddress: '' });
  const connection = await NativeConnection.connect({ address: config.address });
  const workers = await createWorkers(config, connection);
  const running = workers.run();
  const client = await connectClient(config);
  const missing = incident.missingFiles.map((f) => join(incident.tableDir, f));
  const quarantine = join(incident.repoRoot, 'quarantine');
  let last: { events: number; bytes: number } | undefined;
  let lastReport: RunbookReport | undefined;
  let runs = 0;

  /** Back to the incident: the restored files gone again, no quarantine. */
  const reset = async () => {
    await Promise.all(missing.map((f) => rm(f, { force: true })));
    await rm(quarantine, { recursive: true, force: true });
  };

  const variants: Variant[] = [
    {
      name: WORKFLOW,
      run: async () => {
        const run = await startRunbook(client, config, 'lanceRestore', { mode: 'apply', approval: 'auto', strategy: 'full-restore', tableDir: incident.tableDir, quarantineDir: quarantine }, { requestedBy: 'bench', origin: 'bench' });
        const { report, error } = await waitForReport(run.handle);
        if (report?.outcome !== 'Succeeded') throw new Error(`bench run ${++runs} ended ${report?.outcome}: ${error}`);
        last = await historySize(client, run.workflowId);
        lastReport = report;
      },
      reset,
    },
    {
      name: IN_PROCESS,
      run: async () => {
        const env = new MockActivityEnvironment();
        const d = (await env.run(diagnoseLance, { tableDir: incident.tableDir })) as Awaited<ReturnType<typeof diagnoseLance>>;
        await env.run(snapshotLanceMetadata, { tableDir: incident.tableDir, destination: join(quarantine, 'snapshot') });
        await env.run(restoreLanceFiles, { tableDir: incident.tableDir, lfsRepo: d.lfsRepo, files: d.restorable, replacedDir: join(quarantine, 'replaced') });
        await env.run(verifyLanceTable, { tableDir: incident.tableDir, expectVersion: d.currentVersion });
      },
      reset,
    },
  ];

  return {
    incident,
    variants,
    lastHistory: () => last,
    lastReport: () => lastReport,
    async stepLengthHistories() {
      const out = [];
      for (const stepSeconds of [5, 600]) {
        const dir = await mkdtemp(join(tmpdir(), 'bench-step-'));
        // A service whose health endpoint is a port nobody opens for `stepSeconds`: the wait step heartbeats all along.
        const port = await freePort();
        const spec = { adapter: 'exec' as const, name: `slow-${stepSeconds}`, pidFile: join(dir, 'svc.pid'), logFile: join(dir, 'svc.log'), start: [process.execPath, '-e', `setTimeout(() => require('http').createServer((q, r) => r.end('ok')).listen(${port}), ${stepSeconds * 1000})`], stopTimeoutSeconds: 5 };
        const { name, ...entry } = spec;
        await updateHostFile(servicesFile, (file) => ({ ...file, services: { ...file.services, [name]: { ...entry, health: { url: `http://127.0.0.1:${port}/` } } } }));
        const run = await startRunbook(client, config, 'serviceRestart', { mode: 'apply', approval: 'auto', service: name, waitHealthySeconds: stepSeconds + 60 }, { requestedBy: 'bench', origin: 'bench' });
        const { report, error } = await waitForReport(run.handle);
        if (report?.outcome !== 'Succeeded') throw new Error(`step-length run ended ${report?.outcome}: ${error}`);
        out.push({ stepSeconds, ...(await historySize(client, run.workflowId)) });
        await new MockActivityEnvironment().run(() => serviceControl(spec).stop());
        await rm(dir, { recursive: true, force: true });
      }
      return out;
    },
    async cleanup() {
      await client.connection.close();
      workers.shutdown();
      await running;
      await connection.close();
      await server.stop();
      await incident.cleanup();
      await rm(state, { recursive: true, force: true });
    },
  };
}

/** Bytes of the table's data files, to show the case runs at real sizes. */
export async function dataBytes(tableDir: string): Promise<{ files: number; bytes: number }> {
  const names = await readdir(join(tableDir, 'data'));
  const sizes = await Promise.all(names.map(async (n) => (await stat(join(tableDir, 'data', n))).size));
  return { files: names.length, bytes: sizes.reduce((a, b) => a + b, 0) };
}
