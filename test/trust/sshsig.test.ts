// Signing and verifying statements with the real ssh-keygen: what holds, and why everything else fails.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MAX_SIGNATURE_BYTES, SigningError, signStatement, TrustError, verifyStatement } from '../../src/trust/sshsig';
import { inputDigest, statementText, type ApprovalStatement } from '../../src/trust/statements';
import { keyRing, type KeyRing, type TestKey } from './keys';

const approval: ApprovalStatement = { kind: 'approval', workflowId: 'serviceRestart:host-a/exec/api', runId: 'run-1', digest: 'a'.repeat(64), decision: 'approve', approver: 'alice' };

describe('sshsig', () => {
  let ring: KeyRing;
  let alice: TestKey;
  let mallory: TestKey;
  let gitOnly: TestKey;
  let allowed: string;
  let scratch: string;
  const tmpBefore = process.env.TMPDIR;

  before(async () => {
    ring = await keyRing();
    [alice, mallory, gitOnly] = await Promise.all([ring.key('alice'), ring.key('mallory'), ring.key('gitonly')]);
    allowed = await ring.allowedSigners([
      ['alice', alice, 'namespaces="runbook-approval"'],
      ['gitonly', gitOnly, 'namespaces="git"'],
    ]);
    // Signature files go to a private temp dir under TMPDIR: point it at an empty one to see they are removed.
    scratch = await mkdtemp(join(tmpdir(), 'trust-scratch-'));
    process.env.TMPDIR = scratch;
  });
  after(async () => {
    if (tmpBefore === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpBefore;
    await rm(scratch, { recursive: true, force: true });
    await ring.close();
  });

  const refused = async (signature: string | undefined, reason: RegExp, statement = approval) => {
    const err = await verifyStatement(allowed, statement, signature).then(
      () => assert.fail('verified'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TrustError, String(err));
    assert.equal(err.name, 'TrustError');
    assert.match(err.message, reason);
    // Never the signature bytes or a host path; only the allowed_signers file's name.
    assert.doesNotMatch(err.message, /U1NIU0lH|-----/);
    assert.ok(!err.message.includes(ring.dir) && !err.message.includes(scratch), err.message);
    return err;
  };

  test('the canonical text has sorted keys and only the statement fields', () => {
    const text = statementText({ ...approval, comment: 'not signed' } as ApprovalStatement);
    assert.equal(text, '{"approver":"alice","decision":"approve","digest":"' + 'a'.repeat(64) + '","kind":"approval","runId":"run-1","workflowId":"serviceRestart:host-a/exec/api"}');
  });

  test('a choice is signed with the approval; without one the text is as before choices existed', () => {
    const text = statementText({ ...approval, choice: 'snapshot' });
    assert.equal(text, '{"approver":"alice","choice":"snapshot","decision":"approve","digest":"' + 'a'.repeat(64) + '","kind":"approval","runId":"run-1","workflowId":"serviceRestart:host-a/exec/api"}');
    assert.ok(!statementText(approval).includes('choice'));
  });

  test('inputDigest ignores the request field and key order', () => {
    assert.equal(inputDigest({ b: 1, a: { y: 2, x: 1 } }), inputDigest({ a: { x: 1, y: 2 }, b: 1, request: { signature: 'x', at: 'y' } }));
    assert.notEqual(inputDigest({ a: 1 }), inputDigest({ a: 2 }));
    assert.match(inputDigest({}), /^[0-9a-f]{64}$/);
  });

  test('a good signature gives the signer and its key fingerprint', async () => {
    const signature = await signStatement(alice.file, approval);
    assert.match(signature, /^-----BEGIN SSH SIGNATURE-----\n[\s\S]+\n-----END SSH SIGNATURE-----\n$/);
    assert.deepEqual(await verifyStatement(allowed, approval, signature), { signer: 'alice', fingerprint: alice.fingerprint });
    assert.match(alice.fingerprint, /^SHA256:/);
    assert.deepEqual(await readdir(scratch), [], 'the signature file and its dir are removed');
  });

  test('forged: a key not in allowed_signers', async () => {
    await refused(await signStatement(mallory.file, approval), /signing key is not in allowed_signers/);
  });

  test('replayed: a signature of another run, digest, decision or approver does not match', async () => {
    const signature = await signStatement(alice.file, approval);
    for (const other of [{ runId: 'run-2' }, { digest: 'b'.repeat(64) }, { decision: 'reject' as const }, { workflowId: 'serviceRestart:host-b/exec/api' }]) {
      await refused(signature, /does not match this statement/, { ...approval, ...other });
    }
    // The same key, but the statement names someone else: the signature was made for alice's statement.
    await refused(signature, /does not match this statement/, { ...approval, approver: 'bob' });
  });

  test('wrong namespace: an SSH signature made for something else (git) never counts', async () => {
    await refused(await ring.rawSign(alice, statementText(approval), 'git'), /wrong namespace/);
  });

  test('a key allowed_signers restricts to another namespace may not sign approvals', async () => {
    await refused(await signStatement(gitOnly.file, approval), /gitonly may not sign "runbook-approval" in allowed_signers/);
  });

  test('tampered armor: no header, a flipped version, a flipped signature byte', async () => {
    const signature = await signStatement(alice.file, approval);
    await refused(signature.replace('-----BEGIN SSH SIGNATURE-----\n', ''), /malformed signature: not an armored/);
    await refused(signature.replace('U1NIU0lHAAAAAQ', 'U1NIU0lHAAABAQ'), /malformed signature/);
    const lines = signature.split('\n');
    const body = lines[3]!;
    lines[3] = body.slice(0, 10) + (body[10] === 'A' ? 'B' : 'A') + body.slice(11);
    await refused(lines.join('\n'), /does not match this statement|malformed signature/);
    await refused(`${signature}; rm -rf /\n`, /malformed signature/);
  });

  test('oversized, missing and non-text signatures are refused before ssh-keygen runs', async () => {
    const signature = await signStatement(alice.file, approval);
    const huge = signature.replace('-----END', `${'QUFB\n'.repeat(MAX_SIGNATURE_BYTES / 5 + 1)}-----END`);
    await refused(huge, new RegExp(`longer than ${MAX_SIGNATURE_BYTES} bytes`));
    await refused(undefined, /^no signature$/);
    await refused('', /^no signature$/);
    await refused(42 as unknown as string, /not text/);
  });

  test('an unreadable allowed_signers file is named, without its path', async () => {
    const err = await verifyStatement(join(ring.dir, 'missing_signers'), approval, await signStatement(alice.file, approval)).catch((e: Error) => e);
    assert.ok(err instanceof TrustError);
    assert.equal(err.message, 'allowed_signers file missing_signers cannot be read on this host');
  });

  test('signing never prompts: a passphrase-protected key without an agent fails naming the key file', { timeout: 20_000 }, async () => {
    const locked = await ring.key('locked', 'secret passphrase');
    const env = process.env.SSH_AUTH_SOCK;
    delete process.env.SSH_AUTH_SOCK;
    try {
      const err = await signStatement(locked.file, approval).catch((e: Error) => e);
      assert.ok(err instanceof SigningError, String(err));
      assert.match(err.message, new RegExp(`^signing key ${locked.file}: it is passphrase-protected and no ssh-agent holds it`));
    } finally {
      if (env !== undefined) process.env.SSH_AUTH_SOCK = env;
    }
  });

  test('signing with a missing key file or a file that is no key fails naming it', async () => {
    const missing = join(ring.dir, 'nope');
    assert.equal(((await signStatement(missing, approval).catch((e: Error) => e)) as Error).message, `signing key ${missing}: no such file`);
    const notKey = await ring.allowedSigners([], 'empty');
    const err = (await signStatement(notKey, approval).catch((e: Error) => e)) as Error;
    assert.ok(err instanceof SigningError);
    assert.match(err.message, new RegExp(`^signing key ${notKey}: `));
  });
});
