// Who may approve what: signer rules (own key or a voucher), people and their runbooks, one person per
// identity, and requests that fall back to unverified. Real keys, real ssh-keygen, no Temporal.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { approvalPolicySchema, samePerson, verifyApprovalSignature, verifyRequestSignature, type ApprovalPolicy } from '../../src/trust/policy';
import { signStatement, TrustError } from '../../src/trust/sshsig';
import { inputDigest, type ApprovalStatement, type RequestStatement } from '../../src/trust/statements';
import { keyRing, type KeyRing, type TestKey } from './keys';

const approvalOf = (approver: string, extra: Partial<ApprovalStatement> = {}): ApprovalStatement => ({
  kind: 'approval',
  workflowId: 'lanceRestore:host-a/srv/db/images.lance',
  runId: 'run-1',
  digest: 'd'.repeat(64),
  decision: 'approve',
  approver,
  ...extra,
});

describe('approvals policy', () => {
  let ring: KeyRing;
  let keys: Record<'alice' | 'bob' | 'carol' | 'chatops', TestKey>;
  let policy: ApprovalPolicy;

  before(async () => {
    ring = await keyRing();
    const [alice, bob, carol, chatops] = await Promise.all(['alice', 'bob', 'carol', 'chatops'].map((n) => ring.key(n)));
    keys = { alice: alice!, bob: bob!, carol: carol!, chatops: chatops! };
    const allowedSigners = await ring.allowedSigners([
      ['alice', keys.alice],
      ['bob', keys.bob],
      ['carol', keys.carol],
      ['chatops', keys.chatops, 'namespaces="runbook-approval"'],
    ]);
    policy = approvalPolicySchema.parse({
      allowedSigners,
      vouchers: { chatops: ['slack:*'] },
      people: {
        alice: { identities: ['alice', 'slack:U024BE7LH'], runbooks: ['*'] },
        bob: { identities: ['bob', 'slack:U0BOB'], runbooks: ['serviceRestart'] },
      },
    });
  });
  after(() => ring.close());

  const refusal = async (work: Promise<unknown>, reason: RegExp) => {
    const err = await work.then(
      () => assert.fail('accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TrustError, String(err));
    assert.match(err.message, reason);
  };

  describe('schema', () => {
    const base = { allowedSigners: '/etc/runbooks/allowed_signers', people: { alice: { identities: ['alice'], runbooks: ['*'] } } };
    const issues = (value: unknown) => {
      const r = approvalPolicySchema.safeParse(value);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };

    test('the example policy parses, vouchers default to none', () => {
      assert.deepEqual(approvalPolicySchema.parse(base).vouchers, {});
      assert.deepEqual(issues({ ...base, vouchers: { chatops: ['slack:*', 'api:deploy-*', 'ops-*', 'alice'] } }), []);
    });

    test('a glob must start with a literal prefix: "*", "*:*" and "*@host" vouch for anyone', () => {
      for (const glob of ['*', '*:*', '*@host-a', ':*']) assert.match(issues({ ...base, vouchers: { chatops: [glob] } }).join('\n'), /^vouchers\.chatops\.0: .*literal prefix/, glob);
    });

    test('an identity listed under two people is refused, naming both', () => {
      const r = issues({ ...base, people: { alice: { identities: ['alice', 'slack:U1'], runbooks: ['*'] }, bob: { identities: ['slack:U1'], runbooks: ['*'] } } });
      assert.deepEqual(r, ['people.bob.identities.0: slack:U1 is already an identity of alice: an identity belongs to one person']);
    });

    test('identities, signers, runbooks and the allowed_signers path are checked', () => {
      assert.match(issues({ ...base, allowedSigners: 'allowed_signers' }).join(), /^allowedSigners: must be an absolute path/);
      assert.match(issues({ ...base, people: { alice: { identities: ['unverified:alice'], runbooks: ['*'] } } }).join(), /people\.alice\.identities\.0: must be an identity.*"unverified" is reserved/);
      assert.match(issues({ ...base, people: { alice: { identities: ['alice smith'], runbooks: ['*'] } } }).join(), /people\.alice\.identities\.0: must be an identity/);
      assert.match(issues({ ...base, people: { alice: { identities: ['alice'], runbooks: ['lanceRestor'] } } }).join(), /people\.alice\.runbooks\.0: must be a runbook name/);
      assert.match(issues({ ...base, people: { alice: { identities: [], runbooks: ['*'] } } }).join(), /people\.alice\.identities/);
      assert.match(issues({ ...base, vouchers: { 'slack:bot': ['slack:*'] } }).join(), /vouchers\.slack:bot: must be an allowed_signers principal/);
      assert.match(issues({ ...base, people: { 'alice smith': { identities: ['alice'], runbooks: ['*'] } } }).join(), /people\.alice smith: a person's name is/);
      assert.match(issues({ ...base, extra: true }).join(), /extra|Unrecognized/i);
    });
  });

  describe('approvals', () => {
    test("signed with the approver's own key: identity, person, signer and fingerprint", async () => {
      const statement = approvalOf('alice');
      const verified = await verifyApprovalSignature(policy, statement, await signStatement(keys.alice.file, statement), 'lanceRestore');
      assert.deepEqual(verified, { identity: 'alice', person: 'alice', signer: 'alice', fingerprint: keys.alice.fingerprint });
    });

    test('the chat service vouches for a slack user: the person behind it approves', async () => {
      const statement = approvalOf('slack:U024BE7LH');
      const verified = await verifyApprovalSignature(policy, statement, await signStatement(keys.chatops.file, statement), 'lanceRestore');
      assert.deepEqual(verified, { identity: 'slack:U024BE7LH', person: 'alice', signer: 'chatops', fingerprint: keys.chatops.fingerprint });
    });

    test('a voucher may not speak for a bare name or another namespace', async () => {
      for (const approver of ['alice', 'api:deploy']) {
        const statement = approvalOf(approver);
        await refusal(
          verifyApprovalSignature(policy, statement, await signStatement(keys.chatops.file, statement), 'lanceRestore'),
          new RegExp(`signed by key ${keys.chatops.fingerprint.replace(/[+/]/g, '\\$&')} of chatops, which may not vouch for ${approver}`),
        );
      }
    });

    test('a person key signing for someone else is refused', async () => {
      const statement = approvalOf('alice');
      await refusal(verifyApprovalSignature(policy, statement, await signStatement(keys.bob.file, statement), 'lanceRestore'), /bob, which is not alice and vouches for nobody/);
    });

    test("a person approves only the runbooks the host lists for them", async () => {
      const statement = approvalOf('bob');
      const signature = await signStatement(keys.bob.file, statement);
      await refusal(verifyApprovalSignature(policy, statement, signature, 'lanceRestore'), /^bob may not approve lanceRestore on this host$/);
      assert.equal((await verifyApprovalSignature(policy, statement, signature, 'serviceRestart')).person, 'bob');
      const reject = approvalOf('bob', { decision: 'reject' });
      await refusal(verifyApprovalSignature(policy, reject, await signStatement(keys.bob.file, reject), 'lanceRestore'), /^bob may not reject lanceRestore on this host$/);
    });

    test('a valid key whose identity is no person on this host is refused', async () => {
      const statement = approvalOf('carol');
      await refusal(verifyApprovalSignature(policy, statement, await signStatement(keys.carol.file, statement), 'serviceRestart'), /^carol \(key SHA256:\S+\) is not listed under approvals\.people on this host$/);
    });

    test('unsigned, forged and replayed approvals are refused with the reason', async () => {
      await refusal(verifyApprovalSignature(policy, approvalOf('alice'), undefined, 'lanceRestore'), /approval by "alice" is unsigned; this host accepts only ones signed with a key in allowed_signers/);
      const mallory = await ring.key('mallory');
      await refusal(verifyApprovalSignature(policy, approvalOf('alice'), await signStatement(mallory.file, approvalOf('alice')), 'lanceRestore'), /^approve by "alice": the signing key is not in allowed_signers$/);
      const signed = await signStatement(keys.alice.file, approvalOf('alice'));
      for (const other of [{ runId: 'run-2' }, { digest: 'e'.repeat(64) }, { decision: 'reject' as const }]) {
        await refusal(verifyApprovalSignature(policy, approvalOf('alice', other), signed, 'lanceRestore'), /does not match this statement/);
      }
      await refusal(verifyApprovalSignature(policy, approvalOf('alice, bob'), signed, 'lanceRestore'), /"alice, bob" is not an identity/);
    });
  });

  describe('requests', () => {
    const input = { tableDir: '/srv/db/images.lance', host: 'host-a', mode: 'apply', requestedBy: 'alice' };
    const requestOf = (requestedBy: string, at: string): RequestStatement => ({
      kind: 'request',
      workflowId: 'lanceRestore:host-a/srv/db/images.lance',
      runbook: 'lanceRestore',
      inputDigest: inputDigest(input),
      requestedBy,
      at,
    });
    const now = Date.parse('2025-06-01T12:00:00Z');

    test('a fresh signed request is verified; one vouched for by the chat service too', async () => {
      const own = requestOf('alice', new Date(now - 60_000).toISOString());
      assert.deepEqual(await verifyRequestSignature(policy, own, await signStatement(keys.alice.file, own), undefined, now), { identity: 'alice', person: 'alice', signer: 'alice', fingerprint: keys.alice.fingerprint });
      const chat = requestOf('slack:U0BOB', new Date(now).toISOString());
      assert.equal(((await verifyRequestSignature(policy, chat, await signStatement(keys.chatops.file, chat), undefined, now)) as { person: string }).person, 'bob');
    });

    test('too old, from the future, unsigned, forged or for another input: unverified, with the reason', async () => {
      const old = requestOf('alice', new Date(now - 16 * 60_000).toISOString());
      assert.deepEqual(await verifyRequestSignature(policy, old, await signStatement(keys.alice.file, old), undefined, now), { unverified: 'alice', reason: `signed at ${old.at}, more than 15 min ago` });
      const future = requestOf('alice', new Date(now + 10 * 60_000).toISOString());
      assert.match(((await verifyRequestSignature(policy, future, await signStatement(keys.alice.file, future), undefined, now)) as { reason: string }).reason, /in the future/);
      const fresh = requestOf('alice', new Date(now).toISOString());
      assert.deepEqual(await verifyRequestSignature(policy, fresh, undefined, undefined, now), { unverified: 'alice', reason: 'unsigned' });
      const byBob = await verifyRequestSignature(policy, fresh, await signStatement(keys.bob.file, fresh), undefined, now);
      assert.match((byBob as { reason: string }).reason, /bob, which is not alice/);
      const otherInput = { ...fresh, inputDigest: inputDigest({ ...input, mode: 'plan' }) };
      const replayed = await verifyRequestSignature(policy, otherInput, await signStatement(keys.alice.file, fresh), undefined, now);
      assert.deepEqual(Object.keys(replayed), ['unverified', 'reason']);
      assert.match((replayed as { reason: string }).reason, /does not match this statement/);
    });

    test('a schedule\'s request holds months after it was signed, for that schedule only; a one-run signature does not stand in for it, nor it for one run', async () => {
      const oneRun = requestOf('alice', new Date(now - 90 * 86_400_000).toISOString());
      const scheduled = { ...oneRun, scheduleId: 'nightly' };
      const signature = await signStatement(keys.alice.file, scheduled);
      assert.deepEqual(await verifyRequestSignature(policy, scheduled, signature, undefined, now), { identity: 'alice', person: 'alice', signer: 'alice', fingerprint: keys.alice.fingerprint });
      assert.match(((await verifyRequestSignature(policy, { ...scheduled, scheduleId: 'copied' }, signature, undefined, now)) as { reason: string }).reason, /does not match this statement/);
      assert.match(((await verifyRequestSignature(policy, scheduled, await signStatement(keys.alice.file, oneRun), undefined, now)) as { reason: string }).reason, /does not match this statement/);
      assert.match(((await verifyRequestSignature(policy, oneRun, signature, undefined, now)) as { reason: string }).reason, /more than 15 min ago/);
      const future = { ...scheduled, at: new Date(now + 10 * 60_000).toISOString() };
      assert.match(((await verifyRequestSignature(policy, future, await signStatement(keys.alice.file, future), undefined, now)) as { reason: string }).reason, /in the future/);
    });
  });

  describe('samePerson', () => {
    test('two identities of one person, and an unverified requester claiming a name, are one person', () => {
      assert.equal(samePerson(policy, 'alice', 'slack:U024BE7LH'), true);
      assert.equal(samePerson(policy, 'unverified:alice', 'slack:U024BE7LH'), true);
      assert.equal(samePerson(policy, 'unverified:ALICE', 'alice'), true);
      assert.equal(samePerson(policy, 'unverified:slack:U024BE7LH', 'alice'), true);
      assert.equal(samePerson(policy, 'unverified:dave', 'dave'), true);
      assert.equal(samePerson(policy, 'alice', 'bob'), false);
      assert.equal(samePerson(policy, 'unverified:bob', 'slack:U024BE7LH'), false);
      assert.equal(samePerson(policy, 'carol', 'dave'), false);
    });
  });
});
