// From the slash command to the final report, against the real dev server, a real worker and a real
// HTTP service declared in the host's services file: a preset starts serviceRestart from chat, the approval request with buttons reaches
// the response_url receiver, self-approval and stale plans are refused, a second person approves,
// the service really restarts and the report (Succeeded, UI link) is posted back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { approveRunbook, getProgress, waitForReport } from '../../src/client';
import { workflowUrl, type Config } from '../../src/config';
import { serviceControl } from '../../src/activities/services/index';
import { parseRolesFile } from '../../src/chatops/access';
import { listRuns } from '../../src/runs';
import { makeService, servingPid, waitFor, type TestService } from '../helpers/service';
import { startWorker, testClient, testConfig } from '../helpers/temporal';
import { buttonClick, neverStarted, Receiver, restartWorkflowId, SECRET, slashCommand, startChatOps, unique, type RunningChatOps } from './harness';

let config: Config;
let client: Client;
let worker: { stop(): Promise<void> };
let chat: RunningChatOps;
let receiver: Receiver;
let service: TestService;
let oldPid: number;

before(async () => {
  config = testConfig('chatops-flow');
  client = await testClient(config);
  worker = await startWorker(config);
  receiver = await new Receiver().start();
  service = await makeService(unique('chat-web'));
  await serviceControl(service.spec).start();
  oldPid = await waitFor('the service to answer', () => servingPid(service));
  const roles = parseRolesFile({
    users: {
      UALICE: { name: 'alice', roles: ['operator', 'approver'] },
      UBOB: { name: 'bob', roles: ['approver'] },
      UDAVE: { name: 'dave', roles: ['operator'] },
    },
    roles: {
      operator: { start: [{ runbook: 'serviceRestart', targets: ['*/chat-*'] }] },
      approver: { approve: [{ runbook: '*', targets: ['*/chat-*'] }] },
    },
    presets: {
      'demo-api': { runbook: 'serviceRestart', input: { service: service.spec.name }, open: ['waitHealthySeconds'] },
    },
  });
  chat = await startChatOps(client, config, { signingSecret: SECRET, roles });
});
after(async () => {
  await chat?.stop();
  await receiver?.stop();
  await worker?.stop();
  await client?.connection.close();
  await service?.cleanup();
});

describe('chat approval flow', () => {
  test('start from chat with a preset; self-approval refused; a second person approves; the report is posted with the UI link', async () => {
    const responseUrl = receiver.url('/command-1');
    const workflowId = restartWorkflowId(service.spec.name);

    const started = await slashCommand(chat.url, 'UALICE', 'serviceRestart @demo-api', { response_url: responseUrl });
    assert.equal(started.status, 200);
    assert.equal(started.body.response_type, 'in_channel');
    assert.match(started.body.text, new RegExp(`alice \\(slack:UALICE\\) started serviceRestart \\(apply, approval required\\) on .*/${service.spec.name}`));
    assert.ok(started.body.text.includes(workflowUrl(config, workflowId)));

    // The approval request: a blocks message with the plan's actions and Approve/Reject buttons.
    const request = await receiver.waitForPost(responseUrl, 'the approval request', (m) => Array.isArray(m.blocks) && m.blocks.some((b: any) => b.type === 'actions'));
    assert.equal(request.response_type, 'in_channel', 'approvers other than the requester must see the buttons');
    const buttons = request.blocks.find((b: any) => b.type === 'actions').elements;
    assert.deepEqual(buttons.map((b: any) => b.action_id), ['approve', 'reject']);
    const value = JSON.parse(buttons[0].value);
    const progress = await getProgress(client, workflowId);
    assert.deepEqual(value, { workflowId, planDigest: progress.planDigest });
    const shown = request.blocks.map((b: any) => b.text?.text ?? '').join('\n');
    for (const action of progress.plan!.actions) assert.ok(shown.includes(action.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')), `plan action shown: ${action}`);

    // The requester clicks Approve: refused by the workflow's own rule, the run still waits.
    const selfClick = receiver.url('/self-click');
    const self = await buttonClick(chat.url, 'UALICE', 'approve', buttons[0].value, selfClick);
    assert.equal(self.status, 200);
    assert.match(self.body.text, /refused: self-approval refused: slack:UALICE requested this run/);
    assert.match((await receiver.waitForPost(selfClick, 'the refusal in chat', () => true)).text, /self-approval/);
    assert.equal((await getProgress(client, workflowId)).outcome, 'AwaitingApproval');
    assert.equal(await servingPid(service), oldPid, 'nothing changed');

    // Somebody who may start but not approve; somebody unknown: 403, logged; the run still waits.
    const dave = await buttonClick(chat.url, 'UDAVE', 'approve', buttons[0].value);
    assert.equal(dave.status, 403);
    assert.match(dave.body.text, /refused: dave \(slack:UDAVE\) has no role that may approve runs/);
    const mallory = await buttonClick(chat.url, 'UMALLORY', 'approve', buttons[0].value);
    assert.equal(mallory.status, 403);
    const logged = chat.logs.filter((l) => l.msg === 'chatops: approve refused');
    assert.ok(logged.some((l) => l.userId === 'slack:UDAVE' && /no role that may approve/.test(String(l.reason))));
    assert.ok(logged.some((l) => l.userId === 'slack:UMALLORY' && /unknown user/.test(String(l.reason)) && l.target === progress.target));

    // A stale plan digest is refused the same way as in the CLI.
    const stale = await buttonClick(chat.url, 'UBOB', 'approve', JSON.stringify({ workflowId, planDigest: 'deadbeef' }));
    assert.match(stale.body.text, /refused: stale plan: digest deadbeef/);
    assert.equal((await getProgress(client, workflowId)).outcome, 'AwaitingApproval');

    // A second person approves the plan shown.
    const bobClick = receiver.url('/bob-click');
    const bob = await buttonClick(chat.url, 'UBOB', 'approve', buttons[0].value, bobClick);
    assert.equal(bob.status, 200);
    assert.match(bob.body.text, /bob \(slack:UBOB\) approved the plan/);
    assert.equal(bob.body.replace_original, true, 'the buttons are replaced by who approved');
    assert.ok(receiver.postsTo(bobClick).length === 1);

    const final = await receiver.waitForPost(responseUrl, 'the final report', (m) => /Succeeded/.test(m.text ?? ''), 60_000);
    assert.ok(final.text.includes(workflowUrl(config, workflowId)), 'UI link in the text');
    const blocks = JSON.stringify(final.blocks);
    assert.ok(blocks.includes(workflowUrl(config, workflowId)), 'UI link in the blocks');
    assert.match(blocks, /\*Succeeded\*/);
    assert.match(blocks, /approved by slack:UBOB/);
    const name = service.spec.name;
    for (const step of [`diagnose ${name}`, `stop ${name}`, `wait until ${name} is down`, `start ${name}`, `wait until ${name} is healthy`, 'smoke checks']) assert.ok(blocks.includes(`${step}: completed`), `step ${step} in the report`);

    const report = (await waitForReport(client.workflow.getHandle(workflowId))).report!;
    assert.equal(report.outcome, 'Succeeded');
    assert.equal(report.triggeredBy, 'slack:UALICE');
    assert.equal(report.approval?.approver, 'slack:UBOB');
    const newPid = await servingPid(service);
    assert.ok(newPid && newPid !== oldPid, 'a new process serves');

    const runs = await waitFor('the run in visibility', async () => (await listRuns(client, { target: report.target, triggeredBy: 'slack:UALICE' })).find((r) => r.outcome === 'Succeeded'));
    assert.equal(runs.origin, 'chat');
    assert.equal(runs.triggeredBy, 'slack:UALICE');

    // The watch ends with the run: no timer left behind.
    await waitFor('the watch to end', async () => receiver.postsTo(responseUrl).length >= 2);
    assert.equal(receiver.postsTo(responseUrl).filter((m) => /Succeeded/.test(m.text ?? '')).length, 1, 'the report is posted once');
  });

  test('--plan from chat: a plan-only run, reported as Planned; nothing changed', async () => {
    const responseUrl = receiver.url('/command-plan');
    const pid = await servingPid(service);
    const res = await slashCommand(chat.url, 'UALICE', '@demo-api --plan', { response_url: responseUrl });
    assert.equal(res.status, 200);
    assert.match(res.body.text, /\(plan\)/);
    const final = await receiver.waitForPost(responseUrl, 'the plan report', (m) => /Planned/.test(m.text ?? ''));
    assert.ok(final.text.includes(workflowUrl(config, restartWorkflowId(service.spec.name))));
    assert.equal(receiver.postsTo(responseUrl).filter((m) => m.blocks?.some((b: any) => b.type === 'actions')).length, 0, 'no buttons for a plan');
    assert.equal(await servingPid(service), pid);
  });

  test('a second start on the same target while one runs: a chat reply names the running run', async () => {
    const first = await slashCommand(chat.url, 'UALICE', '@demo-api');
    assert.equal(first.status, 200);
    const workflowId = restartWorkflowId(service.spec.name);
    const second = await slashCommand(chat.url, 'UALICE', '@demo-api');
    assert.equal(second.status, 200);
    assert.equal(second.body.text, `refused: already running: ${workflowId}`);
    await waitFor('the run to await approval', async () => (await getProgress(client, workflowId).catch(() => undefined))?.outcome === 'AwaitingApproval');
    const { planDigest } = await getProgress(client, workflowId);
    const reject = await buttonClick(chat.url, 'UBOB', 'reject', JSON.stringify({ workflowId, planDigest }));
    assert.match(reject.body.text, /bob \(slack:UBOB\) rejected the plan/);
    assert.equal((await waitForReport(client.workflow.getHandle(workflowId))).report?.outcome, 'Rejected');
    const late = await buttonClick(chat.url, 'UBOB', 'approve', JSON.stringify({ workflowId, planDigest }));
    assert.match(late.body.text, /refused: this run is not awaiting approval/);
    assert.ok(!(await neverStarted(client, workflowId)));
  });
});

describe('server close', () => {
  test('closing the server stops its watches: nothing is posted after close, even when the run ends', async () => {
    const responseUrl = receiver.url('/command-close');
    const workflowId = restartWorkflowId(service.spec.name);
    await slashCommand(chat.url, 'UALICE', '@demo-api', { response_url: responseUrl });
    await receiver.waitForPost(responseUrl, 'the approval request', (m) => m.blocks?.some((b: any) => b.type === 'actions'));
    await chat.stop();
    const posted = receiver.posts.length;
    const { planDigest } = await getProgress(client, workflowId);
    await approveRunbook(client, workflowId, { approver: 'slack:UBOB', decision: 'reject', planDigest: planDigest! });
    assert.equal((await waitForReport(client.workflow.getHandle(workflowId))).report?.outcome, 'Rejected');
    await new Promise((r) => setTimeout(r, 1000)); // five poll intervals
    assert.equal(receiver.posts.length, posted);
  });
});
