// Signed approvals end to end: a host in "signed" trust verifies each approval on its own queue
// against its allowed_signers (real ssh-keygen keys), records the verified principal and key
// fingerprint, and refuses unsigned, forged, replayed, wrong-digest and self-approvals; a request
// without a valid signature is recorded as unverified:<name>.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { auditRecord, toMarkdown } from '../../src/audit';
import { approveRunbook, getProgress, startRunbook } from '../../src/client';
import { readRun } from '../../src/run-detail';
import type { Config } from '../../src/config';
import { updateHostFile } from '../../src/host/host-file';
import { signStatement } from '../../src/trust/sshsig';
import type { ApprovalStatement } from '../../src/trust/statements';
import type { RunbookReport } from '../../src/workflows/report';
import { makeService, restartInput, servingPid, testServicesFile, waitFor, type TestService } from '../helpers/service';
import { startWorker, testClient, testConfig } from '../helpers/temporal';
import { approvalKeys, keyRing, type ApprovalKeys, type KeyRing } from '../trust/keys';

describe('signed approvals (host in signed trust)', () => {
  let config: Config;
  let client: Client;
  let worker: { stop(): Promise<void> };
  let ring: KeyRing;
  let keys: ApprovalKeys;
  let service: TestService;
  let hostFileBefore: unknown;

  before(async () => {
    ring = await keyRing();
    const cast = await approvalKeys(ring);
    keys = cast.keys;
    const { allowedSigners } = cast;
    await updateHostFile(testServicesFile(), (file) => {
      hostFileBefore = structuredClone(file);
      return {
        ...file,
        trust: 'signed',
        approvals: {
          allowedSigners,
          vouchers: { chatops: ['slack:*'] },
          people: {
            alice: { identities: ['alice', 'slack:UALICE'], runbooks: ['*'] },
            bob: { identities: ['bob'], runbooks: ['serviceRestart'] },
            carol: { identities: ['slack:UCAROL'], runbooks: ['serviceRestart'] },
          },
        },
      };
    });
    service = await makeService('signed-api');
    config = testConfig('signed');
    client = await testClient(config);
    worker = await startWorker(config);
  });
  after(async () => {
    await worker?.stop();
    await service?.cleanup();
    await updateHostFile(testServicesFile(), (file) => ({ ...(hostFileBefore as object), services: file.services }));
    await ring?.close();
  });

  async function startAsAlice(signed: boolean) {
    const run = await startRunbook(client, config, 'serviceRestart', restartInput(service, { approval: 'required' }), {
      requestedBy: 'alice',
      origin: 'test',
      ...(signed ? { sign: (statement) => signStatement(keys.alice.file, statement) } : {}),
    });
    const progress = await waitFor('the plan', async () => {
      const p = await getProgress(client, run.workflowId);
      return p.outcome === 'AwaitingApproval' && p.planDigest ? p : undefined;
    });
    return { run, progress, planDigest: progress.planDigest!, runId: run.runId };
  }

  const statementFor = (workflowId: string, runId: string, digest: string, approver: string, decision: 'approve' | 'reject' = 'approve'): ApprovalStatement => ({ kind: 'approval', workflowId, runId, digest, decision, approver });

  test('refuses unsigned, forged, replayed and wrong-digest approvals and self-approval through a second identity; a signed approval by another person runs the plan', async () => {
    const { run, progress, planDigest, runId } = await startAsAlice(true);
    assert.equal(progress.triggeredBy, 'alice', 'a request signed with alice\'s key is recorded as alice');
    assert.equal(progress.requester?.verified, true);
    assert.equal(progress.requester?.fingerprint, keys.alice.fingerprint);
    const pidBefore = await servingPid(service);
    const approve = (approver: string, signature?: string, digest = planDigest) => approveRunbook(client, run.workflowId, { approver, decision: 'approve', planDigest: digest, runId, ...(signature ? { signature } : {}) });

    await assert.rejects(approve('bob'), /unsigned.*accepts only ones signed/);
    // mallory's key is not in allowed_signers; she claims to be bob.
    await assert.rejects(approve('bob', await signStatement(keys.mallory.file, statementFor(run.workflowId, runId, planDigest, 'bob'))), /bob/);
    // bob's real signature, but over another run: replayed here it does not match.
    await assert.rejects(approve('bob', await signStatement(keys.bob.file, statementFor(run.workflowId, 'another-run', planDigest, 'bob'))), /does not match|not match|verify/i);
    // bob signs a rejection; sent as an approval it does not match.
    await assert.rejects(approve('bob', await signStatement(keys.bob.file, statementFor(run.workflowId, runId, planDigest, 'bob', 'reject'))), /does not match|not match|verify/i);
    // alice approves her own run through her chat identity, vouched by the chat service's key.
    await assert.rejects(approve('slack:UALICE', await signStatement(keys.chatops.file, statementFor(run.workflowId, runId, planDigest, 'slack:UALICE'))), /self-approval refused/);
    // the chat service may vouch for slack: identities only, never for a bare SSH principal.
    await assert.rejects(approve('bob', await signStatement(keys.chatops.file, statementFor(run.workflowId, runId, planDigest, 'bob'))), /may not vouch|vouches for nobody/);
    assert.equal(await servingPid(service), pidBefore, 'no refused approval changed anything');

    const approval = await approve('bob', await signStatement(keys.bob.file, statementFor(run.workflowId, runId, planDigest, 'bob')));
    assert.equal(approval.verified, true);
    assert.equal(approval.fingerprint, keys.bob.fingerprint);
    assert.equal(approval.signer, 'bob');
    const report = (await run.handle.result()) as RunbookReport;
    assert.equal(report.outcome, 'Succeeded');
    assert.equal(report.approval?.approver, 'bob');
    assert.equal(report.approval?.fingerprint, keys.bob.fingerprint);
    assert.notEqual(await servingPid(service), pidBefore, 'the service was restarted');
    const audit = toMarkdown([auditRecord(await readRun(client, run.workflowId, runId))]);
    assert.match(audit, new RegExp(`Approved\\*\\*: by bob \\(verified: key ${keys.bob.fingerprint.replace(/[+/]/g, '\\$&')} of bob\\)`));
    assert.match(audit, new RegExp(`by alice \\(verified: key ${keys.alice.fingerprint.replace(/[+/]/g, '\\$&')} of alice\\)`));
  });

  test("the chat service's key approves for a Slack user it vouches for; the report names the user and the chat key", async () => {
    const { run, planDigest, runId } = await startAsAlice(true);
    const approval = await approveRunbook(client, run.workflowId, { approver: 'slack:UCAROL', decision: 'approve', planDigest, runId, signature: await signStatement(keys.chatops.file, statementFor(run.workflowId, runId, planDigest, 'slack:UCAROL')) });
    assert.deepEqual([approval.approver, approval.signer, approval.fingerprint, approval.verified], ['slack:UCAROL', 'chatops', keys.chatops.fingerprint, true]);
    assert.equal(((await run.handle.result()) as RunbookReport).outcome, 'Succeeded');
  });

  test('plan mode and doctor need no key: an unsigned plan on a signed host runs and changes nothing', async () => {
    const pidBefore = await servingPid(service);
    const run = await startRunbook(client, config, 'serviceRestart', restartInput(service, { mode: 'plan' }), { requestedBy: 'carol', origin: 'test' });
    const report = (await run.handle.result()) as RunbookReport;
    assert.equal(report.outcome, 'Planned');
    assert.equal(report.triggeredBy, 'unverified:carol');
    assert.ok(report.plan?.actions.some((a) => a.includes(service.spec.pidFile)), 'the plan names the pidfile it would use');
    assert.equal(await servingPid(service), pidBefore);
  });

  test('an unsigned request is recorded as unverified:<name>, which no approver can match; the claimed person cannot approve it either', async () => {
    const { run, progress, planDigest, runId } = await startAsAlice(false);
    assert.equal(progress.triggeredBy, 'unverified:alice');
    const description = await run.handle.describe();
    assert.equal(description.searchAttributes.TriggeredBy?.[0], 'unverified:alice');
    const sign = (who: 'alice' | 'bob') => signStatement(keys[who].file, statementFor(run.workflowId, runId, planDigest, who));
    await assert.rejects(approveRunbook(client, run.workflowId, { approver: 'alice', decision: 'approve', planDigest, runId, signature: await sign('alice') }), /self-approval refused/);
    await assert.rejects(approveRunbook(client, run.workflowId, { approver: 'unverified:alice', decision: 'approve', planDigest, runId }), /never an approver|self-approval/);
    const rejected = await approveRunbook(client, run.workflowId, { approver: 'bob', decision: 'reject', planDigest, runId, signature: await signStatement(keys.bob.file, statementFor(run.workflowId, runId, planDigest, 'bob', 'reject')) });
    assert.equal(rejected.verified, true);
    assert.equal(((await run.handle.result()) as RunbookReport).outcome, 'Rejected');
  });
});
