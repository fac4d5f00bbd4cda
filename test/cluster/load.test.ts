// Load held on the production topology: plan runs across alpha and beta submitted at once through
// the client, then apply runs of serviceRestart on distinct demo services (each a real restart of a
// live process). None lost or duplicated, none left open: checked by search attribute, by workflow
// ID, and on the hosts (each service's new process a child of its own host's worker). The bench's
// `load` section runs the same (test/helpers/load.ts) on the cluster and the dev server side by side.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { HOST_NAMES, useCluster, type HostName } from '../helpers/cluster';
import { declareLoadServices, historySample, phaseFigures, phaseProblems, runPhase, startLoadServices, stopLoadServices, type LoadServices, type Phase } from '../helpers/load';
import { pidInFile } from '../helpers/service';

/** The 500 + 50; LOAD_PLAN_RUNS / LOAD_APPLY_RUNS to try others. */
const PLAN_RUNS = Number(process.env.LOAD_PLAN_RUNS ?? 500);
const APPLY_RUNS = Number(process.env.LOAD_APPLY_RUNS ?? 50);

const bed = useCluster();
let services: LoadServices;

const figures = (phase: Phase) => {
  const f = phaseFigures(phase);
  return `${f.runs} ${phase.mode} runs: ${f.runsPerSecond.toFixed(1)} runs/s (submitted in ${f.submitMs} ms, all closed ${f.wallMs} ms after the first start), start-to-close p50 ${f.p50Ms} ms, p95 ${f.p95Ms} ms, max ${f.maxMs} ms; ${f.events.join('-')} events per run`;
};

async function pidOf(pidFile: string): Promise<number | undefined> {
  return pidInFile(await readFile(pidFile, 'utf8').catch(() => ''));
}

test(`${PLAN_RUNS} plan runs, alpha and beta alternately, submitted at once: each listed once, Completed and Planned, found by its ID, none open`, { timeout: 300_000 }, async (t) => {
  const hosts = HOST_NAMES.map((name) => ({ name, servicesFile: bed.hosts[name].servicesFile, demoDir: bed.hosts[name].demoDir }));
  services = await declareLoadServices(hosts, { plan: PLAN_RUNS, apply: APPLY_RUNS }, 'load');
  bed.cleanups.push(() => stopLoadServices(services.apply));
  assert.equal(new Set(services.plan.map((r) => r.workflowId)).size, PLAN_RUNS, 'every run its own workflow ID');

  const phase = await runPhase(bed.client, bed.config, 'plan', services.plan, 'load-plan', 240_000);
  assert.deepEqual(await phaseProblems(bed.client, phase, 'Planned'), []);
  assert.equal(phase.listed.length, PLAN_RUNS);
  const history = await historySample(bed.client, phase, 5);
  t.diagnostic(`${figures(phase)}; history ${history.events.join('/')} events, ${history.bytes.join('/')} bytes`);
});

test(`then ${APPLY_RUNS} apply runs on ${APPLY_RUNS} live demo services at once: each listed once, Succeeded, none open, no claim open; each service restarted by its own host's worker`, { timeout: 300_000 }, async (t) => {
  assert.ok(services, 'the services were declared by the plan test');
  await startLoadServices(services.apply);
  const before = new Map(await Promise.all(services.apply.map(async (r) => [r.workflowId, await pidOf(r.pidFile!)] as const)));

  const phase = await runPhase(bed.client, bed.config, 'apply', services.apply, 'load-apply', 240_000);
  assert.deepEqual(await phaseProblems(bed.client, phase, 'Succeeded'), []);
  assert.equal(phase.listed.length, APPLY_RUNS);

  for (const r of services.apply) {
    const pid = await pidOf(r.pidFile!);
    assert.ok(pid && pid !== before.get(r.workflowId), `${r.service}: a new process (was ${before.get(r.workflowId)}, now ${pid})`);
    const ppid = Number(/^PPid:\s+(\d+)$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);
    assert.equal(ppid, bed.hosts[r.host as HostName].pid, `${r.service}: started by ${r.host}'s worker`);
  }
  const history = await historySample(bed.client, phase, 5);
  t.diagnostic(`${figures(phase)}; history ${history.events.join('/')} events, ${history.bytes.join('/')} bytes`);
});
