// Durability of etcdRecover: the worker (its own process) is killed with SIGKILL while the run copies
// a real etcd's member/ of a few hundred MB aside; a new worker resumes the run, the copy it keeps is
// whole and proven, and the repair completes with every key served.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { getProgress, startRunbook, waitForReport } from '../../src/client';
import type { Config } from '../../src/config';
import { sha256File } from '../../src/activities/files';
import { checkBbolt } from '../../src/format/bbolt/index';
import { breakMetaChecksum } from '../helpers/bbolt-damage';
import { makeEtcd, putKeys, served, type TestEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/service';
import { testClient, testConfig } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

let config: Config;
let client: Client;
let root: string;
let etcd: TestEtcd | undefined;
const workers: WorkerProcess[] = [];

before(async () => {
  config = testConfig('etcd-crash');
  client = await testClient(config);
  root = await mkdtemp(join(tmpdir(), 'etcd-crash-'));
});
after(async () => {
  for (const w of workers) w.process.kill('SIGKILL');
  await etcd?.stop().catch(() => undefined);
  await client.connection.close();
  await rm(root, { recursive: true, force: true });
});

test('a worker killed with SIGKILL during the copy of member/: the run resumes, the copy is whole and proven, etcd serves every key', { timeout: 600_000 }, async () => {
  etcd = await makeEtcd(root);
  await etcd.start();
  // ~250 MB of values: a db and WAL segments long enough to copy that the kill lands mid-copy.
  await putKeys(etcd.url, 25_000, { valueBytes: 10_000 });
  const before = await served(etcd.url);
  await etcd.stop();
  const report0 = await checkBbolt(etcd.db);
  await breakMetaChecksum(etcd.db, report0.pageSize, (1 - report0.activeMeta!) as 0 | 1);
  const damagedDb = await sha256File(etcd.db);

  const first = await spawnWorker(config, workers);
  const run = await startRunbook(client, config, 'etcdRecover', { mode: 'apply', approval: 'auto', dataDir: etcd.dataDir, member: etcd.member, clientUrl: etcd.url, peerUrl: etcd.peerUrl, service: etcd.name }, { requestedBy: 'alice', origin: 'test' });
  await waitFor('the copy step to report a heartbeat', async () => {
    const step = (await getProgress(client, run.workflowId).catch(() => undefined))?.steps.find((s) => s.id === 'copy-member');
    return step?.state === 'running' && step.lastHeartbeat ? step : undefined;
  }, 300_000);
  first.process.kill('SIGKILL');
  assert.equal((await first.process).signal, 'SIGKILL');

  await spawnWorker(config, workers);
  const { report, error } = await waitForReport(run.handle);
  assert.equal(report?.outcome, 'Succeeded', error);
  const copyStep = report!.steps.find((s) => s.id === 'copy-member')!;
  assert.ok(copyStep.attempts >= 2, `the copy ran again after the kill (attempts: ${copyStep.attempts})`);
  const copy = (copyStep.evidence as { destination: string }).destination;
  const sums = (await readFile(join(copy, 'SHA256SUMS'), 'utf8')).trim().split('\n');
  for (const line of sums) assert.equal(await sha256File(join(copy, line.slice(66))), line.slice(0, 64), `${line.slice(66)}: the copy holds what the list names`);
  assert.ok(sums.some((l) => l.endsWith('  snap/db') && l.startsWith(damagedDb)), 'the copy holds the damaged db as it was');
  assert.equal((await checkBbolt(etcd.db)).healthy, true);
  assert.deepEqual(await served(etcd.url), before, 'every key, at the same revision');
});
