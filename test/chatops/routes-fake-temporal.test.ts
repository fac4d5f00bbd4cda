// A FAKE Temporal client (named in the file name): the routes' rules without a worker; a stand-in client records exactly what would have been
// sent (start input, approve Update), so each test sees what reached Temporal, and what did not.
// Presets lock fields, reads need a role, identities are namespaced, error bodies carry a reason
// (an internal error only its log id), and the service's own key signs what it forwards.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseRolesFile, parseTokensFile, sha256Hex } from '../../src/chatops/access';
import type { ChatConfig } from '../../src/chatops/server';
import { sshSigner } from '../../src/chatops/signer';
import { RefusedError } from '../../src/client';
import { verifyStatement } from '../../src/trust/sshsig';
import { inputDigest } from '../../src/trust/statements';
import { SECRET, signedHeaders } from './harness';
import { StubTemporal, stubChatOps, type StubbedChatOps } from './stub-temporal';

const DEPLOY = 'deploy-token-0b7e3c';
const REVIEWER = 'reviewer-token-41aa9d';
const FREE = 'free-token-77c2e1';
const ALICE_BOT = 'alice-token-5d1e0a';

export const roles = parseRolesFile({
  users: {
    UALICE: { name: 'alice', roles: ['operator', 'approver'] },
    UBOB: { name: 'bob', roles: ['approver', 'reader'] },
  },
  roles: {
    operator: { start: [{ runbook: 'serviceRestart', targets: ['*/demo-*'] }] },
    free: { start: [{ runbook: 'serviceRestart', targets: ['*/dev-*'], freeInput: true }] },
    approver: { approve: [{ runbook: '*', targets: ['*/demo-*'] }] },
    reader: { read: [{ runbook: 'serviceRestart', targets: ['*/demo-*', '*/dev-*'] }] },
  },
  presets: {
    'demo-api': { runbook: 'serviceRestart', input: { service: 'demo-api' }, open: ['waitHealthySeconds'] },
  },
});

export const tokens = parseTokensFile(
  {
    tokens: [
      { token_sha256: sha256Hex(DEPLOY), name: 'deploy-bot', roles: ['operator', 'reader'] },
      { token_sha256: sha256Hex(REVIEWER), name: 'review-bot', roles: ['approver'] },
      { token_sha256: sha256Hex(FREE), name: 'free-bot', roles: ['free', 'reader'] },
      { token_sha256: sha256Hex(ALICE_BOT), name: 'alice', roles: ['approver'] },
    ],
  },
  roles,
);

const host = hostname();
const wf = (name: string) => `serviceRestart:${host}/${name}`;

async function chatOps(extra: Partial<ChatConfig> = {}, temporal = new StubTemporal()): Promise<StubbedChatOps> {
  return stubChatOps({ roles, tokens, signingSecret: SECRET, ...extra }, temporal);
}

async function slash(c: StubbedChatOps, userId: string, text: string) {
  const body = new URLSearchParams({ user_id: userId, text, command: '/runbook' }).toString();
  const res = await c.app.inject({ method: 'POST', url: '/slack/commands', headers: signedHeaders(body), payload: body });
  return { status: res.statusCode, body: JSON.parse(res.body) };
}

describe('presets lock fields', () => {
  test('API: a preset with an open key starts as api:<token name>; a fixed key is refused naming key and preset, nothing sent', async () => {
    const c = await chatOps();
    const ok = await c.request('POST', '/api/runs', { token: DEPLOY, body: { preset: 'demo-api', input: { waitHealthySeconds: 30, mode: 'apply' } } });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.body.workflowId, wf('demo-api'));
    const [start] = c.temporal.starts;
    assert.equal(start!.input.requestedBy, 'api:deploy-bot');
    assert.equal(start!.input.service, 'demo-api');
    assert.equal(start!.input.waitHealthySeconds, 30);
    assert.deepEqual(start!.memo, { origin: 'api', requestedBy: 'api:deploy-bot' });

    const calls = c.temporal.calls.length;
    const fixed = await c.request('POST', '/api/runs', { token: DEPLOY, body: { preset: 'demo-api', input: { service: 'other-api' } } });
    assert.equal(fixed.status, 400);
    assert.deepEqual(fixed.body, { error: '`service` is fixed by preset @demo-api; open keys: waitHealthySeconds' });
    assert.equal(c.temporal.calls.length, calls, 'nothing reached Temporal');
    await c.app.close();
  });

  test('chat: open keys merge, fixed keys are refused in a reply naming them; the run is requested by slack:<user ID>', async () => {
    const c = await chatOps();
    const ok = await slash(c, 'UALICE', '@demo-api waitHealthySeconds=45 --plan');
    assert.equal(ok.status, 200);
    assert.match(ok.body.text, /^alice \(slack:UALICE\) started serviceRestart \(plan\) on /);
    assert.equal(c.temporal.starts[0]!.input.requestedBy, 'slack:UALICE');
    assert.equal(c.temporal.starts[0]!.input.waitHealthySeconds, 45);
    const smuggled = await slash(c, 'UALICE', '@demo-api service.start=["/bin/sh","-c","id"]');
    assert.equal(smuggled.status, 200);
    assert.equal(smuggled.body.text, '`service.start` is fixed by preset @demo-api; open keys: waitHealthySeconds\nnothing was started');
    assert.equal(c.temporal.starts.length, 1);
    await c.app.close();
  });

  test('without a preset only a rule granting freeInput starts; the refusal comes before the input is read', async () => {
    const c = await chatOps();
    const refused = await c.request('POST', '/api/runs', { token: DEPLOY, body: { runbook: 'serviceRestart', input: { service: 'demo-api' } } });
    assert.equal(refused.status, 403);
    assert.match(refused.body.error, /^api:deploy-bot may start serviceRestart only with a preset \(no start rule grants "freeInput"\)/);
    const chat = await slash(c, 'UALICE', 'serviceRestart service=demo-api');
    assert.equal(chat.status, 403);
    assert.match(chat.body.text, /only with a preset/);
    assert.deepEqual(c.temporal.calls, []);
    const free = await c.request('POST', '/api/runs', { token: FREE, body: { runbook: 'serviceRestart', input: { service: 'dev-api' } } });
    assert.equal(free.status, 201, free.text);
    assert.equal(c.temporal.starts[0]!.input.requestedBy, 'api:free-bot');
    await c.app.close();
  });
});

describe('reading runs needs a role', () => {
  test('a token without a read rule gets 403 and nothing about the run; Temporal is not even asked', async () => {
    const temporal = new StubTemporal();
    temporal.runs.set(wf('demo-api'), { runbook: 'serviceRestart', target: `${host}/demo-api`, outcome: 'AwaitingApproval', triggeredBy: 'slack:UALICE' });
    const c = await chatOps({}, temporal);
    for (const path of [`/api/runs/${encodeURIComponent(wf('demo-api'))}`, `/api/runs/${encodeURIComponent(wf('nonexistent'))}`, '/api/runs', '/api/runs?runbook=serviceRestart']) {
      const res = await c.request('GET', path, { token: REVIEWER });
      assert.equal(res.status, 403, path);
      assert.deepEqual(res.body, { error: 'api:review-bot has no role that may read runs' }, 'the same answer whether the run exists or not');
    }
    assert.deepEqual(temporal.calls, []);
    assert.ok(c.logs.some((l) => l.msg === 'chatops: read refused' && l.userId === 'api:review-bot'));
    await c.app.close();
  });

  test('a reader sees runs of its targets only: others are 403 without their runbook or target, and left out of lists', async () => {
    const temporal = new StubTemporal();
    temporal.runs.set(wf('demo-api'), { runbook: 'serviceRestart', target: `${host}/demo-api`, triggeredBy: 'slack:UALICE' });
    temporal.runs.set('lanceRestore:db1/lance:/srv/secret.lance', { runbook: 'lanceRestore', target: 'db1/lance:/srv/secret.lance', status: 'COMPLETED' });
    const c = await chatOps({}, temporal);
    const ok = await c.request('GET', `/api/runs/${encodeURIComponent(wf('demo-api'))}`, { token: DEPLOY });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.target, `${host}/demo-api`);
    const other = await c.request('GET', `/api/runs/${encodeURIComponent('lanceRestore:db1/lance:/srv/secret.lance')}`, { token: DEPLOY });
    assert.equal(other.status, 403);
    assert.deepEqual(other.body, { error: 'api:deploy-bot may not read run lanceRestore:db1/lance:/srv/secret.lance' });
    const list = await c.request('GET', '/api/runs', { token: DEPLOY });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.runs.map((r: { workflowId: string }) => r.workflowId), [wf('demo-api')]);
    await c.app.close();
  });
});

describe('namespaced identities', () => {
  test('a token named "alice" approves as api:alice, never as alice or slack:UALICE', async () => {
    const temporal = new StubTemporal();
    temporal.runs.set(wf('demo-api'), { runbook: 'serviceRestart', target: `${host}/demo-api`, triggeredBy: 'slack:UALICE' });
    const c = await chatOps({}, temporal);
    const res = await c.request('POST', `/api/runs/${encodeURIComponent(wf('demo-api'))}/approve`, { token: ALICE_BOT, body: { decision: 'approve', planDigest: 'd'.repeat(64) } });
    assert.equal(res.status, 200, res.text);
    assert.equal(temporal.updates[0]!.args.approver, 'api:alice');
    await c.app.close();
  });

  test('a principal without any approve rule is refused before the run is looked at', async () => {
    const c = await chatOps();
    const res = await c.request('POST', `/api/runs/${encodeURIComponent(wf('nonexistent'))}/approve`, { token: FREE, body: { decision: 'approve', planDigest: 'x' } });
    assert.equal(res.status, 403);
    assert.equal(res.body.error, 'api:free-bot has no role that may approve runs');
    assert.deepEqual(c.temporal.calls, []);
    await c.app.close();
  });
});

describe('error bodies', () => {
  const hostPath = '/var/lib/runbooks-secret/state';

  test('an internal error answers "internal error (logged as <id>)": no message, stack or path; the log has it under that id', async () => {
    const temporal = new StubTemporal();
    temporal.failWith = new Error(`EACCES: permission denied, open '${hostPath}/runs.json'`);
    const c = await chatOps({}, temporal);
    const res = await c.request('GET', `/api/runs/${encodeURIComponent(wf('demo-api'))}`, { token: DEPLOY });
    assert.equal(res.status, 500);
    const id = /^internal error \(logged as ([0-9a-f]{8})\)$/.exec(res.body.error)?.[1];
    assert.ok(id, res.text);
    assert.deepEqual(Object.keys(res.body), ['error']);
    assert.ok(!res.text.includes('/var/lib') && !res.text.includes('EACCES') && !res.text.includes(' at '), res.text);
    const line = c.logs.find((l) => l.errorId === id);
    assert.match(String((line?.err as { message?: string })?.message), /EACCES/);

    const chat = await slash(c, 'UALICE', '@demo-api');
    assert.equal(chat.status, 200, 'Slack shows any other status as a bare failure');
    assert.match(chat.body.text, /^chatops error: internal error \(logged as [0-9a-f]{8}\)$/);
    await c.app.close();
  });

  test('paths this host configured are scrubbed from any error body, even a known error\'s reason', async () => {
    const temporal = new StubTemporal();
    temporal.failWith = new RefusedError(`refused by ${hostPath}/roles.json`);
    const c = await chatOps({ hostPaths: [hostPath] }, temporal);
    const res = await c.request('GET', `/api/runs/${encodeURIComponent(wf('demo-api'))}`, { token: DEPLOY });
    assert.equal(res.status, 409);
    assert.equal(res.body.error, 'refused by <host path>/roles.json');
    await c.app.close();
  });

  test('client errors in our words: huge, non-JSON, empty and wrongly typed bodies; unknown routes', async () => {
    const c = await chatOps();
    const big = await c.request('POST', '/api/runs', { token: DEPLOY, raw: JSON.stringify({ preset: 'demo-api', input: { pad: 'x'.repeat(1024 * 1024) } }) });
    assert.deepEqual([big.status, big.body], [413, { error: 'request body too large (limit 1 MiB)' }]);
    const notJson = await c.request('POST', '/api/runs', { token: DEPLOY, raw: '{"preset": "demo-api",' });
    assert.deepEqual([notJson.status, notJson.body], [400, { error: 'body is not valid JSON' }]);
    const empty = await c.request('POST', '/api/runs', { token: DEPLOY, raw: '' });
    assert.equal(empty.status, 400);
    const text = await c.request('POST', '/api/runs', { token: DEPLOY, raw: 'preset=demo-api', contentType: 'text/plain' });
    assert.equal(text.status, 415);
    assert.match(text.body.error, /^unsupported content type/);
    const route = await c.request('GET', '/api/../../etc/passwd', { token: DEPLOY });
    assert.equal(route.status, 404);
    assert.deepEqual(c.temporal.calls, []);
    await c.app.close();
  });
});

describe('the service signs what it forwards', () => {
  let dir: string;
  let key: string;
  let allowedSigners: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chatops-key-'));
    key = join(dir, 'chatops_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'chatops', '-f', key]);
    allowedSigners = join(dir, 'allowed_signers');
    await writeFile(allowedSigners, `chatops namespaces="runbook-approval" ${(await readFile(`${key}.pub`, 'utf8')).trim()}\n`);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  test('a start carries request {signature, at} over the RequestStatement of api:<name>; an approval its signature for the approver', async () => {
    const c = await chatOps({ signer: sshSigner(key) });
    assert.ok(!c.logs.some((l) => /CHATOPS_SIGNING_KEY is not set/.test(l.msg)));
    const started = await c.request('POST', '/api/runs', { token: DEPLOY, body: { preset: 'demo-api', input: { mode: 'apply' } } });
    assert.equal(started.status, 201, started.text);
    const { input, workflowId } = c.temporal.starts[0]!;
    const { request, ...signed } = input;
    assert.ok(request?.signature && request.at, 'the input carries the signed request');
    const verified = await verifyStatement(allowedSigners, { kind: 'request', workflowId, runbook: 'serviceRestart', inputDigest: inputDigest(signed), requestedBy: 'api:deploy-bot', at: request.at }, request.signature);
    assert.equal(verified.signer, 'chatops');
    await assert.rejects(verifyStatement(allowedSigners, { kind: 'request', workflowId, runbook: 'serviceRestart', inputDigest: inputDigest({ ...signed, waitHealthySeconds: 1 }), requestedBy: 'api:deploy-bot', at: request.at }, request.signature), 'the signature binds the input');

    const approved = await c.request('POST', `/api/runs/${encodeURIComponent(workflowId)}/approve`, { token: REVIEWER, body: { decision: 'approve', planDigest: 'd'.repeat(64) } });
    assert.equal(approved.status, 200, approved.text);
    const update = c.temporal.updates[0]!;
    const statement = { kind: 'approval' as const, workflowId, runId: update.args.runId, digest: 'd'.repeat(64), decision: 'approve' as const, approver: 'api:review-bot' };
    assert.equal((await verifyStatement(allowedSigners, statement, update.args.signature)).signer, 'chatops');
    await assert.rejects(verifyStatement(allowedSigners, { ...statement, approver: 'slack:UBOB' }, update.args.signature), 'the signature binds the approver');
    await c.app.close();
  });

  test('without a key: a warning at start, and requests and approvals go unsigned', async () => {
    const temporal = new StubTemporal();
    temporal.runs.set(wf('demo-api'), { runbook: 'serviceRestart', target: `${host}/demo-api` });
    const c = await chatOps({}, temporal);
    assert.ok(c.logs.some((l) => l.level === 40 && /CHATOPS_SIGNING_KEY is not set: approvals and starts are forwarded unsigned/.test(l.msg)));
    await c.request('POST', `/api/runs/${encodeURIComponent(wf('demo-api'))}/approve`, { token: REVIEWER, body: { decision: 'reject', planDigest: 'x' } });
    assert.equal(temporal.updates[0]!.args.signature, undefined);
    await c.app.close();
  });

  test('a key that cannot be used: 500 with a log id, the key path nowhere in the body, nothing forwarded', async () => {
    const temporal = new StubTemporal();
    temporal.runs.set(wf('demo-api'), { runbook: 'serviceRestart', target: `${host}/demo-api` });
    const missing = join(dir, 'gone', 'chatops_ed25519');
    const c = await chatOps({ signer: sshSigner(missing) }, temporal);
    const res = await c.request('POST', `/api/runs/${encodeURIComponent(wf('demo-api'))}/approve`, { token: REVIEWER, body: { decision: 'approve', planDigest: 'x' } });
    assert.equal(res.status, 500);
    assert.match(res.body.error, /^internal error \(logged as [0-9a-f]{8}\)$/);
    assert.ok(!res.text.includes(dir), res.text);
    assert.deepEqual(temporal.updates, []);
    const started = await c.request('POST', '/api/runs', { token: DEPLOY, body: { preset: 'demo-api', input: { waitHealthySeconds: 5 } } });
    assert.equal(started.status, 500);
    assert.deepEqual(temporal.starts, []);
    await c.app.close();
  });
});
