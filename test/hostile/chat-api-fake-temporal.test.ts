// Hostile chat commands and API requests. The chat service runs on a stand-in Temporal client that
// records what would have been sent, so each case proves the refusal happened in the chat layer:
// no start and no approve Update reached Temporal. Each case also runs inside sandbox.ts's
// expectUntouched: the argv, env and paths the attacker smuggles point into the sandbox and carry
// its marker, and afterwards both trees hash the same, nothing appeared, and no process carrying
// the marker was started or the sentinel signalled.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { parseRolesFile, parseTokensFile, sha256Hex } from '../../src/chatops/access';
import { SECRET, signedHeaders } from '../chatops/harness';
import { StubTemporal, stubChatOps, type StubbedChatOps } from '../chatops/stub-temporal';
import { expectUntouched, makeSandbox, type Sandbox } from './sandbox';

const DEPLOY = 'hostile-deploy-token-1';
const FREE = 'hostile-free-token-2';
const AUDITOR = 'hostile-auditor-token-3';
const ALICE_BOT = 'hostile-alice-token-4';
const host = hostname();
const demoRun = `serviceRestart:${host}/demo-api`;

const roles = parseRolesFile({
  users: { UALICE: { name: 'alice', roles: ['operator', 'approver', 'reader'] } },
  roles: {
    operator: { start: [{ runbook: 'serviceRestart', targets: ['*/demo-*'] }] },
    free: { start: [{ runbook: 'serviceRestart', targets: ['*/dev-*'], freeInput: true }] },
    approver: { approve: [{ runbook: '*', targets: ['*/demo-*'] }] },
    reader: { read: [{ runbook: 'serviceRestart', targets: ['*/demo-*'] }] },
  },
  presets: { 'demo-api': { runbook: 'serviceRestart', input: { service: 'demo-api' }, open: ['waitHealthySeconds', 'approvalTimeout'] } },
});
const tokens = parseTokensFile(
  {
    tokens: [
      { token_sha256: sha256Hex(DEPLOY), name: 'deploy-bot', roles: ['operator', 'reader'] },
      { token_sha256: sha256Hex(FREE), name: 'free-bot', roles: ['free'] },
      { token_sha256: sha256Hex(AUDITOR), name: 'auditor', roles: ['approver'] },
      { token_sha256: sha256Hex(ALICE_BOT), name: 'alice', roles: ['approver'] },
    ],
  },
  roles,
);

let sb: Sandbox;
let temporal: StubTemporal;
let chat: StubbedChatOps;

before(async () => {
  sb = await makeSandbox('chat-api');
  temporal = new StubTemporal();
  // A run awaiting approval, requested by alice from chat: the target of approval and read cases.
  temporal.runs.set(demoRun, { runbook: 'serviceRestart', target: `${host}/demo-api`, outcome: 'AwaitingApproval', triggeredBy: 'slack:UALICE' });
  chat = await stubChatOps({ roles, tokens, signingSecret: SECRET, hostPaths: [sb.root] }, temporal);
});
after(async () => {
  await chat?.app.close();
  await sb?.cleanup();
});

/** argv that would leave a file named after the marker outside the sandbox, and keep a process alive. */
const argv = () => ['/bin/sh', '-c', `touch ${sb.outside}/${sb.marker}; exec sleep 30 ${sb.marker}`];

/** Runs a case and proves nothing moved: sandbox untouched, nothing forwarded to Temporal. */
async function hostile<T>(run: () => Promise<T>): Promise<T> {
  const before = { starts: temporal.starts.length, updates: temporal.updates.length };
  const result = await expectUntouched(sb, run);
  assert.equal(temporal.starts.length, before.starts, 'a run was started');
  assert.equal(temporal.updates.length, before.updates, 'an approval was forwarded');
  return result;
}

const post = (body: unknown, token = DEPLOY) => chat.request('POST', '/api/runs', { token, body });

async function slash(userId: string, text: string) {
  const body = new URLSearchParams({ user_id: userId, text, command: '/runbook' }).toString();
  const res = await chat.app.inject({ method: 'POST', url: '/slack/commands', headers: signedHeaders(body), payload: body });
  return { status: res.statusCode, body: JSON.parse(res.body) as { text?: string; error?: string } };
}

describe('hostile chat and API input: locked preset keys', () => {
  it('API overrides a fixed key of the preset → 400 naming key and preset', async () => {
    const res = await hostile(() => post({ preset: 'demo-api', input: { service: 'prod-db' } }));
    assert.deepEqual([res.status, res.body], [400, { error: '`service` is fixed by preset @demo-api; open keys: waitHealthySeconds, approvalTimeout' }]);
  });

  it('chat smuggles argv through the dotted key service.start → refused as a fixed key', async () => {
    const res = await hostile(() => slash('UALICE', `@demo-api service.start=${JSON.stringify(argv())}`));
    assert.equal(res.body.text, '`service.start` is fixed by preset @demo-api; open keys: waitHealthySeconds, approvalTimeout\nnothing was started');
  });

  it('chat smuggles env through service.env.LD_PRELOAD → refused as a fixed key', async () => {
    const res = await hostile(() => slash('UALICE', `@demo-api service.env.LD_PRELOAD=${sb.root}/evil.so`));
    assert.match(res.body.text!, /^`service\.env\.LD_PRELOAD` is fixed by preset @demo-api/);
  });

  it('API nests argv under the fixed key → refused at the path it writes', async () => {
    const res = await hostile(() => post({ preset: 'demo-api', input: { waitHealthySeconds: 5, service: { start: argv(), cwd: sb.outside } } }));
    assert.equal(res.status, 400);
    assert.match(res.body.error, /^`service\.start` is fixed by preset @demo-api/);
  });

  it('API hides a path in one JSON key with a dot ("service.start") → not an input key', async () => {
    const res = await hostile(() => post({ preset: 'demo-api', input: { 'waitHealthySeconds.start': argv() } }));
    assert.deepEqual([res.status, res.body], [400, { error: '`waitHealthySeconds.start` is not an input key (letters, digits, _ and -, dotted)' }]);
  });

  it('chat and API reach for the prototype (__proto__) → refused, nothing merged', async () => {
    const typed = await hostile(() => slash('UALICE', '@demo-api __proto__.service=prod-db'));
    assert.match(typed.body.text!, /`__proto__\.service` is not a key/);
    const res = await hostile(() => chat.request('POST', '/api/runs', { token: DEPLOY, raw: '{"preset":"demo-api","input":{"__proto__":{"service":"prod-db"}}}' }));
    assert.equal(res.status, 400);
    assert.equal(({} as Record<string, unknown>).service, undefined, 'Object.prototype untouched');
  });
});

describe('hostile chat and API input: free input and reserved keys', () => {
  it('a free-input token sends an inline service spec with argv → refused whatever the worker allows', async () => {
    const res = await hostile(() => post({ runbook: 'serviceRestart', input: { service: { adapter: 'exec', name: 'dev-x', start: argv(), pidFile: `${sb.root}/x.pid` } } }, FREE));
    assert.equal(res.status, 400);
    assert.match(res.body.error, /^service must name a service declared in the host's services file/);
  });

  it('a free-input token adds env and cwd beside a declared service → refused by name, not silently dropped', async () => {
    const res = await hostile(() => post({ runbook: 'serviceRestart', input: { service: 'dev-api', env: { NODE_OPTIONS: `--require ${sb.root}/x.js` }, cwd: sb.outside } }, FREE));
    assert.equal(res.status, 400);
    assert.match(res.body.error, /^`env` is not an input of serviceRestart; its inputs: /);
  });

  it('free input without a rule granting it → 403 before the input is read', async () => {
    const res = await hostile(() => post({ runbook: 'serviceRestart', input: { service: 'demo-api' } }));
    assert.deepEqual([res.status, res.body], [403, { error: 'api:deploy-bot may start serviceRestart only with a preset (no start rule grants "freeInput"); name one with @preset' }]);
  });

  it('requestedBy and a forged request signature from the caller → 400', async () => {
    const by = await hostile(() => post({ preset: 'demo-api', input: { requestedBy: 'slack:UBOB' } }));
    assert.match(by.body.error, /^requestedBy cannot be set/);
    const forged = await hostile(() => post({ preset: 'demo-api', input: { request: { signature: '-----BEGIN SSH SIGNATURE-----', at: new Date().toISOString() } } }));
    assert.match(forged.body.error, /^request cannot be set: the chat service signs the request itself/);
  });

  it('approvalTimeout above the bound (open in the preset) → 400 naming the bound', async () => {
    const res = await hostile(() => post({ preset: 'demo-api', input: { mode: 'apply', approvalTimeout: '999999999d' } }));
    assert.equal(res.status, 400);
    assert.match(res.body.error, /approvalTimeout: must be at most/);
  });

  it('approval=auto without a rule granting auto → 403', async () => {
    const res = await hostile(() => slash('UALICE', '@demo-api approval=auto'));
    assert.equal(res.status, 403);
    assert.match(res.body.text!, /approval=auto/);
  });
});

describe('hostile chat and API input: identities', () => {
  it('a tokens file naming a token like a chat user or an unverified identity is refused at load', async () => {
    for (const name of ['slack:UALICE', 'unverified:alice', 'api:alice']) {
      assert.throws(() => parseTokensFile({ tokens: [{ token_sha256: sha256Hex('x'), name, roles: [] }] }, roles, 'tokens.json'), /tokens\.0\.name: must be a simple name/);
    }
  });

  it('a token named "alice" approves as api:alice: never as alice, never as slack:UALICE', async () => {
    await expectUntouched(sb, () => chat.request('POST', `/api/runs/${encodeURIComponent(demoRun)}/approve`, { token: ALICE_BOT, body: { decision: 'reject', planDigest: 'd'.repeat(64) } }));
    const update = temporal.updates.at(-1)!;
    assert.equal(update.args.approver, 'api:alice');
  });

  it('a Slack user ID that claims a namespace (slack:UALICE, api:deploy-bot) is an unknown user → 403', async () => {
    for (const userId of ['slack:UALICE', 'api:deploy-bot', 'ualice']) {
      const res = await hostile(() => slash(userId, '@demo-api'));
      assert.equal(res.status, 403, userId);
      assert.match(res.body.text!, /refused: unknown user slack:/);
    }
  });

  it('auto on every target is refused in the roles file', () => {
    assert.throws(() => parseRolesFile({ users: {}, roles: { r: { start: [{ runbook: '*', targets: ['*'], auto: true }] } } }), /matches every target/);
  });
});

describe('hostile chat and API input: reads, bodies and error answers', () => {
  it('reading a run without a read role → 403, nothing about the run, Temporal not asked', async () => {
    const calls = temporal.calls.length;
    const res = await hostile(() => chat.request('GET', `/api/runs/${encodeURIComponent(demoRun)}`, { token: AUDITOR }));
    assert.deepEqual([res.status, res.body], [403, { error: 'api:auditor has no role that may read runs' }]);
    const list = await hostile(() => chat.request('GET', '/api/runs?limit=1000', { token: AUDITOR }));
    assert.equal(list.status, 403);
    assert.equal(temporal.calls.length, calls);
  });

  it('a huge body (over 1 MiB) → 413 in our words', async () => {
    const res = await hostile(() => chat.request('POST', '/api/runs', { token: DEPLOY, raw: JSON.stringify({ preset: 'demo-api', input: { waitHealthySeconds: 5, pad: 'A'.repeat(2 * 1024 * 1024) } }) }));
    assert.deepEqual([res.status, res.body], [413, { error: 'request body too large (limit 1 MiB)' }]);
  });

  it('non-JSON bodies → 400 or 415, never the parser\'s text', async () => {
    const broken = await hostile(() => chat.request('POST', '/api/runs', { token: DEPLOY, raw: `{"preset": "demo-api", "input": ${sb.root}` }));
    assert.deepEqual([broken.status, broken.body], [400, { error: 'body is not valid JSON' }]);
    const xml = await hostile(() => chat.request('POST', '/api/runs', { token: DEPLOY, raw: '<run preset="demo-api"/>', contentType: 'application/xml' }));
    assert.equal(xml.status, 415);
  });

  it('a list query with quotes (a visibility-query injection) → 400', async () => {
    const res = await hostile(() => chat.request('GET', `/api/runs?target=${encodeURIComponent('x" OR RunbookName != "')}`, { token: DEPLOY }));
    assert.equal(res.status, 400);
    assert.match(res.body.error, /must not contain quotes/);
  });

  it('an oversized plan digest in an approval → 400', async () => {
    const res = await hostile(() => chat.request('POST', `/api/runs/${encodeURIComponent(demoRun)}/approve`, { token: AUDITOR, body: { decision: 'approve', planDigest: 'f'.repeat(10_000) } }));
    assert.equal(res.status, 400);
    assert.match(res.body.error, /^invalid request: planDigest: /);
  });

  it('an internal error whose message names host paths → 500 with a log id only, in the API and in chat', async () => {
    temporal.failWith = new Error(`ENOENT: no such file or directory, open '${sb.root}/state/runs.json'\n    at readFile (node:fs:1)`);
    try {
      const res = await hostile(() => chat.request('GET', `/api/runs/${encodeURIComponent(demoRun)}`, { token: DEPLOY }));
      assert.equal(res.status, 500);
      assert.match(res.body.error, /^internal error \(logged as [0-9a-f]{8}\)$/);
      for (const leak of [sb.root, 'ENOENT', 'node:fs', '    at ']) assert.ok(!res.text.includes(leak), `${leak} in ${res.text}`);
      const inChat = await hostile(() => slash('UALICE', '@demo-api'));
      assert.match(inChat.body.text!, /^chatops error: internal error \(logged as [0-9a-f]{8}\)$/);
      assert.ok(!JSON.stringify(inChat.body).includes(sb.root));
    } finally {
      temporal.failWith = undefined;
    }
  });

  it('a known error that would echo a configured host path → the path is scrubbed', async () => {
    const res = await hostile(() => post({ preset: sb.root, input: {} }));
    assert.deepEqual([res.status, res.body], [400, { error: 'unknown preset @<host path>; known: @demo-api' }]);
  });
});
