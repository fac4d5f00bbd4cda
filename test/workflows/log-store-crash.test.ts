// Durability of logStoreRecover: the worker is killed with SIGKILL while the snapshot copies a store
// of a few hundred MB; a new worker resumes the run, and the snapshot it leaves is complete and holds
// the store's bytes exactly (its SHA256SUMS proven against the files).
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { getProgress, startRunbook, waitForReport } from '../../src/client';
import type { Config } from '../../src/config';
import { sha256File } from '../../src/activities/files';
import { scanStore } from '../../src/engines/logstore/storectl';
import { appendTornRecord } from '../helpers/log-store-damage';
import { writeStore } from '../helpers/log-stores';
import { waitFor } from '../helpers/service';
import { testClient, testConfig } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

let config: Config;
let client: Client;
let root: string;
const workers: WorkerProcess[] = [];

before(async () => {
  config = testConfig('logstore-crash');
  client = await testClient(config);
  root = await mkdtemp(join(tmpdir(), 'logstore-crash-'));
});
after(async () => {
  for (const w of workers) w.process.kill('SIGKILL');
  await client.connection.close();
  await rm(root, { recursive: true, force: true });
});

test('a worker killed with SIGKILL during the snapshot copy: the run resumes, the snapshot is complete and verified', async () => {
  const dir = join(root, 'big.db');
  // ~300 MB in many tables: long enough a copy to kill the worker in the middle of it.
  const written = await writeStore('goleveldb', dir, { keys: 300, tables: 30, valueBytes: 1 << 20 });
  const { manifest } = await appendTornRecord(dir);
  const before = new Map<string, string>();
  for (const name of await readdir(dir)) before.set(name, await sha256File(join(dir, name)));

  const first = await spawnWorker(config, workers);
  const run = await startRunbook(client, config, 'logStoreRecover', { mode: 'apply', approval: 'auto', dir, engine: 'goleveldb' }, { requestedBy: 'alice', origin: 'test' });
  await waitFor('the snapshot step to report a heartbeat', async () => {
    const step = (await getProgress(client, run.workflowId).catch(() => undefined))?.steps.find((s) => s.id === 'snapshot');
    return step?.state === 'running' && step.lastHeartbeat ? step : undefined;
  }, 120_000);
  first.process.kill('SIGKILL');
  assert.equal((await first.process).signal, 'SIGKILL');

  await spawnWorker(config, workers);
  const { report, error } = await waitForReport(run.handle);
  assert.equal(report?.outcome, 'Succeeded', error);
  const snapshotStep = report!.steps.find((s) => s.id === 'snapshot')!;
  assert.ok(snapshotStep.attempts >= 2, `the snapshot ran again after the kill (attempts: ${snapshotStep.attempts})`);
  const destination = (snapshotStep.evidence as { destination: string }).destination;

  // Complete: one line per file of the store as it was, each naming the bytes the store held.
  const lines = (await readFile(join(destination, 'SHA256SUMS'), 'utf8')).trim().split('\n');
  const listed = new Map(lines.map((l) => [l.slice(66), l.slice(0, 64)]));
  assert.deepEqual([...listed.keys()].sort(), [...before.keys()].sort());
  for (const [name, sha256] of before) {
    assert.equal(listed.get(name), sha256, `${name}: the list names the store's bytes`);
    assert.equal(await sha256File(join(destination, name)), sha256, `${name}: the copy holds them`);
  }
  assert.deepEqual((await readdir(destination)).filter((f) => f.startsWith('.')), [], 'no partial files left');
  assert.ok(before.has(manifest));
  assert.deepEqual(await scanStore('goleveldb', dir), { engine: 'goleveldb', keys: written.keys, digest: written.digest });
});
