// `npm run record-history`: runs each scenario the kit has a branch for against the test server
// and saves its event history under test/fixtures/histories/<package version>/. Histories of
// earlier releases are never overwritten: test/workflows/replay.test.ts replays every one of them,
// so a change to workflow code that breaks a run in flight during a deploy fails the suite.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { approveRunbook, getProgress, startRunbook, waitForReport, type StartedRun } from '../../src/client';
import { checkBbolt } from '../../src/format/bbolt/index';
import { breakMetaChecksum, bucketTree, setBranchChild } from './bbolt-damage';
import { makeEtcd, putKeys, saveSnapshot } from './etcd';
import { serviceControl } from '../../src/activities/services/index';
import { buildLanceIncident } from '../../src/demo/lance-incident';
import { appendTornRecord, damageTableBlock, flipManifestByte } from './log-store-damage';
import { writeStore } from './log-stores';
import { RunbookOutcome } from '../../src/workflows/names';
import { declareCheck, makeService, redeclare, restartInput, servingPid, stopFailingOnce, waitFor } from './service';
import { answerCurrentPlan, startWorker, testClient, testConfig } from './temporal';

const version = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')).version as string;
export const HISTORIES = new URL(`../fixtures/histories/${version}/`, import.meta.url);
if (existsSync(HISTORIES) && !process.argv.includes('--overwrite')) {
  throw new Error(`histories of ${version} exist: bump the version in package.json for a new release (or pass --overwrite while ${version} is unreleased)`);
}

const config = testConfig('history');
const client = await testClient(config);
const worker = await startWorker(config);
const options = { requestedBy: 'alice', origin: 'test' };

const awaiting = (run: StartedRun) =>
  waitFor('approval', async () => (await getProgress(client, run.workflowId).catch(() => undefined))?.outcome === 'AwaitingApproval', 60_000);

async function save(scenario: string, run: StartedRun, expected: string): Promise<void> {
  const outcome = await waitForReport(run.handle).then((f) => f.report?.outcome ?? f.error, (err: Error) => err.name);
  const description = await run.handle.describe();
  const ended = description.typedSearchAttributes.get(RunbookOutcome) ?? outcome;
  if (ended !== expected) throw new Error(`recording ${scenario}: expected ${expected}, got ${ended} (${outcome})`);
  // The workflow checks its own ID against its target, so replay needs the recorded ID too.
  const history = JSON.parse(historyToJSON(await run.handle.fetchHistory()));
  await mkdir(HISTORIES, { recursive: true });
  await writeFile(new URL(`${scenario}.json`, HISTORIES), `${JSON.stringify({ workflowId: run.workflowId, expected, history }, null, 1)}\n`);
  process.stderr.write(`recorded ${scenario}: ${expected}, ${history.events.length} events\n`);
}

const service = await makeService('recorded', { startupDelayMs: 300 });
const incident = await buildLanceIncident({ newRows: 40, missing: 10 });
const broken = await buildLanceIncident({ newRows: 40, missing: 10, corruptObjects: 1 });
const stores = await mkdtemp(join(tmpdir(), 'history-stores-'));
/** A goleveldb store written by the engine, then damaged. */
const store = async (name: string, damage: (dir: string) => Promise<unknown>) => {
  const dir = join(stores, name);
  await writeStore('goleveldb', dir, { keys: 2_000, tables: 2 });
  await damage(dir);
  return dir;
};
try {
  await serviceControl(service.spec).start();
  await waitFor('the service', () => servingPid(service));
  const restart = (extra: Parameters<typeof restartInput>[1]) => startRunbook(client, config, 'serviceRestart', restartInput(service, extra), options);

  await save('serviceRestart-plan', await startRunbook(client, config, 'serviceRestart', { ...restartInput(service), mode: undefined }, options), 'Planned');
  await save('serviceRestart-auto', await restart({ approval: 'auto' }), 'Succeeded');

  let run = await restart({ approval: 'required' });
  await awaiting(run);
  await answerCurrentPlan(client, run.workflowId, 'bob');
  await save('serviceRestart-approved', run, 'Succeeded');

  run = await restart({ approval: 'required' });
  await awaiting(run);
  await answerCurrentPlan(client, run.workflowId, 'bob', 'reject');
  await save('serviceRestart-rejected', run, 'Rejected');

  await save('serviceRestart-approval-timeout', await restart({ approval: 'required', approvalTimeout: '1s' }), 'ApprovalTimedOut');

  // A stop command that fails once (exit 1, retried) and then works: a retried step.
  const marker = join(incident.repoRoot, '..', 'stop-failed-once');
  await redeclare(service, { stop: stopFailingOnce(marker, service.spec.pidFile) });
  await save('serviceRestart-retried', await restart({ approval: 'auto' }), 'Succeeded');
  await redeclare(service, { stop: undefined });

  // A smoke check that cannot pass: the run fails and its undo runs.
  await declareCheck(service, 'no-match', { url: service.url('/'), bodyMatch: 'no-such-text', retries: 0 });
  await save('serviceRestart-compensated', await restart({ approval: 'auto', checks: ['no-match'] }), 'Failed');

  run = await restart({ approval: 'required' });
  await awaiting(run);
  await run.handle.cancel();
  await save('serviceRestart-cancelled', run, 'Cancelled');

  await save('lanceRestore-restore', await startRunbook(client, config, 'lanceRestore', {
    mode: 'apply', approval: 'auto', tableDir: incident.tableDir, expectedRows: 40, service: service.spec.name, checks: [],
  }, options), 'Succeeded');

  run = await startRunbook(client, config, 'lanceRestore', { mode: 'apply', approval: 'auto', tableDir: broken.tableDir }, options);
  await awaiting(run);
  await answerCurrentPlan(client, run.workflowId, 'bob');
  await save('lanceRestore-fallback', run, 'Succeeded');

  const recover = (dir: string, extra: Record<string, unknown> = {}) => startRunbook(client, config, 'logStoreRecover', { mode: 'apply', approval: 'auto', dir, engine: 'goleveldb', ...extra }, options);
  await save('logStoreRecover-truncate', await recover(await store('torn.db', appendTornRecord), { service: service.spec.name, checks: [] }), 'Succeeded');
  // A damaged table loses keys whatever the policy: a person approves even with approval "auto".
  run = await recover(await store('damaged.db', damageTableBlock), { policy: 'rebuild' });
  await awaiting(run);
  await answerCurrentPlan(client, run.workflowId, 'bob');
  await save('logStoreRecover-rebuild', run, 'Succeeded');
  await save('logStoreRecover-stopped', await recover(await store('corrupt.db', (dir) => flipManifestByte(dir, 1)), { policy: 'truncate-only' }), 'Failed');

  // etcd: the seed's cycle, approved with another choice than the default; a bad meta page, no approval.
  const etcd = await makeEtcd(join(stores, 'etcd'));
  await etcd.start();
  await putKeys(etcd.url, 1_000);
  await mkdir(join(stores, 'etcd-snapshots'));
  await mkdir(join(stores, 'etcd-scheduled'));
  await saveSnapshot(etcd.url, join(stores, 'etcd-snapshots', 'etcd-default-20261201T000000Z.db'));
  await putKeys(etcd.url, 500, { from: 1_000 });
  // Into a folder of its own: etcdRecover's candidate must be the older snapshot, which lacks keys.
  await save('etcdSnapshot-saved', await startRunbook(client, config, 'etcdSnapshot', { mode: 'apply', approval: 'auto', clientUrl: etcd.url, snapshotDir: join(stores, 'etcd-scheduled'), keep: 2 }, options), 'Succeeded');
  await etcd.stop();
  const etcdInput = { mode: 'apply', approval: 'auto', dataDir: etcd.dataDir, clientUrl: etcd.url, peerUrl: etcd.peerUrl, service: etcd.name };
  const tree = await bucketTree(etcd.db, 'key');
  const branch = tree.pages.find((p) => p.kind === 'branch' && p.parent === tree.root) ?? tree.pages.find((p) => p.id === tree.root)!;
  await setBranchChild(etcd.db, tree.pageSize, branch.id, 0, tree.root);
  run = await startRunbook(client, config, 'etcdRecover', { ...etcdInput, snapshotDir: join(stores, 'etcd-snapshots') }, options);
  await awaiting(run);
  const { planDigest, runId } = await getProgress(client, run.workflowId);
  await approveRunbook(client, run.workflowId, { approver: 'bob', decision: 'approve', planDigest: planDigest!, runId, choice: 'snapshot' });
  await save('etcdRecover-snapshot-chosen', run, 'Succeeded');
  await etcd.stop();
  const meta = await checkBbolt(etcd.db);
  await breakMetaChecksum(etcd.db, meta.pageSize, (1 - meta.activeMeta!) as 0 | 1);
  await save('etcdRecover-other-meta', await startRunbook(client, config, 'etcdRecover', etcdInput, options), 'Succeeded');
  await etcd.stop();

  // Backups: a pack of a sqlite db and a folder, then its verification.
  const target = join(stores, 'backups');
  await mkdir(join(stores, 'uploads'), { recursive: true });
  await writeFile(join(stores, 'uploads', 'a.txt'), 'a\n');
  await execa('sqlite3', [join(stores, 'app.db'), 'CREATE TABLE t(x); INSERT INTO t VALUES (1);']);
  await mkdir(target);
  run = await startRunbook(client, config, 'fullBackup', { mode: 'apply', approval: 'auto', target, sqlite: [join(stores, 'app.db')], volumes: [join(stores, 'uploads')] }, options);
  await save('fullBackup-pack', run, 'Succeeded');
  const pack = (await readdir(target)).find((n) => n.startsWith('backup-'))!;
  await save('verifyBackup-good', await startRunbook(client, config, 'verifyBackup', { mode: 'plan', pack: join(target, pack) }, options), 'Planned');
} finally {
  await worker.stop();
  await client.connection.close();
  await service.cleanup();
  await incident.cleanup();
  await broken.cleanup();
  await rm(stores, { recursive: true, force: true });
}
