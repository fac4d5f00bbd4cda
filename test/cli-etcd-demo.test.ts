// `runbook demo etcd` as an operator tries it: the real CLI builds incident 002 (a real etcd whose db
// gets the seed's page cycle), the run shows every candidate with what it loses and waits for a
// second person, `runbook approve` as bob (which prints the plan and its choices first) lets it
// finish, and etcd serves the keys the plan announced.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { getProgress, waitForReport } from '../src/client';
import { servedState } from '../src/engines/etcd/etcdctl';
import { pidInFile, waitFor } from './helpers/service';
import { useTestBed } from './helpers/temporal';

const bed = useTestBed('cli-etcd-demo');

const root = fileURLToPath(new URL('..', import.meta.url));
let sandbox: string;

const runbook = (args: string[]) =>
  execa(process.execPath, ['bin/runbook.js', ...args], { cwd: root, env: { ...process.env, RUNBOOK_TASK_QUEUE: bed.config.taskQueue }, reject: false });

before(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'demo-etcd-'));
});
after(async () => {
  const etcd = pidInFile(await readFile(join(sandbox, 'etcd.pid'), 'utf8').catch(() => ''));
  if (etcd !== undefined && etcd > 1) {
    try {
      process.kill(etcd);
    } catch {
      // already gone
    }
  }
  await rm(sandbox, { recursive: true, force: true });
});

test('runbook demo etcd: the seed\'s cycle, every candidate with its losses, a second person approves the least-loss one, etcd serves the announced keys', { timeout: 600_000 }, async () => {
  const demo = await runbook(['demo', 'etcd', '--dir', sandbox, '--no-wait', '--as', 'alice']);
  assert.equal(demo.exitCode, 0, demo.stderr);
  assert.match(demo.stderr, /branch page \d+ of its key bucket now points back at the bucket's root \d+/);
  const workflowId = demo.stdout.trim();
  assert.match(workflowId, /^etcdRecover:.+\/etcd:.+\/default\.etcd$/);

  await waitFor('the plan to wait for approval', async () => (await getProgress(bed.client, workflowId).catch(() => undefined))?.outcome === 'AwaitingApproval', 300_000);
  const approved = await runbook(['approve', workflowId, '--as', 'bob']);
  assert.equal(approved.exitCode, 0, approved.stderr);
  assert.match(approved.stderr, /choices \(runbook approve … --choice <id>\):\n {2}x other-meta: .*\n {2}\* surgery: clear element 0 of branch page \d+ .*\(default\)\n {2}- snapshot: restore .*500 of \d+ readable keys missing/);
  const { report, error } = await waitForReport(bed.client.workflow.getHandle(workflowId));
  assert.equal(report?.outcome, 'Succeeded', error);
  const surgery = (report!.steps.find((s) => s.id === 'diagnose')!.evidence as { candidates: Array<{ id: string; result: { liveKeys: number } }> }).candidates.find((c) => c.id === 'surgery')!;
  const url = /etcd on (http:\/\/127\.0\.0\.1:\d+)/.exec(demo.stderr)![1]!;
  assert.equal((await servedState(url)).keys, surgery.result.liveKeys, 'etcd serves exactly the keys the plan announced');
  if (process.env.DEMO_TRANSCRIPT) process.stderr.write(`${demo.stderr}\n${approved.stderr}\n${report!.notes.join('\n')}\n`);
});
