// One runbook across the fleet, on the production topology: `runbook start serviceRestart --hosts
// alpha,beta` from the real CLI against the cluster's frontend. Each host's run has its own line, its
// own approval (alpha's approved first, beta's still waiting and untouched until its own) and its own
// report; `runbook list` and `runbook audit` show both hosts' runs.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { execa } from 'execa';
import { getProgress, waitForReport } from '../../src/client';
import type { AuditRecord } from '../../src/audit';
import type { RunSummary } from '../../src/runs';
import { runCli, shown } from '../helpers/cli';
import { HOST_NAMES, useCluster, type HostName } from '../helpers/cluster';
import { waitFor } from '../helpers/service';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bed = useCluster();
const idOf = (host: string) => `serviceRestart:${host}/demo-api`;
const approverOf: Record<HostName, string> = { alpha: 'bob', beta: 'carol' };

/** The pid in a host's demo-api pidfile, or undefined while there is none. */
async function demoPid(host: HostName): Promise<number | undefined> {
  const text = await readFile(join(bed.hosts[host].demoDir, 'demo-api.pid'), 'utf8').catch(() => '');
  return text ? (JSON.parse(text) as { pid: number }).pid : undefined;
}

async function parentOf(pid: number): Promise<number> {
  return Number(/^PPid:\s+(\d+)$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

test('start --hosts alpha,beta from the CLI on the cluster: a line per host, each approved on its own with its own report; list and audit show both hosts\' runs', { timeout: 240_000 }, async () => {
  const env = { TEMPORAL_ADDRESS: bed.cluster.address, TEMPORAL_NAMESPACE: bed.cluster.namespace };
  const input = join(bed.cluster.dir, 'fleet-input.json');
  await writeFile(input, JSON.stringify({ mode: 'apply', approval: 'required', service: 'demo-api' }));
  const since = new Date(Date.now() - 60_000).toISOString();

  let out = '';
  let err = '';
  const cli = execa(process.execPath, ['bin/runbook.js', 'start', 'serviceRestart', '-i', input, '--hosts', 'alpha,beta', '--as', 'alice', '--wait'], {
    cwd: root,
    env: { ...process.env, RUNBOOK_TASK_QUEUE: bed.config.taskQueue, ...env },
    reject: false,
    timeout: 200_000,
    input: '',
  });
  cli.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  cli.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const seen = () => `--- stdout\n${out}\n--- stderr\n${err}`;
  const lines = () => out.split('\n').filter(Boolean);
  const resultLine = (host: string) => lines().find((l) => l.startsWith(`${host}\t`) && l !== `${host}\t${idOf(host)}`);
  const until = (what: string, ok: () => boolean) => waitFor(what, async () => ok(), 60_000).catch((e: Error) => assert.fail(`${e.message}\n${seen()}`));

  try {
    // One line per host, in the order given; each run waits for its own approval.
    await until('a line per host', () => lines().length >= 2);
    assert.deepEqual(lines().slice(0, 2), HOST_NAMES.map((h) => `${h}\t${idOf(h)}`), seen());
    for (const host of HOST_NAMES) {
      await until(`${host} to await approval`, () => err.includes(`[${host}] awaiting approval`));
      assert.match(err, new RegExp(`^\\[${host}\\]   runbook approve ${idOf(host)} --as <name> --digest [0-9a-f]{64}$`, 'm'), seen());
      assert.equal(await demoPid(host), undefined, `${host}: nothing started before approval`);
    }

    // alpha's approval ends alpha's run alone: beta's still waits, its service untouched.
    const approveAlpha = await runCli(bed.config, ['approve', idOf('alpha'), '--as', approverOf.alpha], { env });
    assert.equal(approveAlpha.exitCode, 0, shown(approveAlpha));
    await until("alpha's result line", () => resultLine('alpha') !== undefined);
    assert.match(resultLine('alpha')!, /^alpha\tSucceeded\tserviceRestart on alpha\/demo-api \(apply mode\); approved by bob \(plan [0-9a-f]{12}…\); changed yes; took \S+$/, seen());
    assert.equal(resultLine('beta'), undefined, `beta has no result yet\n${seen()}`);
    assert.equal((await getProgress(bed.client, idOf('beta'))).outcome, 'AwaitingApproval');
    assert.equal(await demoPid('beta'), undefined, "alpha's approval started nothing on beta");

    const approveBeta = await runCli(bed.config, ['approve', idOf('beta'), '--as', approverOf.beta], { env });
    assert.equal(approveBeta.exitCode, 0, shown(approveBeta));
    assert.equal((await cli).exitCode, 0, seen());
    assert.match(resultLine('beta') ?? '', /^beta\tSucceeded\tserviceRestart on beta\/demo-api \(apply mode\); approved by carol \(plan [0-9a-f]{12}…\); changed yes; took \S+$/, seen());
    assert.equal(lines().length, 4, seen());
  } finally {
    cli.kill('SIGTERM');
    await cli;
  }

  // Each report is its own host's: its approver, its steps, its service started by its own worker.
  for (const host of HOST_NAMES) {
    const { report, error } = await waitForReport(bed.client.workflow.getHandle(idOf(host)));
    assert.equal(report?.outcome, 'Succeeded', error);
    assert.equal(report?.approval?.approver, approverOf[host]);
    assert.equal(report?.workflowId, idOf(host));
    for (const step of ['stop', 'start', 'wait-healthy', 'smoke']) assert.ok(report?.steps.some((s) => s.id === step), `${host}: step ${step} in its report`);
    const pid = await demoPid(host);
    assert.ok(pid, `${host}: its pidfile names the started process`);
    assert.equal(await parentOf(pid), bed.hosts[host].pid, `${host}: started by ${host}'s worker`);
  }

  // `runbook list` and `runbook audit` show both hosts' runs.
  const list = await waitFor('both runs Succeeded in list', async () => {
    const r = await runCli(bed.config, ['list', '--triggered-by', 'alice', '--json'], { env });
    const runs = r.exitCode === 0 ? (JSON.parse(r.stdout) as RunSummary[]) : [];
    return runs.filter((run) => run.outcome === 'Succeeded').length === 2 && runs;
  });
  assert.deepEqual(list.map((r) => r.workflowId).sort(), HOST_NAMES.map(idOf), 'exactly the two runs');
  const audit = await runCli(bed.config, ['audit', '--since', since, '--triggered-by', 'alice', '--format', 'jsonl'], { env });
  assert.equal(audit.exitCode, 0, shown(audit));
  const records = audit.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
  for (const host of HOST_NAMES) {
    const record = records.find((r) => r.workflowId === idOf(host));
    assert.ok(record, `${host}'s run in the audit\n${shown(audit)}`);
    assert.equal(record.target, `${host}/demo-api`);
    assert.equal(record.outcome, 'Succeeded');
    assert.equal(record.approvedBy, approverOf[host]);
    assert.equal(record.origin, 'cli');
    assert.equal(record.changed, true);
    assert.equal(record.pidAfter, await demoPid(host), `${host}: the audit names the pid its run started`);
  }
  assert.equal(records.length, 2, shown(audit));
});
