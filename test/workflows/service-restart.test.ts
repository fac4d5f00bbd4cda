// serviceRestart against the real dev server, a real worker and a real HTTP service process.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure, type Client, type WorkflowHandle } from '@temporalio/client';
import { approveRunbook, getProgress, InvalidRequestError, RefusedError, startRunbook, waitForReport } from '../../src/client';
import type { Config } from '../../src/config';
import { serviceControl } from '../../src/activities/services/index';
import type { ServiceRestartRequest } from '../../src/workflows/inputs';
import { RunbookName, RunbookOutcome, RunbookTarget, TriggeredBy } from '../../src/workflows/names';
import { declareCheck, get, isAlive, makeService, redeclare, servingPid, waitFor, type Answer, type TestService, restartInput, runningService as startedService } from '../helpers/service';
import { answerCurrentPlan, startWorker, testClient, testConfig } from '../helpers/temporal';

let config: Config;
let client: Client;
let worker: { stop(): Promise<void> };
const services: TestService[] = [];

before(async () => {
  config = testConfig('restart');
  client = await testClient(config);
  worker = await startWorker(config);
});
after(async () => {
  await worker.stop();
  await client.connection.close();
  await Promise.all(services.map((s) => s.cleanup()));
});

const runningService = (name: string, options?: { startupDelayMs?: number }) => startedService(name, services, options);


const start = (input: ServiceRestartRequest, requestedBy = 'alice') =>
  startRunbook(client, config, 'serviceRestart', input, { requestedBy, origin: 'test' });

/** The failure types on the run's failure chain, outermost first (RunbookFailed, then the step's own). */
async function failureTypes(handle: WorkflowHandle): Promise<string[]> {
  try {
    await handle.result();
    return [];
  } catch (err) {
    const types: string[] = [];
    for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) if (e instanceof ApplicationFailure && e.type) types.push(e.type);
    return types;
  }
}

const awaitingApproval = (workflowId: string) =>
  waitFor('the run to await approval', async () => (await getProgress(client, workflowId).catch(() => undefined))?.outcome === 'AwaitingApproval');

describe('serviceRestart', () => {
  test('restarts a real HTTP service: the port closes, then a new process answers 200', async () => {
    const { service, pid: oldPid } = await runningService('web', { startupDelayMs: 300 });
    const seen: Answer[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        seen.push(await get(service.url('/health')));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const run = await start(restartInput(service));
    const finished = await waitForReport(run.handle);
    polling = false;
    await poller;

    assert.equal(finished.report?.outcome, 'Succeeded', finished.error);
    assert.ok(seen.some((a) => 'error' in a && a.error === 'ECONNREFUSED'), 'the port was closed at some point during the restart');
    assert.equal(isAlive(oldPid), false, 'the old process is gone');
    const newPid = await servingPid(service);
    assert.ok(newPid && newPid !== oldPid, `a new process serves (old ${oldPid}, new ${newPid})`);
    const report = finished.report!;
    assert.deepEqual(report.steps.map((s) => s.id), ['resolve', 'diagnose', 'stop', 'wait-down', 'start', 'wait-healthy', 'smoke']);
    assert.deepEqual(report.steps.filter((s) => s.mutates).map((s) => s.id), ['stop', 'start']);
    assert.deepEqual(report.claims, [`path:${report.target.split('/')[0]}:${service.spec.pidFile}`, `service:${report.target.split('/')[0]}:web`].sort());
    assert.ok(report.steps.every((s) => s.state === 'completed' && s.attempts >= 1 && s.durationMs !== undefined));
    assert.equal((report.steps.find((s) => s.id === 'start')!.evidence as { pid: number }).pid, newPid, 'the report names the pid that now serves');
    assert.equal(report.changed, true);

    const { typedSearchAttributes } = await run.handle.describe();
    assert.equal(typedSearchAttributes.get(RunbookName), 'serviceRestart');
    assert.equal(typedSearchAttributes.get(RunbookTarget), report.target);
    assert.equal(typedSearchAttributes.get(TriggeredBy), 'alice');
    assert.equal(typedSearchAttributes.get(RunbookOutcome), 'Succeeded');
  });

  test('plan mode changes nothing: the service keeps its pid', async () => {
    const { service, pid } = await runningService('planned');
    const run = await start(restartInput(service, { mode: 'plan' }));
    const { report } = await waitForReport(run.handle);
    assert.equal(report?.outcome, 'Planned');
    assert.equal(report?.changed, false);
    assert.deepEqual(report?.steps.map((s) => s.id), ['diagnose']);
    assert.match(report!.plan!.actions[0]!, /^stop planned/);
    assert.equal(await servingPid(service), pid);
  });

  test('approval: self-approval and a stale digest are refused; a second person approves the current plan', async () => {
    const { service, pid } = await runningService('approved');
    const run = await start(restartInput(service, { approval: 'required' }), 'alice');
    await awaitingApproval(run.workflowId);

    await assert.rejects(answerCurrentPlan(client, run.workflowId, 'alice'), (err: Error) => err instanceof RefusedError && /self-approval refused: alice/.test(err.message));
    await assert.rejects(approveRunbook(client, run.workflowId, { approver: 'bob', decision: 'approve', planDigest: 'deadbeef' }), (err: Error) => err instanceof RefusedError && /stale plan: digest deadbeef/.test(err.message));
    assert.equal(await servingPid(service), pid, 'nothing happens before approval');

    // What the Temporal UI shows: the static summary set at start, and current details saying what the
    // run waits for and the exact command (read through the UI's own metadata query).
    const description = await run.handle.describe();
    assert.equal(await description.staticSummary(), `restart service approved on ${run.workflowId.split(':')[1]!.split('/')[0]} (apply)`);
    const metadata = await run.handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    const waiting = await getProgress(client, run.workflowId);
    assert.match(metadata.currentDetails ?? '', new RegExp(`Waiting for.*approval by anyone but alice of plan ${waiting.planDigest}: npx runbook approve '${run.workflowId.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}' --as <you> --digest ${waiting.planDigest}`, 's'));

    const { planDigest } = await getProgress(client, run.workflowId);
    const approval = await approveRunbook(client, run.workflowId, { approver: 'bob', decision: 'approve', planDigest: planDigest! });
    assert.equal(approval.approver, 'bob');
    const { report } = await waitForReport(run.handle);
    assert.equal(report?.outcome, 'Succeeded');
    assert.equal(report?.approval?.approver, 'bob');
    assert.equal(report?.approval?.planDigest, planDigest);
    assert.notEqual(await servingPid(service), pid);
  });

  test('nobody approves in time: the run ends with nothing changed', async () => {
    const { service, pid } = await runningService('unapproved');
    const run = await start(restartInput(service, { approval: 'required', approvalTimeout: '2s' }));
    const { report } = await waitForReport(run.handle);
    assert.equal(report?.outcome, 'ApprovalTimedOut');
    assert.equal(report?.changed, false);
    assert.match(report!.error!, /nothing was changed/);
    assert.equal(await servingPid(service), pid);
    assert.equal((await run.handle.describe()).typedSearchAttributes.get(RunbookOutcome), 'ApprovalTimedOut');
  });

  test('a rejected plan ends the run with nothing changed', async () => {
    const { service, pid } = await runningService('rejected');
    const run = await start(restartInput(service, { approval: 'required' }));
    await awaitingApproval(run.workflowId);
    await answerCurrentPlan(client, run.workflowId, 'bob', 'reject');
    const { report } = await waitForReport(run.handle);
    assert.equal(report?.outcome, 'Rejected');
    assert.equal(await servingPid(service), pid);
  });

  test("a second start on the same target is refused with the running run's ID; nothing stale after it ends", async () => {
    const { service } = await runningService('single');
    const first = await start(restartInput(service, { approval: 'required' }));
    await assert.rejects(start(restartInput(service)), (err: Error) => err instanceof RefusedError && err.message === `already running: ${first.workflowId}`);
    await awaitingApproval(first.workflowId);
    await answerCurrentPlan(client, first.workflowId, 'bob', 'reject');
    await waitForReport(first.handle);
    const next = await start(restartInput(service, { mode: 'plan' }));
    assert.equal(next.workflowId, first.workflowId);
    assert.equal((await waitForReport(next.handle)).report?.outcome, 'Planned');
  });

  test('invalid input is refused before any step, naming the field and why', async () => {
    const service = await makeService('invalid');
    services.push(service);
    const bad = { ...restartInput(service), service: '../invalid.pid' };
    await assert.rejects(start(bad), (err: Error) => err instanceof InvalidRequestError && /service: must be a service name/.test(err.message));
    const badCheck = restartInput(service, { checks: ['../root'] });
    await assert.rejects(start(badCheck), (err: Error) => err instanceof InvalidRequestError && /checks\.0: must be a check name/.test(err.message));
    // The UI starts workflows without our client: the workflow validates too, and fails for good.
    const handle = await client.workflow.start('serviceRestart', { taskQueue: config.taskQueue, workflowId: `invalid-${Date.now()}`, args: [bad] });
    const finished = await waitForReport(handle);
    assert.equal(finished.ok, false);
    assert.match(finished.error!, /invalid serviceRestart input: service: must be a service name/);
    assert.equal(existsSync(service.spec.pidFile), false, 'nothing was started');
  });

  test('a service the host does not declare is refused (HostRefused, naming it) before anything runs', async () => {
    const service = await makeService('declared-elsewhere');
    services.push(service);
    const run = await start(restartInput(service, { service: 'not-declared' }));
    const finished = await waitForReport(run.handle);
    assert.equal(finished.ok, false);
    assert.match(finished.error!, /service not-declared is not declared in this host's services file/);
    assert.ok((await failureTypes(run.handle)).includes('HostRefused'), `fails HostRefused: ${(await failureTypes(run.handle)).join(' ← ')}`);
    assert.equal(finished.report?.changed, false);
    assert.equal(run.workflowId, `serviceRestart:${hostname()}/not-declared`);

    // A check the host does not declare for a declared service: refused the same way.
    const unknownCheck = await start(restartInput(service, { checks: ['no-such-check'] }));
    const refused = await waitForReport(unknownCheck.handle);
    assert.equal(refused.ok, false);
    assert.match(refused.error!, /service declared-elsewhere declares no check no-such-check/);
    assert.ok((await failureTypes(unknownCheck.handle)).includes('HostRefused'));
    assert.equal(refused.report?.changed, false);
    assert.equal(existsSync(service.spec.pidFile), false, 'nothing was started');
  });

  test('a workflow ID that does not name the target is refused (one run per target holds for UI starts too)', async () => {
    const { service, pid } = await runningService('wrong-id');
    const handle = await client.workflow.start('serviceRestart', { taskQueue: config.taskQueue, workflowId: `my-restart-${Date.now()}`, args: [{ ...restartInput(service), host: hostname() }] });
    const finished = await waitForReport(handle);
    assert.match(finished.error!, /workflow ID must be "serviceRestart:[^"]+\/wrong-id"/);
    assert.equal(await servingPid(service), pid);
  });

  test('a program given in the input (an inline service spec) is refused before anything runs', async () => {
    const service = await makeService('forbidden');
    services.push(service);
    const run = await start({ ...restartInput(service), service: { ...service.spec, start: ['/bin/sh', '-c', 'touch /tmp/pwned'] } });
    const finished = await waitForReport(run.handle);
    assert.equal(finished.ok, false);
    assert.match(finished.error!, /inline service specs are refused on this host: name a service from its services file \(service "forbidden" was given as a whole spec\)/);
    assert.ok((await failureTypes(run.handle)).includes('HostRefused'));
    assert.equal(finished.report?.changed, false);
    assert.equal(existsSync(service.spec.pidFile), false);
  });

  test('cancel while the stop command still runs: the command is killed, then the undo starts the service again', async () => {
    const { service, pid } = await runningService('cancelled-stop');
    // A stop that takes the service down at once, then hangs: cancel finds the step still running.
    const slowStop = [process.execPath, '-e', `process.kill(${pid}, 'SIGTERM'); setTimeout(() => {}, 60_000)`];
    await redeclare(service, { stop: slowStop });
    const run = await start(restartInput(service));
    await waitFor('the stop step to run', async () => (await getProgress(client, run.workflowId).catch(() => undefined))?.steps.find((s) => s.id === 'stop')?.state === 'running');
    await waitFor('the service to be down', async () => !isAlive(pid));
    await run.handle.cancel();
    await assert.rejects(run.handle.result());
    assert.equal((await run.handle.describe()).typedSearchAttributes.get(RunbookOutcome), 'Cancelled');
    const newPid = await waitFor('the service to answer again', () => servingPid(service));
    assert.notEqual(newPid, pid, 'the undo started a new process');
  });

  test('a failing smoke check fails the run, names the URL and why, and the service is left running', async () => {
    const { service } = await runningService('smoke');
    await declareCheck(service, 'no-match', { url: service.url('/'), bodyMatch: 'no-such-text', retries: 1, delayMs: 100 });
    const run = await start(restartInput(service, { checks: ['no-match'] }));
    const finished = await waitForReport(run.handle);
    assert.equal(finished.ok, false);
    assert.deepEqual(finished.report?.compensations.map((c) => [c.id, c.state, c.error]), [['start-again', 'completed', undefined]]);
    assert.equal(finished.report?.outcome, 'Failed');
    assert.match(finished.report!.error!, new RegExp(`${service.url('/')}: body does not match /no-such-text/`));
    assert.equal(finished.report?.steps.at(-1)?.state, 'failed');
    assert.deepEqual(finished.report?.compensations.map((c) => [c.id, c.state, c.error]), [['start-again', 'completed', undefined]]);
    assert.ok(await servingPid(service));
    assert.equal((await run.handle.describe()).typedSearchAttributes.get(RunbookOutcome), 'Failed');
  });
});
