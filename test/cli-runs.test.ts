// `runbook list | show | cancel | audit` as a user runs them: bin/runbook.js as a child
// process against the test run's real Temporal server, a real in-process worker and real HTTP
// service processes. Runs are started from three surfaces: the CLI, the chat service (our client
// with origin "chat") and the Web UI (a plain Temporal start, without our client's memo).
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import type { AuditRecord } from '../src/audit';
import { getProgress, startRunbook, waitForReport } from '../src/client';
import type { Config } from '../src/config';
import { serviceControl } from '../src/activities/services/index';
import { listRuns, type RunDetail, type RunSummary } from '../src/runs';
import { declareCheck, makeService, redeclare, servingPid, stopFailingOnce, waitFor, type TestService, restartInput, runningService as startedService } from './helpers/service';
import { runCli, shown } from './helpers/cli';
import { answerCurrentPlan, startWorker, testClient, testConfig } from './helpers/temporal';


let config: Config;
let client: Client;
let worker: { stop(): Promise<void> };
let inputs: string;
const services: TestService[] = [];

before(async () => {
  config = testConfig('cli-runs');
  client = await testClient(config);
  worker = await startWorker(config);
  inputs = await mkdtemp(join(tmpdir(), 'runbook-cli-runs-'));
});
after(async () => {
  await worker?.stop();
  await client?.connection.close();
  await Promise.all(services.map((s) => s.cleanup()));
  if (inputs) await rm(inputs, { recursive: true, force: true });
});

const runbook = (args: string[], options?: { input?: string }) => runCli(config, args, options);

const runningService = (name: string, options?: { startupDelayMs?: number }) => startedService(name, services, options);


async function inputFile(name: string, content: unknown): Promise<string> {
  const path = join(inputs, name);
  await writeFile(path, JSON.stringify(content));
  return path;
}

const expectedId = (service: TestService) => `serviceRestart:${hostname()}/${service.spec.name}`;
const awaitingApproval = (workflowId: string) =>
  waitFor('the run to await approval', async () => (await getProgress(client, workflowId).catch(() => undefined))?.outcome === 'AwaitingApproval');

/** Visibility is updated after the run closes: wait until `list` would see the run closed. */
const visibleClosed = (workflowId: string, runId: string) =>
  waitFor(`${workflowId} closed in visibility`, async () => (await listRuns(client, { workflowId })).find((r) => r.runId === runId && r.closeTime && r.outcome !== 'Running'));

const jsonl = (text: string) => text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as AuditRecord);

describe('runs from the CLI, the chat service and the Web UI', () => {
  interface Started {
    workflowId: string;
    runId: string;
    oldPid: number;
    service: TestService;
  }
  let fromCli: Started;
  let fromChat: Started;
  let fromUi: Started;
  let failed: { workflowId: string; runId: string };
  let digest: string;

  before(async () => {
    // CLI: alice asks, approval required; bob approves through the CLI.
    {
      const { service, pid } = await runningService('audit-cli');
      const started = await runbook(['start', 'serviceRestart', '--input', await inputFile('cli.json', restartInput(service, { approval: 'required' })), '--as', 'alice']);
      assert.equal(started.exitCode, 0, shown(started));
      const workflowId = started.stdout.trim();
      await awaitingApproval(workflowId);
      digest = (await getProgress(client, workflowId)).planDigest!;
      const approved = await runbook(['approve', workflowId, '--as', 'bob', '--digest', digest, '--comment', 'after the backup']);
      assert.equal(approved.exitCode, 0, shown(approved));
      const handle = client.workflow.getHandle(workflowId);
      assert.equal((await waitForReport(handle)).report?.outcome, 'Succeeded');
      fromCli = { workflowId, runId: (await handle.describe()).runId, oldPid: pid, service };
    }
    // Chat: the chat service starts through our client with origin "chat" for carol.
    {
      const { service, pid } = await runningService('audit-chat');
      const run = await startRunbook(client, config, 'serviceRestart', restartInput(service), { origin: 'chat', requestedBy: 'carol' });
      assert.equal((await waitForReport(run.handle)).report?.outcome, 'Succeeded');
      fromChat = { workflowId: run.workflowId, runId: run.runId, oldPid: pid, service };
    }
    // Web UI: a plain start with the workflow ID the runbook requires, no memo, no search attributes.
    {
      const { service, pid } = await runningService('audit-ui');
      const workflowId = expectedId(service);
      const handle = await client.workflow.start('serviceRestart', { taskQueue: config.taskQueue, workflowId, args: [restartInput(service, { requestedBy: 'dave', host: hostname() })] });
      assert.equal((await waitForReport(handle)).report?.outcome, 'Succeeded');
      fromUi = { workflowId, runId: handle.firstExecutionRunId, oldPid: pid, service };
    }
    // A failing one: the only check it picks (declared on the host) never matches.
    {
      const { service } = await runningService('audit-failed');
      await declareCheck(service, 'no-match', { url: service.url('/'), bodyMatch: 'no-such-text', retries: 0 });
      const run = await startRunbook(client, config, 'serviceRestart', restartInput(service, { checks: ['no-match'] }), { origin: 'cli', requestedBy: 'alice' });
      assert.equal((await waitForReport(run.handle)).report?.outcome, 'Failed');
      failed = { workflowId: run.workflowId, runId: run.runId };
    }
    for (const run of [fromCli, fromChat, fromUi, failed]) await visibleClosed(run.workflowId, run.runId);
  });

  test('audit --since 1h --format jsonl: who started each run, from where, who approved, the outcome and what changed', async () => {
    const r = await runbook(['audit', '--since', '1h', '--format', 'jsonl']);
    assert.equal(r.exitCode, 0, shown(r));
    const records = jsonl(r.stdout);
    const find = (run: { runId: string }) => {
      const record = records.find((x) => x.runId === run.runId);
      assert.ok(record, `audit lists run ${run.runId}\n${shown(r)}`);
      return record;
    };

    const cli = find(fromCli);
    assert.equal(cli.workflowId, fromCli.workflowId);
    assert.equal(cli.runbook, 'serviceRestart');
    assert.equal(cli.target, `${hostname()}/audit-cli`);
    assert.equal(cli.origin, 'cli');
    assert.equal(cli.triggeredBy, 'alice');
    assert.equal(cli.approvedBy, 'bob');
    assert.deepEqual({ ...cli.approval, at: undefined }, { approver: 'bob', decision: 'approve', planDigest: digest, comment: 'after the backup', verified: false, from: 'report', at: undefined });
    assert.equal(cli.status, 'COMPLETED');
    assert.equal(cli.outcome, 'Succeeded');
    assert.equal(cli.changed, true);
    assert.equal(cli.mode, 'apply');
    assert.equal(cli.pidBefore, fromCli.oldPid, 'the pid the service had before');
    assert.equal(cli.pidAfter, await servingPid(fromCli.service), 'the pid that serves now');
    assert.equal(cli.filesMovedCount, 0);
    assert.deepEqual(cli.filesMoved, []);
    assert.ok(cli.startTime && cli.closeTime && cli.durationMs! > 0);
    assert.match(cli.startedBy!, /@/, 'the Temporal client identity that started it');

    const chat = find(fromChat);
    assert.equal(chat.origin, 'chat');
    assert.equal(chat.triggeredBy, 'carol');
    assert.equal(chat.outcome, 'Succeeded');
    assert.equal(chat.approvedBy, undefined, 'approval "auto": nobody approved');
    assert.equal(chat.pidAfter, await servingPid(fromChat.service));

    const ui = find(fromUi);
    assert.equal(ui.origin, 'ui', 'started without our client: from the Web UI');
    assert.equal(ui.triggeredBy, 'dave', 'requestedBy from the input');
    assert.equal(ui.workflowId, fromUi.workflowId);
    assert.equal(ui.outcome, 'Succeeded');
    assert.equal(ui.changed, true);

    const bad = find(failed);
    assert.equal(bad.status, 'FAILED');
    assert.equal(bad.outcome, 'Failed');
    assert.match(bad.error!, /body does not match \/no-such-text\//);
    assert.deepEqual(bad.retriedSteps?.map((s) => [s.name, s.state]), [['smoke checks', 'failed']]);
    assert.equal(bad.changed, true, 'the service was restarted before the smoke check failed');

    const order = records.map((x) => x.startTime);
    assert.deepEqual(order, [...order].sort(), 'oldest first');
  });

  test('audit --format markdown: a table row per run and a detail list', async () => {
    const r = await runbook(['audit', '--since', '1h', '--until', 'now', '--format', 'markdown', '--runbook', 'serviceRestart']);
    assert.equal(r.exitCode, 0, shown(r));
    assert.match(r.stdout, /^\| Started \(UTC\) \| Runbook \| Target \| Triggered by \| From \| Approved by \| Outcome \| Status \| Changed \| Error \|$/m);
    const row = (target: string) => r.stdout.split('\n').find((line) => line.startsWith('|') && line.includes(`| ${hostname()}/${target} |`));
    assert.match(row('audit-cli') ?? '', /\| alice \| cli \| bob \| Succeeded \| COMPLETED \| pid \d+ → \d+ \|/, shown(r));
    assert.match(row('audit-chat') ?? '', /\| carol \| chat \| {2}\| Succeeded \|/, shown(r));
    assert.match(row('audit-ui') ?? '', /\| dave \| ui \| {2}\| Succeeded \|/, shown(r));
    assert.match(r.stdout, new RegExp(`### ${fromCli.workflowId.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\n\n- \\*\\*Run ID\\*\\*: \`${fromCli.runId}\``));
    assert.match(r.stdout, new RegExp(`- \\*\\*Approved\\*\\*: by bob \\(unsigned: development trust\\) at .*, plan \`${digest}\`: "after the backup"`));
  });

  test('list --status Succeeded --runbook serviceRestart: only succeeded runs; --triggered-by and the table', async () => {
    const r = await runbook(['list', '--status', 'Succeeded', '--runbook', 'serviceRestart', '--since', '1h', '--json', '--limit', '500']);
    assert.equal(r.exitCode, 0, shown(r));
    const runs = JSON.parse(r.stdout) as RunSummary[];
    const ids = runs.map((x) => x.runId);
    for (const run of [fromCli, fromChat, fromUi]) assert.ok(ids.includes(run.runId), `lists ${run.workflowId}\n${shown(r)}`);
    assert.ok(!ids.includes(failed.runId), 'the failed run is not listed');
    assert.ok(runs.every((x) => x.outcome === 'Succeeded' && x.runbook === 'serviceRestart'), shown(r));
    assert.equal(runs.find((x) => x.runId === fromUi.runId)?.origin, 'ui');

    const carol = await runbook(['list', '--triggered-by', 'carol', '--since', '1h', '--json']);
    assert.equal(carol.exitCode, 0, shown(carol));
    const carols = JSON.parse(carol.stdout) as RunSummary[];
    assert.ok(carols.length >= 1 && carols.every((x) => x.triggeredBy === 'carol'), shown(carol));
    assert.ok(carols.some((x) => x.runId === fromChat.runId));

    const failedOnly = await runbook(['list', '--status', 'failed', '--target', `${hostname()}/audit-failed`]);
    assert.equal(failedOnly.exitCode, 0, shown(failedOnly));
    const lines = failedOnly.stdout.trim().split('\n');
    assert.match(lines[0]!, /^STARTED \(UTC\) +TOOK +OUTCOME +STATUS +BY +FROM +RUN +WORKFLOW ID$/, shown(failedOnly));
    assert.equal(lines.length, 2, shown(failedOnly));
    assert.match(lines[1]!, new RegExp(` Failed +FAILED +alice +cli +${failed.runId.slice(0, 8)} +${failed.workflowId}$`));
  });

  test('show of the approved run: steps in order, the approval update, signals, outcome', async () => {
    const r = await runbook(['show', fromCli.workflowId, '--json']);
    assert.equal(r.exitCode, 0, shown(r));
    const detail = JSON.parse(r.stdout) as RunDetail;
    assert.equal(detail.runId, fromCli.runId);
    assert.equal(detail.status, 'COMPLETED');
    assert.equal(detail.origin, 'cli');
    // Steps by their stable ids; their labels are for people and may change.
    assert.deepEqual(detail.activities.filter((a) => a.kind === 'step').map((a) => [a.stepId, a.state]), [
      ['resolve', 'completed'],
      ['diagnose', 'completed'],
      ['diagnose-recheck', 'completed'],
      ['stop', 'completed'],
      ['wait-down', 'completed'],
      ['start', 'completed'],
      ['wait-healthy', 'completed'],
      ['smoke', 'completed'],
    ]);
    const approve = detail.updates.find((u) => u.name === 'approve');
    assert.deepEqual(approve?.request, { runId: fromCli.runId, approver: 'bob', decision: 'approve', planDigest: digest, comment: 'after the backup' });
    assert.deepEqual(detail.signals, { total: 0, byName: {} }, 'heartbeats reach the server, not the history: no signals');
    assert.deepEqual(detail.outcomes.map((o) => o.outcome), ['Running', 'AwaitingApproval', 'Running', 'Succeeded']);

    const text = await runbook(['show', fromCli.workflowId, '--run-id', fromCli.runId.slice(0, 8)]);
    assert.equal(text.exitCode, 0, shown(text));
    assert.match(text.stdout, /^ {2}approval +approved by bob \(unsigned: development trust\) at .*, plan [0-9a-f]{12}… "after the backup"$/m, shown(text));
    assert.match(text.stdout, /^ {2}update +approve approve by bob at [\d:.]+ \(client .*\): done$/m, shown(text));
    assert.match(text.stdout, /^ {2}went +Running [\d:.]+ → AwaitingApproval [\d:.]+ → Running [\d:.]+ → Succeeded [\d:.]+$/m, shown(text));
  });
});

describe('show: the timeline from the workflow history', () => {
  test('a step that failed its first attempt: attempts ≥ 2, the failure message, timings', async () => {
    // A stop command that fails once (exit 1: NotYet, retried) and then stops the service.
    const { service } = await runningService('show-retry');
    const marker = join(inputs, 'stop-failed-once');
    await redeclare(service, { stop: stopFailingOnce(marker, service.spec.pidFile) });
    const started = await runbook(['start', 'serviceRestart', '--input', await inputFile('retry.json', restartInput(service)), '--wait', '--as', 'alice']);
    assert.equal(started.exitCode, 0, shown(started));
    const workflowId = started.stdout.split('\n')[0]!;

    const r = await runbook(['show', workflowId]);
    assert.equal(r.exitCode, 0, shown(r));
    assert.match(r.stdout, new RegExp(`^${workflowId.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\n {2}run +[0-9a-f-]{36} {2}\\(serviceRestart on .*/show-retry, apply mode\\)$`, 'm'), shown(r));
    assert.match(r.stdout, /^ {2}started +.* by alice from cli \(client .*\)$/m, shown(r));
    assert.match(r.stdout, /^ {2}outcome +Succeeded$/m, shown(r));
    assert.match(r.stdout, /^ +# +STEP +ACTIVITY +TRIES +SCHEDULED +STARTED +CLOSED +TOOK +STATE$/m, shown(r));
    const row = r.stdout.split('\n').find((line) => /^ +3 +stop show-retry +stopService/.test(line));
    assert.match(row ?? '', /stopService +2 +[\d:.]+ +[\d:.]+ +[\d:.]+ +[\d.]+s +completed$/, shown(r));
    assert.match(r.stdout, /^ +attempt 1 failed: stop command for show-retry exited 1 \[NotYet\]$/m, shown(r));

    const json = await runbook(['show', workflowId, '--json']);
    const detail = JSON.parse(json.stdout) as RunDetail;
    const wait = detail.activities.find((a) => a.stepId === 'stop')!;
    assert.equal(wait.attempts, 2, JSON.stringify(wait));
    assert.equal(wait.activityType, 'stopService');
    assert.equal(wait.state, 'completed');
    assert.match(wait.failures[0]!.message, /stop command for show-retry exited 1/);
    assert.equal(wait.failures[0]!.type, 'NotYet');
    assert.ok(Date.parse(wait.scheduledAt) <= Date.parse(wait.startedAt!) && Date.parse(wait.startedAt!) <= Date.parse(wait.closedAt!), JSON.stringify(wait));
    assert.ok(wait.durationMs! >= 1000, 'the failed attempt and the backoff are part of its duration');
    assert.ok(detail.activities.filter((a) => a.kind === 'step').every((a) => a.attempts >= 1 && a.durationMs !== undefined));
  });

  test('a running step: its attempt and last heartbeat, from the pending activity; the approval from the update event', async () => {
    // A service that takes a minute to listen: "wait healthy" polls and heartbeats all along.
    const service = await makeService('show-running', { startupDelayMs: 60_000 });
    services.push(service);
    await serviceControl(service.spec).start();
    const run = await startRunbook(client, config, 'serviceRestart', restartInput(service, { approval: 'required', waitHealthySeconds: 120 }), { origin: 'api', requestedBy: 'alice' });
    try {
      await awaitingApproval(run.workflowId);
      const approval = await answerCurrentPlan(client, run.workflowId, 'bob');
      const detail = await waitFor('wait healthy to heartbeat', async () => {
        const r = await runbook(['show', run.workflowId, '--json']);
        const d = JSON.parse(r.stdout) as RunDetail;
        const wait = d.activities.find((a) => a.stepId === 'wait-healthy');
        return wait?.lastHeartbeat ? d : undefined;
      }, 30_000);
      assert.equal(detail.status, 'RUNNING');
      assert.equal(detail.origin, 'api');
      const wait = detail.activities.find((a) => a.stepId === 'wait-healthy')!;
      assert.equal(wait.state, 'running');
      assert.equal(wait.attempts, 1);
      assert.ok((wait.lastHeartbeat as { polls: number }).polls >= 1, JSON.stringify(wait));
      assert.ok(wait.lastHeartbeatAt);
      const text = await runbook(['show', run.workflowId]);
      assert.match(text.stdout, /^ {2}closed +still open \(RUNNING\)/m, shown(text));
      assert.match(text.stdout, /^ +last heartbeat [\d:.]+: \{"polls":\d+,"status":"pid \d+ alive"/m, shown(text));

      // No report yet: the audit reads the approval from the history's update event.
      const audit = await runbook(['audit', '--since', '10m', '--target', detail.target!]);
      assert.equal(audit.exitCode, 0, shown(audit));
      const [record] = jsonl(audit.stdout);
      assert.equal(record?.status, 'RUNNING', shown(audit));
      assert.equal(record?.origin, 'api');
      assert.equal(record?.approvedBy, 'bob');
      assert.deepEqual(record?.approval, { approver: 'bob', decision: 'approve', planDigest: approval.planDigest, at: approval.at, verified: false, from: 'history' });
      assert.equal(record?.changed, true, 'the service was stopped and started');
      assert.equal(record?.closeTime, undefined);
    } finally {
      await run.handle.terminate('test over');
    }
  });

  test('show of an unknown workflow ID: exit 2', async () => {
    const r = await runbook(['show', 'serviceRestart:nowhere/nothing']);
    assert.equal(r.exitCode, 2, shown(r));
    assert.match(r.stderr, /runbook: no run serviceRestart:nowhere\/nothing in this namespace/);
  });
});

describe('cancel', () => {
  test('a run awaiting approval ends CANCELLED, nothing changed; the audit says who cancelled and why', async () => {
    const { service, pid } = await runningService('cancel-me');
    const started = await runbook(['start', 'serviceRestart', '--input', await inputFile('cancel.json', restartInput(service, { approval: 'required' })), '--as', 'alice']);
    assert.equal(started.exitCode, 0, shown(started));
    const workflowId = started.stdout.trim();
    await awaitingApproval(workflowId);

    const r = await runbook(['cancel', workflowId, '--reason', 'wrong maintenance window', '--as', 'erin', '--wait']);
    assert.equal(r.exitCode, 0, shown(r));
    assert.equal(r.stdout.trim(), workflowId);
    assert.match(r.stderr, /cancellation requested for .* \(run [0-9a-f-]{36}\): wrong maintenance window/, shown(r));
    assert.match(r.stderr, / ended CANCELLED$/m, shown(r));
    const description = await client.workflow.getHandle(workflowId).describe();
    assert.equal(description.status.name, 'CANCELLED');
    assert.equal(await servingPid(service), pid, 'the service was not touched');

    const show = await runbook(['show', workflowId, '--json']);
    const detail = JSON.parse(show.stdout) as RunDetail;
    assert.equal(detail.status, 'CANCELLED');
    assert.match(detail.cancelRequested?.identity ?? '', /^erin /);
    assert.equal(detail.cancelRequested?.reason, 'wrong maintenance window');

    await visibleClosed(workflowId, description.runId);
    const audit = await runbook(['audit', '--since', '10m', '--target', `${hostname()}/cancel-me`]);
    const [record] = jsonl(audit.stdout);
    assert.equal(record?.status, 'CANCELLED', shown(audit));
    assert.equal(record?.outcome, 'Cancelled');
    assert.equal(record?.triggeredBy, 'alice');
    assert.equal(record?.changed, false);
    assert.match(record?.cancelled?.by ?? '', /^erin /);
    assert.equal(record?.cancelled?.reason, 'wrong maintenance window');

    const again = await runbook(['cancel', workflowId]);
    assert.equal(again.exitCode, 3, shown(again));
    assert.match(again.stderr, /is not running \(it is CANCELLED\): nothing to cancel/);
  });

  test('an unknown workflow ID: exit 2 with a clear message', async () => {
    const r = await runbook(['cancel', 'serviceRestart:nowhere/nothing']);
    assert.equal(r.exitCode, 2, shown(r));
    assert.match(r.stderr, /^runbook: no run serviceRestart:nowhere\/nothing in this namespace: nothing to cancel$/m, shown(r));
    assert.equal(r.stdout, '');
  });
});
