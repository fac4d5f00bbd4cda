// The slash command's text, the roles and tokens files, and the authorization rules, without a server.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { authorize, chatUser, ConfigFileError, globMatch, parseRolesFile, parseTokensFile, sha256Hex, tokenHolder } from '../../src/chatops/access';
import { CommandError, parseCommand, tokenize } from '../../src/chatops/command';
import { SlackVerifier, slackSignature } from '../../src/chatops/slack';

const roles = parseRolesFile({
  users: { U1: { name: 'alice', roles: ['ops'] }, U2: { name: 'bob', roles: ['lead'] } },
  roles: {
    ops: { start: [{ runbook: 'serviceRestart', targets: ['*/exec/demo-*'] }] },
    lead: { start: [{ runbook: '*', targets: ['*'], auto: true }], approve: [{ runbook: 'serviceRestart', targets: ['*'] }] },
  },
  presets: { web: { runbook: 'serviceRestart', input: { service: { adapter: 'systemd', name: 'web.service' }, waitDownSeconds: 30 } } },
});

describe('slash command text', () => {
  test('key=value pairs: JSON values, plain strings, dotted keys, list indexes, --plan', () => {
    const cmd = parseCommand('serviceRestart service.adapter=systemd service.name=web.service waitDownSeconds=30 smokeChecks.0.url=http://x/ smokeChecks.0.retries=0 host="h1" --plan', {});
    assert.equal(cmd.runbook, 'serviceRestart');
    assert.equal(cmd.plan, true);
    assert.deepEqual(cmd.input, {
      service: { adapter: 'systemd', name: 'web.service' },
      waitDownSeconds: 30,
      smokeChecks: [{ url: 'http://x/', retries: 0 }],
      host: 'h1',
    });
  });

  test('JSON objects and arrays with spaces stay one value; Slack escapes, links and curly quotes are undone', () => {
    const cmd = parseCommand('serviceRestart health={"url": "<http://127.0.0.1:1/health>", "bodyMatch": "a &amp; b"} name=\u201cmy web\u201d tags=[1, 2]', {});
    assert.deepEqual(cmd.input, { health: { url: 'http://127.0.0.1:1/health', bodyMatch: 'a & b' }, name: 'my web', tags: [1, 2] });
  });

  test('a preset is merged under the explicit keys, and may name the runbook', () => {
    assert.deepEqual(parseCommand('serviceRestart @web waitDownSeconds=5', roles.presets).input, { service: { adapter: 'systemd', name: 'web.service' }, waitDownSeconds: 5 });
    const cmd = parseCommand('@web service.name=api.service', roles.presets);
    assert.equal(cmd.runbook, 'serviceRestart');
    assert.equal(cmd.preset, 'web');
    assert.deepEqual(cmd.input.service, { adapter: 'systemd', name: 'api.service' });
    assert.deepEqual(roles.presets.web!.input.service, { adapter: 'systemd', name: 'web.service' }, 'the preset itself is untouched');
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

  test('authorization: runbook, then target, then approval=auto', () => {
    const alice = chatUser(roles, 'U1')!;
    const bob = chatUser(roles, 'U2')!;
    assert.equal(chatUser(roles, 'U9'), undefined);
    assert.deepEqual(authorize(roles, alice, 'start', 'serviceRestart', 'h/exec/demo-api'), { ok: true });
    assert.match((authorize(roles, alice, 'start', 'lanceRestore', 'h/lance:/x') as { reason: string }).reason, /alice has no role that may start lanceRestore/);
    assert.match((authorize(roles, alice, 'start', 'serviceRestart', 'h/exec/prod') as { reason: string }).reason, /may not start serviceRestart on target h\/exec\/prod/);
    assert.match((authorize(roles, alice, 'start', 'serviceRestart', 'h/exec/demo-api', { auto: true }) as { reason: string }).reason, /approval=auto/);
    assert.deepEqual(authorize(roles, bob, 'start', 'lanceRestore', 'h/lance:/x', { auto: true }), { ok: true });
    assert.match((authorize(roles, alice, 'approve', 'serviceRestart', 'h/exec/demo-api') as { reason: string }).reason, /no role that may approve/);
    assert.deepEqual(authorize(roles, bob, 'approve', 'serviceRestart', 'h/exec/demo-api'), { ok: true });
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
