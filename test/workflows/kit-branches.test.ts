// The kit's own branches, with mocked activities (the runbooks' real workflow code, a real dev
// server through TestWorkflowEnvironment, activities replaced by stand-ins that record what ran and
// when): undo order, undo.drop, cancel during a changing step, compensation that fails, drift
// after approval, non-retryable failures tried once, and a host nobody serves.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type * as activities from '../../src/activities/index';
import { stepInterceptors } from '../../src/activities/interceptors';
import type { LanceFacts } from '../../src/activities/lance';
import { HEARTBEATS, installRuntime } from '../../src/worker';
import { ENGINE_ERRORS } from '../../src/workflows/failures';
import type { LanceRestoreRequest, RunbookType, ServiceRestartRequest } from '../../src/workflows/inputs';
import { approveUpdate, progressQuery } from '../../src/workflows/messages';
import { RunbookOutcome } from '../../src/workflows/names';
import type { RunbookReport } from '../../src/workflows/report';
import type { HttpCheck, ServiceView } from '../../src/workflows/service-spec';
import { resolveTarget } from '../../src/workflows/targets';
import { runbooks } from '../../src/workflows/inputs';
import { waitFor } from '../helpers/service';

type Activities = typeof activities;
const HOST = 'mock-host';
let env: TestWorkflowEnvironment;

before(async () => {
  installRuntime({ metricsAddress: '' });
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: process.env.TEMPORAL_ADDRESS! });
});
after(async () => {
  await env?.teardown();
});

/** What the stand-ins did, in order, with times. */
interface Journal {
  calls: Array<{ name: string; at: number }>;
}

/** The view a host would give of the declared service `api` (exec, one smoke check `root`), with the checks a run picked. */
function apiView(checks?: string[]): ServiceView {
  const declared: Record<string, HttpCheck> = { root: { url: 'http://127.0.0.1:1/', expectStatus: 200, retries: 5, delayMs: 1000, timeoutMs: 5000 } };
  return {
    name: 'api',
    adapter: 'exec',
    source: 'services file',
    stopTimeoutSeconds: 15,
    argv: ['/usr/bin/node', 'api.js'],
    envKeys: ['PATH'],
    pidFile: '/run/api.pid',
    health: { url: 'http://127.0.0.1:1/health', expectStatus: 200, retries: 5, delayMs: 1000, timeoutMs: 5000 },
    checks: Object.fromEntries(Object.entries(declared).filter(([name]) => !checks || checks.includes(name))),
    handle: { ref: 'api', ...(checks ? { checks } : {}), digest: 'a'.repeat(64) },
  };
}

function baseActivities(journal: Journal, overrides: Partial<Activities> = {}): Partial<Activities> {
  const note = (name: string) => journal.calls.push({ name, at: Date.now() });
  const facts: LanceFacts = {
    path: '/data/t.lance', lfsRepo: '/data', healthy: false, currentVersion: 3, currentRows: 30, latestCompleteVersion: 2, latestCompleteRows: 20,
    versionCount: 3, missingCount: 1,
    brokenVersions: { count: 1, first: [3], sha256: 'a' }, brokenFiles: { count: 1, first: ['_versions/3.manifest'], sha256: 'b' },
    restorable: { count: 0, first: [], sha256: 'c' }, restorableBytes: 0, unrestorable: { count: 1, first: [{ path: 'data/x.lance', reason: 'gone' }], sha256: 'd' },
    findings: { count: 0, first: [], sha256: 'e' }, diagnosis: { count: 1, first: [], sha256: 'f' },
  };
  return {
    // A development-trust host: names taken as given, unsigned approvals accepted.
    verifyRequest: async ({ statement }) => ({ requester: statement.requestedBy, verified: false, reason: 'no signature (development trust: the name is taken as given)' }),
    verifyApproval: async ({ statement }) => ({ approver: statement.approver, verified: false }),
    resolveResources: async (resources) => resources.map((r) => r.key),
    claimHolder: async () => 'a holder',
    describeService: async (_ref, checks) => (note('describeService'), { view: apiView(checks), status: { running: true, pid: 100, detail: 'alive' } }),
    stopService: async () => (note('stopService'), { already: false, commands: [] }),
    startService: async () => (note('startService'), { already: false, commands: [] }),
    waitServiceDown: async () => (note('waitServiceDown'), { polls: 1, status: { running: false, detail: 'down' } }),
    waitServiceHealthy: async () => (note('waitServiceHealthy'), { polls: 1, status: { running: true, detail: 'up' } }),
    runSmokeChecks: async () => (note('runSmokeChecks'), [] as never),
    diagnoseLance: async () => (note('diagnoseLance'), facts),
    snapshotLanceMetadata: async () => (note('snapshotLanceMetadata'), { destination: '/q', files: 1, bytes: 1, sums: '/q/S', already: false }),
    quarantineLanceVersions: async () => (note('quarantineLanceVersions'), { filesMoved: { count: 0, first: [], sha256: '' } }),
    returnQuarantinedFiles: async () => (note('returnQuarantinedFiles'), { filesMoved: { count: 0, first: [], sha256: '' } }),
    verifyLanceTable: async () => (note('verifyLanceTable'), { version: 2, countRows: 20, scannedRows: 20 }),
    ...overrides,
  };
}

/** Runs `runbook` with `input` on workers whose activities are `mocks`; returns its handle and a stop. */
async function withWorkers<T>(mocks: Partial<Activities>, body: (taskQueue: string) => Promise<T>, host = HOST): Promise<T> {
  const taskQueue = `kit-${randomUUID().slice(0, 8)}`;
  const common = { connection: env.nativeConnection, interceptors: { activity: [stepInterceptors] }, activities: mocks, ...HEARTBEATS };
  const workflows = await Worker.create({ ...common, taskQueue, workflowBundle: { codePath: process.env.RUNBOOK_WORKFLOW_BUNDLE! } });
  const hostWorker = await Worker.create({ ...common, taskQueue: `${taskQueue}@${host}` });
  const running = Promise.all([workflows.run(), hostWorker.run()]);
  try {
    return await body(taskQueue);
  } finally {
    workflows.shutdown();
    hostWorker.shutdown();
    await running;
  }
}

async function start(taskQueue: string, runbook: RunbookType, request: Record<string, unknown>): Promise<WorkflowHandle> {
  const input = { host: HOST, requestedBy: 'alice', ...request };
  const { workflowId } = resolveTarget(runbook, runbooks[runbook].input.parse(input) as never);
  return env.client.workflow.start(runbook, { taskQueue, workflowId, args: [input] });
}

/** The report of a run that ended, failed or not. */
async function reportOf(handle: WorkflowHandle): Promise<RunbookReport> {
  try {
    return (await handle.result()) as RunbookReport;
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure && err.cause.details?.[0]) return err.cause.details[0] as RunbookReport;
    throw err;
  }
}

/** The backend, by its name in the (mocked) host's services file: apiView is what the host says about it. */
const service = 'api';
const fallback: LanceRestoreRequest = { mode: 'apply', approval: 'auto', strategy: 'fallback', tableDir: '/data/t.lance', service, checks: ['root'] };

describe('the kit (mocked activities)', () => {
  test('undo steps run newest first, each registered before its change', async () => {
    const journal: Journal = { calls: [] };
    const mocks = baseActivities(journal, { verifyLanceTable: async () => { throw ApplicationFailure.create({ type: 'VerificationFailed', message: 'scan failed', nonRetryable: true }); } });
    const report = await withWorkers(mocks, async (q) => reportOf(await start(q, 'lanceRestore', fallback)));
    assert.equal(report.outcome, 'Failed');
    assert.deepEqual(report.compensations.map((c) => [c.id, c.state]), [['return-quarantined', 'completed'], ['start-backend-again', 'completed']]);
    const names = journal.calls.map((c) => c.name);
    assert.deepEqual(names.slice(names.indexOf('quarantineLanceVersions')), ['quarantineLanceVersions', 'returnQuarantinedFiles', 'startService']);
  });

  test('undo.drop: after verification passed, a later failure does not move quarantined files back', async () => {
    const journal: Journal = { calls: [] };
    const mocks = baseActivities(journal, { runSmokeChecks: async () => { throw ApplicationFailure.create({ type: 'SmokeCheckFailed', message: 'GET / answered 500', nonRetryable: true }); } });
    const report = await withWorkers(mocks, async (q) => reportOf(await start(q, 'lanceRestore', fallback)));
    assert.equal(report.outcome, 'Failed');
    assert.deepEqual(report.compensations.map((c) => c.id), ['start-backend-again']);
    assert.ok(report.notes.some((n) => /"move quarantined files back" will not run on a later failure: version 2 verified/.test(n)), report.notes.join('\n'));
    assert.ok(!journal.calls.some((c) => c.name === 'returnQuarantinedFiles'));
  });

  test('a failing step that changed nothing yet still has its undo run, because the undo reads the real state', async () => {
    const journal: Journal = { calls: [] };
    const mocks = baseActivities(journal, { stopService: async () => { journal.calls.push({ name: 'stopService', at: Date.now() }); throw ApplicationFailure.create({ type: 'SafetyViolation', message: 'stop half done', nonRetryable: true }); } });
    const report = await withWorkers(mocks, async (q) => reportOf(await start(q, 'serviceRestart', { mode: 'apply', approval: 'auto', service })));
    assert.equal(report.outcome, 'Failed');
    assert.equal(report.changed, true);
    assert.deepEqual(report.compensations.map((c) => [c.id, c.state]), [['start-again', 'completed']]);
  });

  test('cancel during a changing step: the undo starts only after the cancelled step has stopped', async () => {
    const journal: Journal = { calls: [] };
    const mocks = baseActivities(journal, {
      quarantineLanceVersions: async () => {
        journal.calls.push({ name: 'quarantine started', at: Date.now() });
        const ctx = Context.current();
        for (;;) {
          ctx.heartbeat();
          if (ctx.cancellationSignal.aborted) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 700)); // a move in flight finishes before the step returns
        journal.calls.push({ name: 'quarantine stopped', at: Date.now() });
        throw ctx.cancellationSignal.reason;
      },
    });
    const outcome = await withWorkers(mocks, async (q) => {
      const handle = await start(q, 'lanceRestore', { ...fallback, checks: [] });
      await waitFor('the quarantine to start', async () => journal.calls.some((c) => c.name === 'quarantine started'));
      await handle.cancel();
      await assert.rejects(handle.result());
      return (await handle.describe()).typedSearchAttributes.get(RunbookOutcome);
    });
    assert.equal(outcome, 'Cancelled');
    const stopped = journal.calls.find((c) => c.name === 'quarantine stopped')!;
    const undo = journal.calls.find((c) => c.name === 'returnQuarantinedFiles')!;
    assert.ok(stopped && undo, journal.calls.map((c) => c.name).join(', '));
    assert.ok(undo.at >= stopped.at, 'the undo began after the cancelled step had finished');
    assert.deepEqual(journal.calls.filter((c) => c.at >= stopped.at).map((c) => c.name), ['quarantine stopped', 'returnQuarantinedFiles', 'startService']);
  });

  test('an undo that keeps failing until compensationTimeout ends the run CompensationFailed', async () => {
    const journal: Journal = { calls: [] };
    let tries = 0;
    const mocks = baseActivities(journal, {
      waitServiceDown: async () => { throw ApplicationFailure.create({ type: 'DeadlineExceeded', message: 'still running', nonRetryable: true }); },
      startService: async () => { tries += 1; throw new Error('unit is masked'); },
    });
    const report = await withWorkers(mocks, async (q) => reportOf(await start(q, 'serviceRestart', { mode: 'apply', approval: 'auto', service, compensationTimeout: '4s' })));
    assert.equal(report.outcome, 'CompensationFailed');
    assert.equal(report.compensations[0]?.state, 'failed');
    assert.ok(tries >= 2, `the undo was retried (${tries} tries)`);
    assert.ok(report.notes.some((n) => /the host needs a person/.test(n)));
  });

  test('drift after approval: the service restarted meanwhile, so the run stops with nothing changed and says what drifted', async () => {
    const journal: Journal = { calls: [] };
    let pid = 100;
    const mocks = baseActivities(journal, { describeService: async (_ref, checks) => ({ view: apiView(checks), status: { running: true, pid, detail: 'alive' } }) });
    const report = await withWorkers(mocks, async (q) => {
      const handle = await start(q, 'serviceRestart', { mode: 'apply', approval: 'required', service });
      await waitFor('approval', async () => (await handle.query(progressQuery)).outcome === 'AwaitingApproval');
      const { planDigest, runId } = await handle.query(progressQuery);
      pid = 200;
      await handle.executeUpdate(approveUpdate, { args: [{ runId, approver: 'bob', decision: 'approve', planDigest: planDigest! }] });
      return reportOf(handle);
    });
    assert.equal(report.outcome, 'Drifted');
    assert.deepEqual(report.drift, ['pid: 100 → 200']);
    assert.equal(report.changed, false);
    assert.ok(!journal.calls.some((c) => c.name === 'stopService'), 'nothing was stopped');
  });

  test('a second answer is refused, and an approval for another run or without a digest is refused', async () => {
    const journal: Journal = { calls: [] };
    await withWorkers(baseActivities(journal), async (q) => {
      const handle = await start(q, 'serviceRestart', { mode: 'apply', approval: 'required', service });
      await waitFor('approval', async () => (await handle.query(progressQuery)).outcome === 'AwaitingApproval');
      const { planDigest, runId } = await handle.query(progressQuery);
      const answer = (approver: string, extra = {}) => handle.executeUpdate(approveUpdate, { args: [{ runId, approver, decision: 'approve', planDigest: planDigest!, ...extra }] });
      const refusedWith = (pattern: RegExp) => (err: { cause?: { message?: string } }) => pattern.test(err.cause?.message ?? '');
      await assert.rejects(answer('bob', { runId: 'another-run' }), refusedWith(/this approval is for run another-run/));
      await assert.rejects(answer('bob', { planDigest: '' }), refusedWith(/stale plan: digest \(none\)/));
      const both = await Promise.allSettled([answer('bob'), answer('carol')]);
      assert.equal(both.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one answer counts');
      assert.match(String((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason?.cause?.message ?? ''), /already answered|not awaiting approval/);
      assert.equal((await reportOf(handle)).outcome, 'Succeeded');
    });
  });

  for (const [error, type] of Object.entries(ENGINE_ERRORS).filter(([, t]) => t !== 'Cancelled')) {
    test(`an engine ${error} is ${type}: tried once, never retried`, async () => {
      const journal: Journal = { calls: [] };
      let tries = 0;
      const mocks = baseActivities(journal, { diagnoseLance: async () => { tries += 1; throw Object.assign(new Error(`bad table (${error})`), { name: error }); } });
      const report = await withWorkers(mocks, async (q) => reportOf(await start(q, 'lanceRestore', { ...fallback, mode: 'plan' })));
      assert.equal(tries, 1);
      assert.equal(report.steps.find((s) => s.id === 'diagnose')?.attempts, 1);
      assert.match(report.error!, new RegExp(`bad table \\(${error}\\)`));
    });
  }

  test('a host nobody serves: the run fails with "no worker serves <queue>" and nothing changed', async () => {
    const journal: Journal = { calls: [] };
    const report = await withWorkers(baseActivities(journal), async (q) => {
      const input = { host: 'nobody-here', requestedBy: 'alice', mode: 'apply', approval: 'auto', service, hostWaitTimeout: '2s' } satisfies ServiceRestartRequest & { requestedBy: string };
      const { workflowId } = resolveTarget('serviceRestart', runbooks.serviceRestart.input.parse(input) as never);
      return reportOf(await env.client.workflow.start('serviceRestart', { taskQueue: q, workflowId, args: [input] }));
    });
    assert.equal(report.outcome, 'Failed');
    assert.match(report.error!, /no worker serves kit-[0-9a-f]+@nobody-here/);
    assert.equal(report.changed, false);
  });
});
