// The slash command's text, the roles and tokens files, and the authorization rules, without a server.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidRequestError } from '../../src/client';
import { authorize, chatUser, ConfigFileError, globMatch, label, mayDoAny, parseRolesFile, parseTokensFile, sha256Hex, tokenHolder } from '../../src/chatops/access';
import { CommandError, parseCommand, tokenize } from '../../src/chatops/command';
import { explicitKeys, resolveRequest } from '../../src/chatops/presets';
import { SlackVerifier, slackSignature } from '../../src/chatops/slack';

const roles = parseRolesFile({
  users: { U1: { name: 'alice', roles: ['ops'] }, U2: { name: 'bob', roles: ['lead'] } },
  roles: {
    ops: { start: [{ runbook: 'serviceRestart', targets: ['*/demo-*'] }] },
    lead: {
      start: [{ runbook: '*', targets: ['*/demo-*', 'h/lance:*'], auto: true, freeInput: true }],
      approve: [{ runbook: 'serviceRestart', targets: ['*'] }],
      read: [{ runbook: 'serviceRestart', targets: ['*/demo-*'] }],
    },
  },
  presets: {
    web: { runbook: 'serviceRestart', input: { service: 'web', waitDownSeconds: 30 }, open: ['waitDownSeconds', 'checks'] },
    fixed: { runbook: 'serviceRestart', input: { service: 'demo-api' } },
    nested: { runbook: 'lanceRestore', input: { tableDir: '/srv/t.lance', service: 'demo-api' }, open: ['strategy'] },
  },
});

describe('slash command text', () => {
  test('key=value pairs: JSON values, plain strings, dotted keys, list indexes, --plan', () => {
    const cmd = parseCommand('serviceRestart service=web waitDownSeconds=30 checks.0=root checks.1=api a.b.c=1 host="h1" --plan', {});
    assert.equal(cmd.runbook, 'serviceRestart');
    assert.equal(cmd.plan, true);
    assert.deepEqual(cmd.input, { service: 'web', waitDownSeconds: 30, checks: ['root', 'api'], a: { b: { c: 1 } }, host: 'h1' });
  });

  test('JSON objects and arrays with spaces stay one value; Slack escapes, links and curly quotes are undone', () => {
    const cmd = parseCommand('serviceRestart health={"url": "<http://127.0.0.1:1/health>", "bodyMatch": "a &amp; b"} name=\u201cmy web\u201d tags=[1, 2]', {});
    assert.deepEqual(cmd.input, { health: { url: 'http://127.0.0.1:1/health', bodyMatch: 'a & b' }, name: 'my web', tags: [1, 2] });
  });

  test('a preset may name the runbook; the command carries only the keys typed', () => {
    const cmd = parseCommand('@web waitDownSeconds=5', roles.presets);
    assert.equal(cmd.runbook, 'serviceRestart');
    assert.equal(cmd.preset, 'web');
    assert.deepEqual(cmd.input, { waitDownSeconds: 5 });
  });

  const malformed: [string, RegExp][] = [
    ['serviceRestart service.name', /malformed argument `service\.name`: expected key=value/],
    ['serviceRestart =web', /malformed argument `=web`: expected key=value/],
    ['serviceRestart a..b=1', /`a\.\.b` is not a key/],
    ['serviceRestart __proto__.x=1', /`__proto__\.x` is not a key/],
    ['serviceRestart a=1 a=2', /a is given twice/],
    ['serviceRestart a=1 a.b=2', /a already has a value/],
    ['serviceRestart a={"x": 1', /missing "}"/],
    ['serviceRestart a="x', /unterminated " quote/],
    ['serviceRestart a={x:1}', /value `\{x:1\}` is not valid JSON/],
    ['serviceRestart --force', /unknown option `--force`/],
    ['serviceRestart @nope', /unknown preset `@nope`/],
    ['lanceRestore @web', /preset @web is for serviceRestart, not lanceRestore/],
    ['name=web', /the first word must be the runbook/],
    ['', /no runbook named/],
  ];
  for (const [text, expected] of malformed) {
    test(`malformed: ${JSON.stringify(text)} → names the problem`, () => {
      assert.throws(() => parseCommand(text, roles.presets), (err: Error) => err instanceof CommandError && expected.test(err.message));
    });
  }

  test('tokenize keeps quoted spaces', () => {
    assert.deepEqual(tokenize(`a b='c d' e="f g"`), ['a', "b='c d'", 'e="f g"']);
  });
});

describe('roles and tokens files', () => {
  test('an invalid roles file names the field and why', () => {
    assert.throws(() => parseRolesFile({ users: {}, roles: { r: { start: [], write: [] } } }, 'r.json'), /roles\.r\.write: unknown field/);
    const bad = (data: unknown) => assert.throws(() => parseRolesFile(data, '/etc/roles.json'), ConfigFileError);
    bad({});
    assert.throws(
      () => parseRolesFile({ users: { U1: { name: 'a', roles: ['nope'] } }, roles: {} }, '/etc/roles.json'),
      /roles file \/etc\/roles\.json: users\.U1\.roles\.0: unknown role "nope"/,
    );
    assert.throws(
      () => parseRolesFile({ users: {}, roles: { r: { start: [{ runbook: 'dropTables', targets: ['*'] }] } } }, 'r.json'),
      /roles\.r\.start\.0\.runbook: must be "\*" or a runbook/,
    );
    assert.throws(() => parseRolesFile({ users: { U1: { name: 'a', roles: [] }, U2: { name: 'a', roles: [] } }, roles: {} }), /users\.U2\.name: "a" is already the name of U1/);
    assert.throws(
      () => parseRolesFile({ users: {}, roles: {}, presets: { p: { runbook: 'serviceRestart', input: { approval: 'auto' } } } }),
      /presets\.p\.input\.approval: approval cannot be preset/,
    );
  });

  test('tokens: only sha256 stored; a token finds its holder, any other string none', () => {
    const tokens = parseTokensFile({ tokens: [{ token_sha256: sha256Hex('s3cret'), name: 'bot', roles: ['ops'] }] }, roles, 't.json');
    assert.equal(tokenHolder(tokens, 's3cret')?.name, 'bot');
    assert.equal(tokenHolder(tokens, 's3cret '), undefined);
    assert.equal(tokenHolder(tokens, ''), undefined);
    assert.equal(tokenHolder(undefined, 's3cret'), undefined);
    assert.throws(() => parseTokensFile({ tokens: [{ token_sha256: 'abc', name: 'bot', roles: [] }] }, roles, 't.json'), /tokens\.0\.token_sha256: must be the lowercase hex sha256/);
    assert.throws(() => parseTokensFile({ tokens: [{ token_sha256: sha256Hex('x'), name: 'bot', roles: ['root'] }] }, roles, 't.json'), /tokens\.0\.roles\.0: unknown role "root"/);
  });

  test('globs: * spans any characters, ? one, the rest is literal', () => {
    assert.ok(globMatch('*/exec/demo-*', 'host1/exec/demo-api'));
    assert.ok(!globMatch('*/exec/demo-*', 'host1/exec/prod-api'));
    assert.ok(globMatch('*', 'h/lance:/srv/a.lance'));
    assert.ok(globMatch('h?/x', 'h1/x'));
    assert.ok(!globMatch('h.1/x', 'hx1/x'), '. is literal');
  });

  test('authorization: runbook, then target, then free input, then approval=auto', () => {
    const alice = chatUser(roles, 'U1')!;
    const bob = chatUser(roles, 'U2')!;
    assert.equal(chatUser(roles, 'U9'), undefined);
    const reason = (d: ReturnType<typeof authorize>) => (d as { reason: string }).reason;
    assert.deepEqual(authorize(roles, alice, 'start', 'serviceRestart', 'h/demo-api'), { ok: true });
    assert.match(reason(authorize(roles, alice, 'start', 'lanceRestore', 'h/lance:/x')), /^alice \(slack:U1\) has no role that may start lanceRestore/);
    assert.match(reason(authorize(roles, alice, 'start', 'serviceRestart', 'h/prod')), /may not start serviceRestart on target h\/prod/);
    assert.match(reason(authorize(roles, alice, 'start', 'serviceRestart', 'h/demo-api', { auto: true })), /approval=auto/);
    assert.match(reason(authorize(roles, alice, 'start', 'serviceRestart', 'h/demo-api', { freeInput: true })), /only with a preset \(no start rule grants "freeInput"\)/);
    assert.deepEqual(authorize(roles, bob, 'start', 'lanceRestore', 'h/lance:/x', { auto: true, freeInput: true }), { ok: true });
    assert.match(reason(authorize(roles, alice, 'approve', 'serviceRestart', 'h/demo-api')), /no role that may approve/);
    assert.deepEqual(authorize(roles, bob, 'approve', 'serviceRestart', 'h/demo-api'), { ok: true });
  });

  test('reading runs needs a read rule, for that runbook and target', () => {
    const alice = chatUser(roles, 'U1')!;
    const bob = chatUser(roles, 'U2')!;
    assert.match((mayDoAny(roles, alice, 'read') as { reason: string }).reason, /alice \(slack:U1\) has no role that may read runs/);
    assert.deepEqual(mayDoAny(roles, bob, 'read'), { ok: true });
    assert.deepEqual(authorize(roles, bob, 'read', 'serviceRestart', 'h/demo-api'), { ok: true });
    assert.equal(authorize(roles, bob, 'read', 'serviceRestart', 'h/prod').ok, false);
    assert.equal(authorize(roles, bob, 'read', 'lanceRestore', 'h/demo-api').ok, false);
  });
});

describe('identities', () => {
  test('chat users act as slack:<user ID>, tokens as api:<name>; the display name decides nothing', () => {
    const tokens = parseTokensFile({ tokens: [{ token_sha256: sha256Hex('t'), name: 'alice', roles: ['ops'] }] }, roles);
    const bot = tokenHolder(tokens, 't')!;
    const person = chatUser(roles, 'U1')!;
    assert.equal(bot.id, 'api:alice');
    assert.equal(person.id, 'slack:U1');
    assert.notEqual(bot.id, person.id, 'a token named like a person is not that person');
    assert.equal(label(bot), 'api:alice');
    assert.equal(label(person), 'alice (slack:U1)');
  });

  test('token names are simple and unique: one name, one identity', () => {
    for (const name of ['slack:U1', 'a b', 'x/y', '', 'unverified:bob']) {
      assert.throws(() => parseTokensFile({ tokens: [{ token_sha256: sha256Hex('t'), name, roles: [] }] }, roles, 't.json'), /tokens\.0\.name: must be a simple name/, name);
    }
    assert.throws(
      () => parseTokensFile({ tokens: [{ token_sha256: sha256Hex('a'), name: 'bot', roles: [] }, { token_sha256: sha256Hex('b'), name: 'bot', roles: [] }] }, roles, 't.json'),
      /tokens\.1\.name: "bot" is already the name of tokens\.0/,
    );
  });
});

describe('presets lock fields', () => {
  const refused = (request: Parameters<typeof resolveRequest>[1], expected: RegExp) =>
    assert.throws(() => resolveRequest(roles.presets, request), (err: Error) => err instanceof InvalidRequestError && expected.test(err.message));

  test('open keys are merged over the preset; control keys (mode, approval) are always the caller\'s', () => {
    const r = resolveRequest(roles.presets, { preset: 'web', input: { waitDownSeconds: 5, checks: ['root'], mode: 'apply', approval: 'required' } });
    assert.deepEqual(r, { runbook: 'serviceRestart', preset: 'web', input: { service: 'web', waitDownSeconds: 5, checks: ['root'], mode: 'apply', approval: 'required' } });
    assert.deepEqual(roles.presets.web!.input, { service: 'web', waitDownSeconds: 30 }, 'the preset itself is untouched');
  });

  test('a key the preset does not open is refused, naming the key, the preset and the open keys', () => {
    refused({ preset: 'web', input: { service: 'other' } }, /^`service` is fixed by preset @web; open keys: waitDownSeconds, checks$/);
    refused({ preset: 'fixed', input: { waitHealthySeconds: 5 } }, /^`waitHealthySeconds` is fixed by preset @fixed; open keys: none$/);
    refused({ preset: 'nested', input: { service: { start: ['sh'] } } }, /^`service\.start` is fixed by preset @nested/);
    refused({ preset: 'web', input: { host: 'elsewhere' } }, /`host` is fixed/);
  });

  test('what chat types and what the API nests meet the same rule', () => {
    const typed = parseCommand('@nested service.start=["/bin/sh"]', roles.presets);
    refused({ preset: typed.preset, input: typed.input }, /^`service\.start` is fixed by preset @nested/);
    assert.deepEqual(explicitKeys({ a: { b: 1, c: { d: [1] } }, e: {} }), ['a.b', 'a.c.d', 'e']);
    refused({ preset: 'web', input: { 'waitDownSeconds.x': 1 } }, /`waitDownSeconds\.x` is not an input key/);
    refused({ runbook: 'serviceRestart', input: { service: { 'a.b': 1 } } }, /`service\.a\.b` is not an input key/);
  });

  test('requestedBy and request never come from a caller; preset and runbook must agree', () => {
    refused({ preset: 'web', input: { requestedBy: 'bob' } }, /^requestedBy cannot be set/);
    refused({ runbook: 'serviceRestart', input: { request: { signature: 'x', at: '2026-01-01T00:00:00Z' } } }, /^request cannot be set: the chat service signs the request itself/);
    refused({ preset: 'nope', input: {} }, /unknown preset @nope; known: @web, @fixed, @nested/);
    refused({ runbook: 'lanceRestore', preset: 'web', input: {} }, /preset @web is for serviceRestart, not lanceRestore/);
    assert.deepEqual(resolveRequest(roles.presets, { runbook: 'serviceRestart', input: { service: 'x' } }), { runbook: 'serviceRestart', input: { service: 'x' } });
  });

  test('inline service specs never come through chat or the API, even with free input; nor from a preset', () => {
    refused({ runbook: 'serviceRestart', input: { service: { adapter: 'exec', name: 'x', start: ['/bin/sh', '-c', 'id'], pidFile: '/tmp/x.pid' } } }, /^service must name a service declared in the host's services file/);
    assert.throws(
      () => parseRolesFile({ users: {}, roles: {}, presets: { p: { runbook: 'serviceRestart', input: { service: { adapter: 'systemd', name: 'x', unit: 'x.service' } } } } }),
      /presets\.p\.input\.service: must name a service declared in the host's services file/,
    );
  });

  test('the roles file refuses presets that set or open what no preset may', () => {
    assert.throws(() => parseRolesFile({ users: {}, roles: {}, presets: { p: { runbook: 'serviceRestart', input: {}, open: ['approval'] } } }), /presets\.p\.open\.0: approval cannot be opened/);
    assert.throws(() => parseRolesFile({ users: {}, roles: {}, presets: { p: { runbook: 'serviceRestart', input: {}, open: ['requestedBy'] } } }), /presets\.p\.open\.0: requestedBy cannot be opened/);
    assert.throws(() => parseRolesFile({ users: {}, roles: {}, presets: { p: { runbook: 'serviceRestart', input: { request: {} } } } }), /presets\.p\.input\.request: request cannot be preset/);
    assert.throws(() => parseRolesFile({ users: {}, roles: {}, presets: { p: { runbook: 'serviceRestart', input: {}, open: ['__proto__'] } } }), /presets\.p\.open\.0: must be an input key/);
  });
});

describe('auto runs are scoped', () => {
  test('"auto": true on a rule whose targets match everything is refused; scoped auto and unscoped manual rules load', () => {
    for (const glob of ['*', '*/*', '**', '?*']) {
      assert.throws(
        () => parseRolesFile({ users: {}, roles: { oncall: { start: [{ runbook: 'serviceRestart', targets: ['h/demo-*', glob], auto: true }] } } }, 'roles.json'),
        /roles file roles\.json: roles\.oncall\.start\.0\.targets: .* matches every target, and "auto": true runs without a second person/,
        glob,
      );
    }
    parseRolesFile({ users: {}, roles: { oncall: { start: [{ runbook: 'serviceRestart', targets: ['*/demo-*'], auto: true }] }, ops: { start: [{ runbook: '*', targets: ['*'] }] } } });
  });
});

describe('Slack signatures', () => {
  const now = 1_700_000_000_000;
  const ts = String(now / 1000);
  const body = 'text=serviceRestart&user_id=U1';
  test('a correct signature within five minutes passes once; every other request is refused with the reason', () => {
    const v = new SlackVerifier('secret', () => now);
    assert.deepEqual(v.verify({ timestamp: ts, signature: slackSignature('secret', ts, body) }, body), { ok: true });
    assert.match((v.verify({ timestamp: ts, signature: slackSignature('secret', ts, body) }, body) as { reason: string }).reason, /replayed/);
    const old = String(now / 1000 - 301);
    assert.match((v.verify({ timestamp: old, signature: slackSignature('secret', old, body) }, body) as { reason: string }).reason, /more than 300 s from now/);
    const future = String(now / 1000 + 301);
    assert.match((v.verify({ timestamp: future, signature: slackSignature('secret', future, body) }, body) as { reason: string }).reason, /more than 300 s/);
    assert.match((v.verify({ timestamp: ts, signature: slackSignature('other', ts, body) }, body) as { reason: string }).reason, /signature mismatch/);
    assert.match((v.verify({ timestamp: ts, signature: 'v0=abc' }, body) as { reason: string }).reason, /signature mismatch/);
    assert.match((v.verify({ timestamp: ts, signature: slackSignature('secret', ts, body) }, `${body}&x=1`) as { reason: string }).reason, /signature mismatch/);
    assert.match((v.verify({ timestamp: ts }, body) as { reason: string }).reason, /missing/);
    assert.match((v.verify({ signature: 'v0=1' }, body) as { reason: string }).reason, /missing/);
    assert.match((v.verify({ timestamp: '1e9', signature: 'v0=1' }, body) as { reason: string }).reason, /malformed/);
  });
});
