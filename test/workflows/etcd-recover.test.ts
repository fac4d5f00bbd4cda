// etcdRecover on a real etcd (Debian's 3.4) declared as the test host's service, its db damaged at
// page level the way incident 002's was, on the real dev server and worker. After each repair etcd
// itself serves the keys, counted by etcdctl.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { execa } from 'execa';
import { approveRunbook, getProgress, startRunbook, waitForReport } from '../../src/client';
import { checkBbolt } from '../../src/format/bbolt/index';
import type { EtcdRecoverRequest } from '../../src/workflows/inputs';
import type { RunbookReport } from '../../src/workflows/report';
import { breakMetaChecksum, bucketTree, setBranchChild } from '../helpers/bbolt-damage';
import { makeEtcd, putKeys, saveSnapshot, served, type TestEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/service';
import { treeDigest } from '../hostile/sandbox';
import { useTestBed } from '../helpers/temporal';

const bed = useTestBed('etcd');



interface Scene {
  root: string;
  etcd: TestEtcd;
  snapshots: string;
  /** What etcd served before it was stopped and damaged. */
  before: { keys: number; revision: number };
  input: EtcdRecoverRequest;
}

/** etcd with 1,500 keys, a snapshot, then 500 more keys (2,000 in all); stopped. */
async function scene(): Promise<Scene> {
  const root = await mkdtemp(join(tmpdir(), 'etcd-recover-'));
  const etcd = await makeEtcd(root);
  bed.cleanups.push(async () => {
    await etcd.stop().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });
  const snapshots = join(root, 'snapshots');
  await mkdir(snapshots);
  await etcd.start();
  await putKeys(etcd.url, 1_500);
  await saveSnapshot(etcd.url, join(snapshots, 'etcd-default-20261201T000000Z.db'));
  await putKeys(etcd.url, 500, { from: 1_500 });
  const before = await served(etcd.url);
  assert.equal(before.keys, 2_000);
  await etcd.stop();
  const input: EtcdRecoverRequest = { mode: 'apply', approval: 'auto', dataDir: etcd.dataDir, member: etcd.member, clientUrl: etcd.url, peerUrl: etcd.peerUrl, snapshotDir: snapshots, service: etcd.name };
  return { root, etcd, snapshots, before, input };
}

/** etcd run by hand on its data dir: whether it stays up, and what it printed if it died. */
async function startsByHand(etcd: TestEtcd): Promise<{ up: boolean; output: string }> {
  const child = execa(etcd.spec.start[0]!, etcd.spec.start.slice(1), { reject: false, all: true });
  const ended = await Promise.race([child, new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000))]);
  if (ended === 'running') {
    child.kill('SIGTERM');
    await child;
    return { up: true, output: '' };
  }
  return { up: false, output: String(ended.all) };
}

const start = (input: EtcdRecoverRequest) => startRunbook(bed.client, bed.config, 'etcdRecover', input, { requestedBy: 'alice', origin: 'test' });
const stepIds = (report: RunbookReport) => report.steps.map((s) => s.id);
const evidence = (report: RunbookReport, id: string) => report.steps.find((s) => s.id === id)?.evidence as Record<string, any>;

describe('etcdRecover', () => {
  test("the seed's cycle: etcd panics; the plan offers every candidate with its losses, the least-loss one is applied after approval, etcd serves the keys and the report names what was lost", { timeout: 600_000 }, async () => {
    const s = await scene();
    const tree = await bucketTree(s.etcd.db, 'key');
    const branch = tree.pages.find((p) => p.kind === 'branch' && p.parent === tree.root);
    assert.ok(branch, 'the key bucket has a second level of branches');
    await setBranchChild(s.etcd.db, tree.pageSize, branch.id, 0, tree.root);
    const refused = await startsByHand(s.etcd);
    assert.equal(refused.up, false, 'etcd must not start on the damaged db');
    assert.match(refused.output, /freepages: failed to get all reachable pages/);

    const run = await start(s.input);
    const waiting = await waitFor('the plan to ask for approval', async () => {
      const p = await getProgress(bed.client, run.workflowId).catch(() => undefined);
      return p?.outcome === 'AwaitingApproval' ? p : undefined;
    }, 300_000);
    const plan = waiting.plan!;
    assert.deepEqual(plan.choices!.map((c) => c.id), ['other-meta', 'surgery', 'snapshot']);
    assert.equal(plan.defaultChoice, 'surgery', JSON.stringify(plan.choices, null, 1));
    const surgery = plan.choices!.find((c) => c.id === 'surgery')!;
    const snapshot = plan.choices!.find((c) => c.id === 'snapshot')!;
    assert.equal(surgery.usable, true);
    assert.equal(snapshot.usable, true);
    assert.match(surgery.summary, new RegExp(`clear element 0 of branch page ${branch.id} \\(cycle → page ${tree.root}\\)`));
    assert.match(snapshot.summary, /500 of \d+ readable keys missing/, 'the snapshot lacks the 500 keys written after it');
    assert.match(plan.summary, /least loss: surgery, \d+ keys? lost/);

    await approveRunbook(bed.client, run.workflowId, { approver: 'bob', decision: 'approve', planDigest: waiting.planDigest!, runId: waiting.runId });
    const { report, error } = await waitForReport(run.handle);
    assert.equal(report?.outcome, 'Succeeded', error);
    assert.deepEqual(stepIds(report!), ['resolve', 'diagnose', 'diagnose-service', 'diagnose-recheck', 'diagnose-service-recheck', 'stop-service', 'wait-service-down', 'copy-member', 'build-candidate', 'swap', 'start-service', 'wait-service-healthy', 'verify']);
    const facts = evidence(report!, 'diagnose');
    const chosen = facts.candidates.find((c: any) => c.id === 'surgery');
    const now = await served(s.etcd.url);
    assert.equal(now.keys, chosen.result.liveKeys, 'etcd serves exactly the keys the plan announced');
    assert.equal(now.keys, s.before.keys - chosen.lost.count, 'what is missing is what the report says was lost');
    assert.ok(chosen.lost.count > 0 && chosen.lost.count < 100, `one leaf's keys lost: ${chosen.lost.count}`);
    assert.ok(report!.notes.some((n) => n.startsWith('repaired with surgery') && n.includes('lost that another source has')), report!.notes.join('\n'));
    // The damaged member/ is kept, byte for byte what the copy holds.
    const aside = evidence(report!, 'swap').filesMoved.first[0].to as string;
    assert.ok((await readdir(aside)).includes('snap'));
    assert.equal((await checkBbolt(join(aside, 'snap', 'db'))).findings.some((f) => f.code === 'cycle'), true);
  });

  test('the approver picks the snapshot instead of the least-loss surgery: etcd serves the snapshot\'s keys at its revision; a choice the plan does not offer is refused', { timeout: 600_000 }, async () => {
    const s = await scene();
    const tree = await bucketTree(s.etcd.db, 'key');
    const branch = tree.pages.find((p) => p.kind === 'branch' && p.parent === tree.root)!;
    await setBranchChild(s.etcd.db, tree.pageSize, branch.id, 0, tree.root);
    const run = await start(s.input);
    const waiting = await waitFor('the plan to ask for approval', async () => {
      const p = await getProgress(bed.client, run.workflowId).catch(() => undefined);
      return p?.outcome === 'AwaitingApproval' ? p : undefined;
    }, 300_000);
    const answer = { approver: 'bob', decision: 'approve' as const, planDigest: waiting.planDigest!, runId: waiting.runId };
    await assert.rejects(approveRunbook(bed.client, run.workflowId, { ...answer, choice: 'other-meta' }), /choice "other-meta" is not one this plan offers: surgery, snapshot/);
    await assert.rejects(approveRunbook(bed.client, run.workflowId, { ...answer, choice: 'rm -rf' }), /is not one this plan offers/);
    const approval = await approveRunbook(bed.client, run.workflowId, { ...answer, choice: 'snapshot' });
    assert.equal(approval.choice, 'snapshot');
    const { report, error } = await waitForReport(run.handle);
    assert.equal(report?.outcome, 'Succeeded', error);
    const snapshot = evidence(report!, 'diagnose').candidates.find((c: any) => c.id === 'snapshot');
    assert.deepEqual(await served(s.etcd.url), { keys: 1_500, revision: snapshot.result.revision }, 'the snapshot\'s keys and revision');
    assert.ok(report!.notes.some((n) => n.startsWith('repaired with snapshot (picked by bob; least loss was surgery)')), report!.notes.join('\n'));
  });

  test('meta-only damage: the bad meta page is rewritten from the good one; no approval needed, no snapshot used, nothing lost', { timeout: 300_000 }, async () => {
    const s = await scene();
    const report0 = await checkBbolt(s.etcd.db);
    const older = (1 - report0.activeMeta!) as 0 | 1;
    await breakMetaChecksum(s.etcd.db, report0.pageSize, older);
    const { snapshotDir: _none, ...input } = s.input;
    const run = await start(input);
    const { report, error } = await waitForReport(run.handle);
    assert.equal(report?.outcome, 'Succeeded', error);
    assert.equal(report!.approval, undefined, 'nothing is lost, so approval "auto" stands');
    assert.equal(report!.plan!.defaultChoice, 'other-meta');
    const after = await checkBbolt(s.etcd.db);
    assert.equal(after.healthy, true, JSON.stringify(after.findings));
    assert.deepEqual(await served(s.etcd.url), s.before, 'every key, at the same revision');
  });

  test('no candidate checks clean (both meta pages broken, no snapshot): the run stops before changing anything and says so', { timeout: 300_000 }, async () => {
    const s = await scene();
    const pageSize = (await checkBbolt(s.etcd.db)).pageSize;
    await breakMetaChecksum(s.etcd.db, pageSize, 0);
    await breakMetaChecksum(s.etcd.db, pageSize, 1);
    const { snapshotDir: _none, ...input } = s.input;
    const before = await treeDigest(s.root);
    const run = await start(input);
    const { report, error } = await waitForReport(run.handle);
    assert.equal(report?.outcome, 'Failed');
    assert.match(error ?? '', /no candidate checks clean.*nothing was changed/);
    assert.equal(report!.changed, false);
    assert.deepEqual(stepIds(report!), ['resolve', 'diagnose', 'diagnose-service']);
    assert.equal(await treeDigest(s.root), before, 'the data dir and everything beside it are as they were');
  });
});
