// Faults survived on the production topology, during a serviceRestart of alpha's `demo-api`
// (declared in alpha's services file) addressed to host alpha. The restarted process is declared to
// listen only seconds after it starts, so the run spends that long in its wait-healthy step: the old
// process stopped, the new one started and not answering yet. Each fault lands there (the step
// running and heartbeating, the port refusing connections):
//   - the Temporal server SIGKILLed and started again on the same database;
//   - alpha's worker SIGKILLed and started again;
//   - PostgreSQL stopped for 20 s and started.
// After each, the run completes (Succeeded; compensation, starting the service again, is only the
// outcome of a failed restart, and none fails here), its report is whole, the service was started
// once, and it answers 200 from the new pid its pidfile names.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { getProgress, startRunbook } from '../../src/client';
import { serviceControl } from '../../src/activities/services/index';
import { updateHostFile } from '../../src/host/host-file';
import { demoApiEntry } from '../../src/stack-hosts';
import type { ServiceSpec } from '../../src/workflows/inputs';
import { useCluster, type ClusterHost } from '../helpers/cluster';
import { assertWholeReport, FAULTS, injectFault, POSTGRES_DOWN_MS, progressResumedAt, runWindow, seconds, settle, type FaultKind } from '../helpers/faults';
import { get, pidInFile, waitFor } from '../helpers/service';

/**
 * How long the restarted process waits before it listens: long enough for the server's restart
 * (about 1.5 s) and the worker's, and past PostgreSQL's 20 s outage, so the step is still waiting
 * when each fault is over. The lost worker's step is retried after its 30 s heartbeat timeout.
 */
const STARTUP_DELAY_MS: Record<FaultKind, number> = { 'server-kill': 10_000, 'worker-kill': 10_000, 'postgres-stop': 30_000 };

const bed = useCluster();
const log = (line: string) => process.stderr.write(`faults-service: ${line}\n`);

type ExecEntry = Extract<ServiceSpec, { adapter: 'exec' }>;

/** Redeclares alpha's demo-api (the stack's own entry) with a start that listens `delayMs` late. */
async function declareSlowStart(host: ClusterHost, delayMs: number): Promise<void> {
  const entry = demoApiEntry(host.demoDir, host.demoPort) as Omit<ExecEntry, 'name'>;
  await updateHostFile(host.servicesFile, (file) => ({ ...file, services: { ...file.services, 'demo-api': { ...entry, start: [...entry.start, '--startup-delay-ms', String(delayMs)] } } }));
}

async function servingPid(host: ClusterHost): Promise<number | undefined> {
  const answer = await get(`http://127.0.0.1:${host.demoPort}/`);
  return 'status' in answer && answer.status === 200 ? (JSON.parse(answer.body) as { pid: number }).pid : undefined;
}

/** The pid serving alpha's demo-api; started here (without the delay) if nothing serves it yet. */
async function ensureServing(host: ClusterHost): Promise<number> {
  const pid = await servingPid(host);
  if (pid) return pid;
  const entry = demoApiEntry(host.demoDir, host.demoPort) as Omit<ExecEntry, 'name'>;
  await serviceControl({ ...entry, name: 'demo-api', adapter: 'exec' }).start();
  return waitFor('alpha\'s demo-api to answer', () => servingPid(host));
}

for (const kind of FAULTS) {
  test(`serviceRestart of demo-api on alpha, ${kind} while the new process starts: the run completes, report whole, 200 from a new pid`, { timeout: 300_000 }, async () => {
    const { alpha, beta } = bed.hosts;
    await declareSlowStart(alpha, STARTUP_DELAY_MS[kind]);
    const oldPid = await ensureServing(alpha);
    const pids = { server: bed.cluster.server.pid, alpha: alpha.pid, beta: beta.pid };
    const run = await startRunbook(bed.client, bed.config, 'serviceRestart', { mode: 'apply', approval: 'auto', service: 'demo-api', host: 'alpha', hostWaitTimeout: '5m' }, { requestedBy: 'alice', origin: 'test' });

    // Mid-restart: started, waiting until healthy (heartbeating), the port not answering yet.
    const waiting = await waitFor('the wait-healthy step to heartbeat', async () => {
      const step = (await getProgress(bed.client, run.workflowId).catch(() => undefined))?.steps.find((s) => s.id === 'wait-healthy');
      return step?.state === 'running' && step.lastHeartbeat ? step : undefined;
    }, 60_000);
    const answerAtFault = await get(`http://127.0.0.1:${alpha.demoPort}/`);
    assert.ok('error' in answerAtFault, `nothing answers at the fault: the old process stopped, the new one not listening yet (${JSON.stringify(answerAtFault)})`);
    const fault = await injectFault(bed, kind, alpha);
    const resumedAt = await progressResumedAt(run.handle);
    const finished = await settle(run.handle);
    const window = await runWindow(run.handle);

    const report = assertWholeReport(finished, ['resolve', 'diagnose', 'stop', 'wait-down', 'start', 'wait-healthy', 'smoke']);
    const step = (id: string) => report.steps.find((s) => s.id === id)!;
    assert.equal(waiting.attempts, 1, 'the fault came during the step\'s first attempt');
    assert.equal(step('start').attempts, 1, 'the service was started once, before the fault, and not again');
    const newPid = await servingPid(alpha);
    assert.ok(newPid && newPid !== oldPid, `200 from a new process (old ${oldPid}, new ${newPid})`);
    assert.equal((step('start').evidence as { pid: number }).pid, newPid, 'the one the run started');
    assert.equal(pidInFile(await readFile(`${alpha.demoDir}/demo-api.pid`, 'utf8')), newPid, 'alpha\'s pidfile names it');

    // The fault landed mid-run, inside the run's open interval.
    assert.ok(window.start < fault.at && fault.recoveredAt < window.close!, 'the run was open from before the fault until after recovery');
    if (kind === 'server-kill') {
      assert.ok(fault.newPid && fault.newPid !== fault.oldPid, `another server process (${fault.oldPid} → ${fault.newPid})`);
    } else if (kind === 'worker-kill') {
      assert.ok(step('wait-healthy').attempts >= 2, `wait-healthy retried on alpha's new worker (attempts ${step('wait-healthy').attempts})`);
      assert.ok(fault.newPid && fault.newPid !== fault.oldPid, `alpha's worker ${fault.oldPid} → ${fault.newPid}`);
    } else {
      assert.ok(fault.downMs >= POSTGRES_DOWN_MS, `PostgreSQL was down ${fault.downMs} ms`);
      assert.ok(fault.probes! >= 15 && fault.refused === fault.probes, `every connection to PostgreSQL refused while it was down (${fault.refused} of ${fault.probes})`);
      assert.deepEqual({ server: bed.cluster.server.pid, alpha: alpha.pid, beta: beta.pid }, pids, 'the server and both workers rode it out: same processes');
    }

    log(`${kind}: down ${seconds(fault.downMs)}; run stalled ${seconds(resumedAt - fault.at)} (fault → next progress the server showed); wait-healthy attempts ${step('wait-healthy').attempts}, start attempts ${step('start').attempts}; pid ${oldPid} → ${newPid}; run ${seconds(window.close! - window.start)} start to close`);
  });
}
