// `runbook demo leveldb` as an operator tries it: the real CLI builds incident 003 (a goleveldb store
// with a damaged table block), its service answers 500, the run waits for a second person because
// the repair loses keys, `runbook approve` as bob lets it finish, and the service answers 200 with
// the key count the plan announced.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { getProgress, waitForReport } from '../src/client';
import { get, pidInFile, waitFor } from './helpers/service';
import { useTestBed } from './helpers/temporal';

const bed = useTestBed('cli-logstore-demo');

const root = fileURLToPath(new URL('..', import.meta.url));
let sandbox: string;

const runbook = (args: string[]) =>
  execa(process.execPath, ['bin/runbook.js', ...args], { cwd: root, env: { ...process.env, RUNBOOK_TASK_QUEUE: bed.config.taskQueue }, reject: false });

before(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'demo-leveldb-'));
});
after(async () => {
  const service = pidInFile(await readFile(join(sandbox, 'index-api.pid'), 'utf8').catch(() => ''));
  if (service !== undefined && service > 1) {
    try {
      process.kill(service);
    } catch {
      // already gone
    }
  }
  await rm(sandbox, { recursive: true, force: true });
});

test('runbook demo leveldb: service 500 on the damaged table, a second person approves the counted loss, service 200', async () => {
  const demo = await runbook(['demo', 'leveldb', '--dir', sandbox, '--no-wait', '--as', 'alice']);
  assert.equal(demo.exitCode, 0, demo.stderr);
  assert.match(demo.stderr, /GET \/api\/keys → 500 .*checksum mismatch/);
  const workflowId = demo.stdout.trim();
  assert.match(workflowId, /^logStoreRecover:.+\/goleveldb:.+\/index\.db$/);

  await waitFor('the plan to wait for approval', async () => (await getProgress(bed.client, workflowId).catch(() => undefined))?.outcome === 'AwaitingApproval', 120_000);
  const { plan } = await getProgress(bed.client, workflowId);
  const lost = plan!.actions.map((a) => /serves (\d+) keys; (\d+) of 20000 readable keys lost; (\S+) rebuilt/.exec(a)).find(Boolean);
  assert.ok(lost, plan!.actions.join('\n'));
  assert.ok(Number(lost[2]) > 0, 'a damaged block loses keys, and the plan says how many');

  const approved = await runbook(['approve', workflowId, '--as', 'bob']);
  assert.equal(approved.exitCode, 0, approved.stderr);
  const { report, error } = await waitForReport(bed.client.workflow.getHandle(workflowId));
  assert.equal(report?.outcome, 'Succeeded', error);
  const api = /service on (http:\/\/127\.0\.0\.1:\d+)/.exec(demo.stderr)![1]!;
  const answer = await get(`${api}/api/keys`);
  assert.ok('status' in answer && answer.status === 200, JSON.stringify(answer));
  assert.equal(JSON.parse(answer.body).keys, Number(lost[1]), 'the service serves exactly the keys the plan announced');
});
