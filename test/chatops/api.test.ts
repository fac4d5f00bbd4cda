// The JSON API for other bots against the real dev server, a real worker and real HTTP services
// declared in the test host's services file: bearer tokens (401 without or with a wrong one), the
// same roles and 403 rules as chat, start, status, approve and list, with origin "api" and
// TriggeredBy = api:<token name>.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import type { Config } from '../../src/config';
import { workflowUrl } from '../../src/config';
import { parseRolesFile, parseTokensFile, sha256Hex } from '../../src/chatops/access';
import type { RunSummary } from '../../src/runs';
import { runningService as startService, servingPid, waitFor, type TestService } from '../helpers/service';
import { startWorker, testClient, testConfig } from '../helpers/temporal';
import { api, neverStarted, Receiver, restartWorkflowId, startChatOps, unique, type RunningChatOps } from './harness';

const DEPLOY = 'deploy-token-0b7e3c';
const REVIEWER = 'reviewer-token-41aa9d';
const AUTO = 'auto-token-77c2e1';
const NARROW = 'narrow-token-9f00d2';

let config: Config;
let client: Client;
let worker: { stop(): Promise<void> };
let chat: RunningChatOps;
let webhook: Receiver;
const services: TestService[] = [];

const runningService = (prefix: string) => startService(unique(prefix), services);

const restartInput = (service: TestService, extra: Record<string, unknown> = {}) => ({ mode: 'apply', service: service.spec.name, ...extra });

before(async () => {
  config = testConfig('chatops-api');
  client = await testClient(config);
  worker = await startWorker(config);
  webhook = await new Receiver().start();
  const roles = parseRolesFile({
    users: {},
    roles: {
      deployer: {
        start: [{ runbook: 'serviceRestart', targets: ['*/api-*'], freeInput: true }],
        approve: [{ runbook: 'serviceRestart', targets: ['*/api-*'] }],
        read: [{ runbook: 'serviceRestart', targets: ['*/api-*'] }],
      },
      reviewer: { approve: [{ runbook: 'serviceRestart', targets: ['*/api-*'] }], read: [{ runbook: '*', targets: ['*'] }] },
      autopilot: { start: [{ runbook: 'serviceRestart', targets: ['*/api-auto-*'], auto: true, freeInput: true }], read: [{ runbook: 'serviceRestart', targets: ['*/api-auto-*'] }] },
      narrow: { start: [{ runbook: 'serviceRestart', targets: ['*/none-*'], freeInput: true }] },
    },
  });
  const tokens = parseTokensFile(
    {
      tokens: [
        { token_sha256: sha256Hex(DEPLOY), name: 'deploy-bot', roles: ['deployer'] },
        { token_sha256: sha256Hex(REVIEWER), name: 'review-bot', roles: ['reviewer'] },
        { token_sha256: sha256Hex(AUTO), name: 'auto-bot', roles: ['autopilot'] },
        { token_sha256: sha256Hex(NARROW), name: 'narrow-bot', roles: ['narrow'] },
      ],
    },
    roles,
  );
  chat = await startChatOps(client, config, { roles, tokens, webhookUrl: webhook.url('/webhook') });
});
after(async () => {
  await chat?.stop();
  await webhook?.stop();
  await worker?.stop();
  await client?.connection.close();
  await Promise.all(services.map((s) => s.cleanup()));
});

describe('JSON API authentication', () => {
  test('without a token, with a wrong token, or a malformed header → 401 on every route; nothing started', async () => {
    const name = unique('api-unauth');
    const body = { runbook: 'serviceRestart', input: { mode: 'plan', service: name } };
    const routes: [string, string, unknown?][] = [
      ['POST', '/api/runs', body],
      ['GET', '/api/runs'],
      ['GET', `/api/runs/${encodeURIComponent(restartWorkflowId(name))}`],
      ['POST', `/api/runs/${encodeURIComponent(restartWorkflowId(name))}/approve`, { decision: 'approve' }],
    ];
    for (const [method, path, payload] of routes) {
      for (const token of [undefined, 'wrong-token', `${DEPLOY}x`, '']) {
        const res = await api(chat.url, method, path, token, payload);
        assert.equal(res.status, 401, `${method} ${path} with token ${JSON.stringify(token)}`);
        assert.match(res.body.error, token ? /invalid token/ : /missing bearer token/);
      }
    }
    const basic = await fetch(`${chat.url}/api/runs`, { headers: { authorization: `Basic ${Buffer.from(`x:${DEPLOY}`).toString('base64')}` } });
    assert.equal(basic.status, 401);
    assert.equal(basic.headers.get('www-authenticate'), 'Bearer');
    assert.ok(await neverStarted(client, restartWorkflowId(name)));
    assert.ok(chat.logs.some((l) => l.msg === 'chatops: API request refused' && l.reason === 'unknown token'));
  });
});

describe('JSON API runs', () => {
  test('start → 201; status; list shows origin "api" and TriggeredBy = api:<token name>; approvals by rule; the run completes', async () => {
    const { service, pid } = await runningService('api-web');
    const started = await api(chat.url, 'POST', '/api/runs', DEPLOY, { runbook: 'serviceRestart', input: restartInput(service) });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const workflowId = restartWorkflowId(service.spec.name);
    assert.equal(started.body.workflowId, workflowId);
    assert.equal(started.body.target, workflowId.slice('serviceRestart:'.length));
    assert.equal(started.body.url, workflowUrl(config, workflowId));

    const path = `/api/runs/${encodeURIComponent(workflowId)}`;
    const awaiting = await waitFor('the run to await approval', async () => {
      const res = await api(chat.url, 'GET', path, DEPLOY);
      return res.status === 200 && res.body.outcome === 'AwaitingApproval' ? res.body : undefined;
    });
    assert.equal(awaiting.status, 'RUNNING');
    assert.equal(awaiting.triggeredBy, 'api:deploy-bot');
    assert.equal(awaiting.mode, 'apply');
    assert.ok(awaiting.plan.actions.length > 0);
    assert.match(awaiting.planDigest, /^[0-9a-f]{64}$/);

    // With a webhook configured, API starts are followed too: first the approval request with buttons.
    await webhook.waitForPost(webhook.url('/webhook'), 'the approval request on the webhook', (m) => m.blocks?.some((b: any) => b.type === 'actions') && m.text.includes(service.spec.name));

    const again = await api(chat.url, 'POST', '/api/runs', DEPLOY, { runbook: 'serviceRestart', input: restartInput(service) });
    assert.equal(again.status, 409);
    assert.equal(again.body.error, `already running: ${workflowId}`);

    const listed = await waitFor('the run in the list', async () => {
      const res = await api(chat.url, 'GET', `/api/runs?runbook=serviceRestart&triggeredBy=api:deploy-bot&status=AwaitingApproval&limit=10`, REVIEWER);
      assert.equal(res.status, 200);
      return (res.body.runs as RunSummary[]).find((r) => r.workflowId === workflowId);
    });
    assert.equal(listed.origin, 'api');
    assert.equal(listed.triggeredBy, 'api:deploy-bot');
    assert.equal(listed.target, awaiting.target);

    const self = await api(chat.url, 'POST', `${path}/approve`, DEPLOY, { decision: 'approve', planDigest: awaiting.planDigest });
    assert.equal(self.status, 409, 'deploy-bot may approve, but not its own run');
    assert.match(self.body.error, /self-approval refused: api:deploy-bot requested this run/);
    const undigested = await api(chat.url, 'POST', `${path}/approve`, REVIEWER, { decision: 'approve' });
    assert.equal(undigested.status, 400, 'an approval names the plan it approves');
    assert.match(undigested.body.error, /^invalid request: planDigest: is required/);
    const narrow = await api(chat.url, 'POST', `${path}/approve`, NARROW, { decision: 'approve', planDigest: awaiting.planDigest });
    assert.equal(narrow.status, 403);
    assert.equal(narrow.body.error, 'api:narrow-bot has no role that may approve runs');
    const stale = await api(chat.url, 'POST', `${path}/approve`, REVIEWER, { decision: 'approve', planDigest: 'deadbeef' });
    assert.equal(stale.status, 409);
    assert.match(stale.body.error, /stale plan: digest deadbeef/);
    assert.equal(await servingPid(service), pid, 'nothing changed before approval');

    const approved = await api(chat.url, 'POST', `${path}/approve`, REVIEWER, { decision: 'approve', planDigest: awaiting.planDigest, comment: 'ok' });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.equal(approved.body.approver, 'api:review-bot');
    assert.equal(approved.body.planDigest, awaiting.planDigest);

    const done = await waitFor('the run to close', async () => {
      const res = await api(chat.url, 'GET', path, DEPLOY);
      return res.body.status !== 'RUNNING' ? res.body : undefined;
    });
    assert.equal(done.status, 'COMPLETED');
    assert.equal(done.outcome, 'Succeeded');
    assert.equal(done.approval.approver, 'api:review-bot');
    assert.notEqual(await servingPid(service), pid);

    const late = await api(chat.url, 'POST', `${path}/approve`, REVIEWER, { decision: 'approve', planDigest: awaiting.planDigest });
    assert.equal(late.status, 409);
    assert.match(late.body.error, /not awaiting approval/);

    // … then the report.
    const hook = webhook.url('/webhook');
    const report = await webhook.waitForPost(hook, 'the report on the webhook', (m) => m.text.includes(service.spec.name) && /Succeeded/.test(m.text));
    assert.ok(report.text.includes(workflowUrl(config, workflowId)));
  });

  test('approval=auto only with a start rule granting "auto"', async () => {
    const { service, pid } = await runningService('api-auto');
    const input = restartInput(service, { approval: 'auto' });
    const refused = await api(chat.url, 'POST', '/api/runs', DEPLOY, { runbook: 'serviceRestart', input });
    assert.equal(refused.status, 403);
    assert.match(refused.body.error, /approval=auto/);
    assert.ok(await neverStarted(client, restartWorkflowId(service.spec.name)));

    const started = await api(chat.url, 'POST', '/api/runs', AUTO, { runbook: 'serviceRestart', input });
    assert.equal(started.status, 201);
    const done = await waitFor('the auto run to close', async () => {
      const res = await api(chat.url, 'GET', `/api/runs/${encodeURIComponent(started.body.workflowId)}`, AUTO);
      return res.body.status !== 'RUNNING' ? res.body : undefined;
    });
    assert.equal(done.outcome, 'Succeeded');
    assert.equal(done.triggeredBy, 'api:auto-bot');
    assert.notEqual(await servingPid(service), pid);
  });

  test('a token whose roles do not cover the target → 403, logged, nothing started', async () => {
    const name = unique('api-narrow');
    const res = await api(chat.url, 'POST', '/api/runs', NARROW, { runbook: 'serviceRestart', input: { mode: 'plan', service: name } });
    assert.equal(res.status, 403);
    const target = restartWorkflowId(name).slice('serviceRestart:'.length);
    assert.equal(res.body.error, `api:narrow-bot may not start serviceRestart on target ${target}`);
    const line = chat.logs.find((l) => l.msg === 'chatops: start refused' && l.userId === 'api:narrow-bot');
    assert.equal(line?.target, target);
    assert.equal(line?.origin, 'api');
    assert.ok(await neverStarted(client, `serviceRestart:${target}`));
  });

  test('bad requests → 400 naming the problem; unknown runs → 404', async () => {
    const bad = async (body: unknown, expected: RegExp) => {
      const res = await api(chat.url, 'POST', '/api/runs', DEPLOY, body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(res.body.error, expected);
    };
    await bad({ runbook: 'dropTables', input: {} }, /unknown runbook "dropTables"/);
    await bad({ runbook: 'serviceRestart', input: { service: { adapter: 'exec', name: 'api-x', start: ['node'], pidFile: '/tmp/x.pid' } } }, /^service must name a service declared in the host's services file/);
    await bad({ runbook: 'serviceRestart', input: { service: 'api-x', waitDownSeconds: 0 } }, /invalid serviceRestart input: waitDownSeconds: /);
    await bad({ runbook: 'serviceRestart', input: { requestedBy: 'someone-else', service: 'api-x' } }, /requestedBy cannot be set/);
    await bad({ input: {} }, /invalid request: runbook: name a runbook or a preset/);
    await bad([1, 2], /invalid request/);
    const list = await api(chat.url, 'GET', '/api/runs?since=yesterday', DEPLOY);
    assert.equal(list.status, 400);
    assert.match(list.body.error, /since: must be an ISO date/);
    const quote = await api(chat.url, 'GET', `/api/runs?target=${encodeURIComponent('x" OR "1"="1')}`, DEPLOY);
    assert.equal(quote.status, 400);
    const decision = await api(chat.url, 'POST', '/api/runs/x/approve', REVIEWER, { decision: 'maybe' });
    assert.equal(decision.status, 400);
    assert.match(decision.body.error, /decision/);

    const missing = `serviceRestart:nowhere/${unique('api-none')}`;
    assert.equal((await api(chat.url, 'GET', `/api/runs/${encodeURIComponent(missing)}`, DEPLOY)).status, 404);
    assert.equal((await api(chat.url, 'POST', `/api/runs/${encodeURIComponent(missing)}/approve`, REVIEWER, { decision: 'approve', planDigest: 'a'.repeat(64) })).status, 404);
  });
});
