// The Slack routes refuse what they must, against the real dev server: unsigned, forged, stale and
// replayed requests (401), unknown users and users without the role (403, logged), and bad commands
// (a chat reply naming the problem). Nothing is started by any of them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import type { Config } from '../../src/config';
import { parseRolesFile } from '../../src/chatops/access';
import { testClient, testConfig } from '../helpers/temporal';
import { buttonClick, neverStarted, postForm, restartWorkflowId, SECRET, slashCommand, startChatOps, unique, type RunningChatOps } from './harness';

let config: Config;
let client: Client;
let chat: RunningChatOps;
let unsigned: RunningChatOps;

// No worker runs in this file: a run that started by mistake would still be visible to describe.
// Services are names (the host declares them); these rules grant free input so a command may name one.
const roles = parseRolesFile({
  users: {
    UALICE: { name: 'alice', roles: ['operator'] },
    UCAROL: { name: 'carol', roles: ['lance-only'] },
    UDAVE: { name: 'dave', roles: ['other-services'] },
    UERIN: { name: 'erin', roles: ['preset-only'] },
  },
  roles: {
    operator: { start: [{ runbook: 'serviceRestart', targets: ['*/chat-*'], freeInput: true }] },
    'lance-only': { start: [{ runbook: 'lanceRestore', targets: ['*'], freeInput: true }] },
    'other-services': { start: [{ runbook: 'serviceRestart', targets: ['*/other-*'], freeInput: true }] },
    'preset-only': { start: [{ runbook: 'serviceRestart', targets: ['*/chat-*'] }] },
  },
  presets: {},
});

before(async () => {
  config = testConfig('chatops-sec');
  client = await testClient(config);
  chat = await startChatOps(client, config, { signingSecret: SECRET, roles });
  unsigned = await startChatOps(client, config, { roles });
});
after(async () => {
  await chat.stop();
  await unsigned.stop();
  await client.connection.close();
});

/** A command that would start a real run on a fresh target, and that target's workflow ID. */
function command(prefix = 'chat') {
  const name = unique(prefix);
  return { name, workflowId: restartWorkflowId(name), text: `serviceRestart service=${name} --plan` };
}

const refusals = (action: string) => chat.logs.filter((l) => l.msg === `chatops: ${action} refused`);

describe('slack request signatures', () => {
  test('without SLACK_SIGNING_SECRET the Slack routes answer 503 "chat not configured", even to a correctly signed request', async () => {
    const c = command();
    const res = await slashCommand(unsigned.url, 'UALICE', c.text);
    assert.equal(res.status, 503);
    assert.match(res.body.error, /chat not configured/);
    assert.equal((await buttonClick(unsigned.url, 'UALICE', 'approve', '{}')).status, 503);
    assert.ok(await neverStarted(client, c.workflowId));
  });

  test('a forged signature → 401, nothing started', async () => {
    const c = command();
    const res = await slashCommand(chat.url, 'UALICE', c.text, {}, { secret: 'not-the-secret' });
    assert.equal(res.status, 401);
    assert.match(res.body.error, /signature mismatch/);
    const truncated = await slashCommand(chat.url, 'UALICE', c.text, {}, { signature: 'v0=deadbeef' });
    assert.equal(truncated.status, 401, 'a signature of another length is a mismatch too');
    assert.ok(await neverStarted(client, c.workflowId));
  });

  test('a replayed old timestamp (correctly signed, 6 minutes old) → 401, nothing started; so is one 6 minutes ahead', async () => {
    const c = command();
    const now = Math.floor(Date.now() / 1000);
    const old = await slashCommand(chat.url, 'UALICE', c.text, {}, { timestamp: now - 360 });
    assert.equal(old.status, 401);
    assert.match(old.body.error, /more than 300 s from now/);
    assert.equal((await slashCommand(chat.url, 'UALICE', c.text, {}, { timestamp: now + 360 })).status, 401);
    assert.ok(await neverStarted(client, c.workflowId));
  });

  test('a missing X-Slack-Signature or X-Slack-Request-Timestamp header → 401, nothing started', async () => {
    const c = command();
    for (const omit of ['signature', 'timestamp'] as const) {
      const res = await slashCommand(chat.url, 'UALICE', c.text, {}, { omit: [omit] });
      assert.equal(res.status, 401, `without ${omit}`);
      assert.match(res.body.error, /missing X-Slack-Request-Timestamp or X-Slack-Signature/);
    }
    const json = await fetch(`${chat.url}/slack/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_id: 'UALICE', text: c.text }) });
    assert.equal(json.status, 401, 'a JSON body carries no signature either');
    assert.ok(await neverStarted(client, c.workflowId));
  });

  test('the same signed request sent twice within the window: the second is refused as a replay', async () => {
    const timestamp = Math.floor(Date.now() / 1000);
    const captured = { user_id: 'UALICE', text: 'help', trigger_id: 'captured-1' };
    const first = await postForm(`${chat.url}/slack/commands`, captured, { timestamp });
    assert.equal(first.status, 200);
    assert.match(first.body.text, /usage/);
    const again = await postForm(`${chat.url}/slack/commands`, captured, { timestamp });
    assert.equal(again.status, 401);
    assert.match(again.body.error, /replayed/);
  });

  test('forged, stale and unsigned button clicks → 401', async () => {
    const value = JSON.stringify({ workflowId: 'serviceRestart:x/exec/chat-x', planDigest: 'x' });
    assert.equal((await buttonClick(chat.url, 'UALICE', 'approve', value, undefined, { secret: 'forged' })).status, 401);
    assert.equal((await buttonClick(chat.url, 'UALICE', 'approve', value, undefined, { timestamp: Math.floor(Date.now() / 1000) - 400 })).status, 401);
    assert.equal((await buttonClick(chat.url, 'UALICE', 'approve', value, undefined, { omit: ['signature'] })).status, 401);
  });
});

describe('slack authorization', () => {
  test('an unknown user → 403, and the refusal is logged with user ID, runbook, target and reason', async () => {
    const c = command();
    const res = await slashCommand(chat.url, 'UMALLORY', c.text);
    assert.equal(res.status, 403);
    assert.match(res.body.text, /refused: unknown user slack:UMALLORY/);
    const line = refusals('start').find((l) => l.userId === 'slack:UMALLORY');
    assert.ok(line, 'refusal logged');
    assert.equal(line.level, 40, 'a warning');
    assert.equal(line.runbook, 'serviceRestart');
    assert.equal(line.target, c.workflowId.slice('serviceRestart:'.length));
    assert.match(String(line.reason), /unknown user slack:UMALLORY/);
    assert.ok(await neverStarted(client, c.workflowId));
  });

  test('an unknown user learns nothing else: unknown runbooks and malformed commands are 403 too', async () => {
    assert.equal((await slashCommand(chat.url, 'UMALLORY', 'dropTables')).status, 403);
    assert.equal((await slashCommand(chat.url, 'UMALLORY', 'serviceRestart oops')).status, 403);
    assert.equal((await slashCommand(chat.url, 'UMALLORY', 'help')).status, 403);
  });

  test('a user without a role for that runbook → 403, logged, nothing started', async () => {
    const c = command();
    const res = await slashCommand(chat.url, 'UCAROL', c.text);
    assert.equal(res.status, 403);
    assert.match(res.body.text, /carol \(slack:UCAROL\) has no role that may start serviceRestart/);
    const line = refusals('start').find((l) => l.userId === 'slack:UCAROL');
    assert.equal(line?.user, 'carol');
    assert.equal(line?.runbook, 'serviceRestart');
    assert.ok(await neverStarted(client, c.workflowId));
  });

  test('a user with the runbook but not that target → 403, logged with the target, nothing started', async () => {
    const c = command('chat');
    const res = await slashCommand(chat.url, 'UDAVE', c.text);
    assert.equal(res.status, 403);
    const target = c.workflowId.slice('serviceRestart:'.length);
    assert.match(res.body.text, new RegExp(`dave \\(slack:UDAVE\\) may not start serviceRestart on target ${target}`));
    const line = refusals('start').find((l) => l.userId === 'slack:UDAVE');
    assert.equal(line?.target, target);
    assert.match(String(line?.reason), /may not start serviceRestart on target/);
    assert.ok(await neverStarted(client, c.workflowId));
  });

  test('without a preset, a user whose rules grant no free input → 403 naming the rule, nothing started', async () => {
    const c = command();
    const res = await slashCommand(chat.url, 'UERIN', c.text);
    assert.equal(res.status, 403);
    assert.match(res.body.text, /erin \(slack:UERIN\) may start serviceRestart only with a preset/);
    assert.ok(await neverStarted(client, c.workflowId));
  });

  test('approval=auto without a start rule granting "auto" → 403, nothing started', async () => {
    const c = command();
    const res = await slashCommand(chat.url, 'UALICE', c.text.replace(' --plan', ' approval=auto'));
    assert.equal(res.status, 403);
    assert.match(res.body.text, /approval=auto/);
    assert.ok(await neverStarted(client, c.workflowId));
  });
});

describe('slack command errors are chat replies naming the problem', () => {
  const reply = async (text: string) => {
    const res = await slashCommand(chat.url, 'UALICE', text);
    assert.equal(res.status, 200);
    assert.equal(res.body.response_type, 'ephemeral');
    return res.body.text as string;
  };

  test('unknown runbook', async () => {
    assert.match(await reply('restartEverything service.name=web'), /unknown runbook "restartEverything"; known: serviceRestart, lanceRestore/);
  });

  test('malformed key=value', async () => {
    const c = command();
    assert.match(await reply(`serviceRestart service=${c.name} waitDownSeconds`), /malformed argument `waitDownSeconds`: expected key=value\nnothing was started/);
    assert.match(await reply('serviceRestart service={"adapter": "exec"'), /malformed argument .*missing "}"/);
    assert.ok(await neverStarted(client, c.workflowId));
  });

  test('schema errors name the field; inline service specs are refused whatever the worker allows', async () => {
    const c = command();
    assert.match(await reply(`serviceRestart service=${c.name} waitDownSeconds=-1`), /invalid serviceRestart input: waitDownSeconds: /);
    assert.match(await reply('serviceRestart'), /invalid serviceRestart input: service: /);
    const inline = JSON.stringify({ adapter: 'exec', name: c.name, start: [process.execPath, '-e', '0'], pidFile: `/tmp/${c.name}.pid` });
    assert.match(await reply(`serviceRestart service=${inline}`), /^service must name a service declared in the host's services file/);
    assert.ok(await neverStarted(client, c.workflowId));
  });

  test('mode, requestedBy and request cannot be set from chat', async () => {
    assert.match(await reply('serviceRestart mode=apply'), /mode cannot be set from chat/);
    assert.match(await reply('serviceRestart requestedBy=bob'), /^requestedBy cannot be set: runs are requested by whoever is authenticated/);
    assert.match(await reply('serviceRestart request.signature=x'), /^request cannot be set: the chat service signs the request itself/);
  });
});
