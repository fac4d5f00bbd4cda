// The `runbook` CLI as a user runs it: bin/runbook.js as a child process against the test run's
// real Temporal server, a real in-process worker and real HTTP service processes.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { getProgress, waitForReport } from '../src/client';
import { workflowUrl, type Config } from '../src/config';
import { serviceControl } from '../src/activities/services/index';
import type { ServiceRestartRequest } from '../src/workflows/inputs';
import type { Approval, RunbookProgress, RunbookReport } from '../src/workflows/report';
import { declareCheck, makeService, servingPid, waitFor, type TestService, restartInput, runningService as startedService } from './helpers/service';
import { runCli, shown } from './helpers/cli';
import { startWorker, testClient, testConfig } from './helpers/temporal';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

let config: Config;
let client: Client;
let worker: { stop(): Promise<void> };
let inputs: string;
const services: TestService[] = [];

before(async () => {
  config = testConfig('cli');
  client = await testClient(config);
  worker = await startWorker(config);
  inputs = await mkdtemp(join(tmpdir(), 'runbook-cli-'));
});
after(async () => {
  await worker?.stop();
  await client?.connection.close();
  await Promise.all(services.map((s) => s.cleanup()));
  if (inputs) await rm(inputs, { recursive: true, force: true });
});

const runbook = (args: string[], options?: { input?: string }) => runCli(config, args, options);

const runningService = (name: string, options?: { startupDelayMs?: number }) => startedService(name, services, options);


async function inputFile(name: string, content: unknown): Promise<string> {
  const path = join(inputs, name);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const expectedId = (service: TestService) => `serviceRestart:${hostname()}/${service.spec.name}`;

/** stdout of `start --wait --json`: the workflow ID on line 1, then the report as JSON. */
function splitStartOutput(stdout: string): { workflowId: string; report: RunbookReport } {
  const [first, ...rest] = stdout.split('\n');
  return { workflowId: first!, report: JSON.parse(rest.join('\n')) as RunbookReport };
}

const notStarted = async (workflowId: string) =>
  assert.rejects(client.workflow.getHandle(workflowId).describe(), WorkflowNotFoundError, `no run ${workflowId} was started`);

describe('runbook CLI: bad input exits 2 and says what is wrong', () => {
  test('an input file that does not exist: exit 2, stderr names the file', async () => {
    const missing = join(inputs, 'no-such-input.json');
    const r = await runbook(['start', 'serviceRestart', '--input', missing]);
    assert.equal(r.exitCode, 2, shown(r));
    assert.match(r.stderr, new RegExp(`runbook: cannot read input ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), shown(r));
    assert.equal(r.stdout, '', 'no workflow ID printed');
  });

  test('an input that is not JSON: exit 2, stderr says it is not JSON', async () => {
    const path = await inputFile('not-json.json', 'mode: apply\n');
    const r = await runbook(['start', 'serviceRestart', '--input', path]);
    assert.equal(r.exitCode, 2, shown(r));
    assert.ok(r.stderr.includes(`input ${path} is not JSON`), shown(r));
    assert.equal(r.stdout, '');
  });

  test('an unknown runbook: exit 2, stderr lists the known runbooks', async () => {
    const service = await makeService('cli-unknown');
    services.push(service);
    const path = await inputFile('unknown-runbook.json', restartInput(service));
    const r = await runbook(['start', 'diskDefrag', '--input', path]);
    assert.equal(r.exitCode, 2, shown(r));
    assert.match(r.stderr, /unknown runbook "diskDefrag"; known: serviceRestart/, shown(r));
    assert.equal(r.stdout, '');
  });

  test('a relative pidFile: exit 2 naming the field, nothing started, nothing on disk changed', async () => {
    const { service, pid } = await runningService('cli-relative');
    const pidFileBefore = await readFile(service.spec.pidFile, 'utf8');
    const relative = 'relative.pid';
    const path = await inputFile('relative-pidfile.json', { ...restartInput(service), service: { ...service.spec, pidFile: relative } });
    const r = await runbook(['start', 'serviceRestart', '--input', path, '--wait', '--as', 'alice']);
    assert.equal(r.exitCode, 2, shown(r));
    assert.ok(r.stderr.includes('service.pidFile: must be an absolute path'), shown(r));
    assert.equal(r.stdout, '', 'no workflow ID printed');
    assert.equal(existsSync(join(repoRoot, relative)), false, 'no pidfile created relative to the CLI');
    assert.equal(existsSync(join(service.dir, relative)), false, 'no pidfile created next to the service');
    assert.equal(await readFile(service.spec.pidFile, 'utf8'), pidFileBefore, 'the real pidfile is untouched');
    assert.equal(await servingPid(service), pid, 'the service still answers from the same pid');
    await notStarted(expectedId(service));
  });

  test('an unknown option: exit 2, stderr names it', async () => {
    const r = await runbook(['start', 'serviceRestart', '--input', '-', '--bogus'], { input: '{}' });
    assert.equal(r.exitCode, 2, shown(r));
    assert.match(r.stderr, /unknown option '--bogus'/, shown(r));
    assert.equal(r.stdout, '');
  });
});

describe('runbook CLI: runs', () => {
  test('start --input - --wait: prints the ID, follows the steps on stderr, prints a short report; the service restarts', async () => {
    const { service, pid } = await runningService('cli-wait');
    const r = await runbook(['start', 'serviceRestart', '--input', '-', '--wait', '--as', 'alice'], { input: JSON.stringify(restartInput(service)) });
    assert.equal(r.exitCode, 0, shown(r));

    const [workflowId, ...text] = r.stdout.split('\n');
    assert.equal(workflowId, expectedId(service));
    const report = (await waitForReport(client.workflow.getHandle(workflowId!))).report!;
    assert.equal(report.outcome, 'Succeeded', shown(r));
    assert.equal(report.workflowId, workflowId);
    assert.equal(report.triggeredBy, 'alice');
    assert.deepEqual(report.steps.map((s) => [s.id, s.state]), [
      ['resolve', 'completed'],
      ['diagnose', 'completed'],
      ['stop', 'completed'],
      ['wait-down', 'completed'],
      ['start', 'completed'],
      ['wait-healthy', 'completed'],
      ['smoke', 'completed'],
    ]);

    assert.ok(r.stderr.includes(workflowUrl(config, workflowId!)), `stderr links the run in the UI\n${shown(r)}`);
    assert.match(r.stderr, /^ *\[2\] diagnose cli-wait: completed$/m, shown(r));
    assert.match(r.stderr, /^ *\[7\] smoke checks: completed$/m, shown(r));

    const newPid = await servingPid(service);
    assert.ok(newPid && newPid !== pid, `a new process serves (old ${pid}, new ${newPid})`);
    assert.equal((report.steps.find((s) => s.id === 'start')!.evidence as { pid: number }).pid, newPid, 'the report names the pid that now serves');

    // The short report: outcome, who, what changed, one row per step with state, tries, time, evidence.
    const human = text.join('\n');
    const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    assert.match(human, new RegExp(`^Succeeded: serviceRestart on ${escape(report.target)} \\(apply mode\\)$`, 'm'), human);
    assert.match(human, /^ {2}asked by +alice$/m, human);
    assert.match(human, /^ {2}changed +yes$/m, human);
    assert.match(human, /^ {4} *# +STEP +STATE +TRIES +TOOK +EVIDENCE$/m, human);
    for (const [i, step] of report.steps.entries()) {
      assert.match(human, new RegExp(`^ +${i + 1} +${escape(step.name)} +completed +${step.attempts} +\\d+\\.\\ds`, 'm'), human);
    }
    assert.match(human, new RegExp(`^ +\\d+ +start .* +completed .*pid=${newPid}\\b`, 'm'), 'the start row names the new pid');
    assert.ok(!human.trimStart().startsWith('{'), 'not JSON');
  });

  test('approval through the CLI: second start and self-approval and a stale digest are refused (exit 3); bob approves', async () => {
    const { service, pid } = await runningService('cli-approve');
    const path = await inputFile('approve.json', restartInput(service, { approval: 'required' }));

    const started = await runbook(['start', 'serviceRestart', '--input', path, '--as', 'alice']);
    assert.equal(started.exitCode, 0, shown(started));
    const id = started.stdout.trim();
    assert.equal(id, expectedId(service), 'stdout is the workflow ID and nothing else');
    assert.ok(started.stderr.includes(workflowUrl(config, id)), shown(started));
    await waitFor('the run to await approval', async () => (await getProgress(client, id).catch(() => undefined))?.outcome === 'AwaitingApproval');

    const second = await runbook(['start', 'serviceRestart', '--input', path, '--as', 'carol']);
    assert.equal(second.exitCode, 3, shown(second));
    assert.ok(second.stderr.includes(`already running: ${id}`), shown(second));
    assert.equal(second.stdout, '', 'no workflow ID printed for a refused start');

    const self = await runbook(['approve', id, '--as', 'alice']);
    assert.equal(self.exitCode, 3, shown(self));
    assert.match(self.stderr, /self-approval refused: alice/, shown(self));

    const stale = await runbook(['approve', id, '--as', 'bob', '--digest', 'deadbeef']);
    assert.equal(stale.exitCode, 3, shown(stale));
    assert.match(stale.stderr, /stale plan: digest deadbeef/, shown(stale));
    assert.equal(await servingPid(service), pid, 'nothing happens before approval');

    const progress = await runbook(['progress', id]);
    assert.equal(progress.exitCode, 0, shown(progress));
    const waiting = JSON.parse(progress.stdout) as RunbookProgress;
    assert.equal(waiting.outcome, 'AwaitingApproval');
    assert.equal(waiting.triggeredBy, 'alice');
    assert.equal(waiting.target, `${hostname()}/cli-approve`);
    assert.ok(waiting.planDigest, 'progress shows the digest to approve');
    assert.deepEqual(waiting.steps.map((s) => [s.id, s.state]), [['resolve', 'completed'], ['diagnose', 'completed']]);

    const approved = await runbook(['approve', id, '--as', 'bob', '--comment', 'go']);
    assert.equal(approved.exitCode, 0, shown(approved));
    const approval = JSON.parse(approved.stdout) as Approval;
    assert.equal(approval.approver, 'bob');
    assert.equal(approval.decision, 'approve');
    assert.equal(approval.planDigest, waiting.planDigest);
    assert.equal(approval.comment, 'go');
    assert.ok(approved.stderr.includes(`plan ${waiting.planDigest}:`), `approve shows the plan it approves\n${shown(approved)}`);

    const { report } = await waitForReport(client.workflow.getHandle(id));
    assert.equal(report?.outcome, 'Succeeded');
    assert.equal(report?.approval?.approver, 'bob');
    const newPid = await servingPid(service);
    assert.ok(newPid && newPid !== pid, `a new process serves (old ${pid}, new ${newPid})`);

    const done = await runbook(['progress', id]);
    assert.equal(done.exitCode, 0, shown(done));
    const finished = JSON.parse(done.stdout) as RunbookProgress;
    assert.equal(finished.outcome, 'Succeeded');
    assert.equal(finished.approval?.approver, 'bob');
    assert.deepEqual(['stop', 'start', 'smoke'].filter((id) => finished.steps.some((s) => s.id === id)), ['stop', 'start', 'smoke'], done.stdout);
    assert.ok(finished.steps.every((s) => s.state === 'completed' && s.attempts >= 1), done.stdout);
  });

  test('a run that fails: --wait --json exits 1, stdout still carries the whole Failed report, stderr says it ended Failed', async () => {
    const { service } = await runningService('cli-fail');
    await declareCheck(service, 'no-match', { url: service.url('/'), bodyMatch: 'no-such-text', retries: 0 });
    const input = restartInput(service, { checks: ['no-match'] });
    const r = await runbook(['start', 'serviceRestart', '--input', '-', '--wait', '--json', '--as', 'alice'], { input: JSON.stringify(input) });
    assert.equal(r.exitCode, 1, shown(r));

    const { workflowId, report } = splitStartOutput(r.stdout);
    assert.equal(workflowId, expectedId(service));
    assert.equal(report.outcome, 'Failed');
    assert.match(report.error!, /body does not match \/no-such-text\//);
    assert.equal(report.steps.at(-1)?.state, 'failed');
    assert.match(r.stderr, /^ *\[7\] smoke checks: failed$/m, shown(r));
    assert.match(r.stderr, /runbook: run ended Failed: .*body does not match \/no-such-text\//, shown(r));
    assert.ok(await servingPid(service), 'the service is left running');
  });

  test('a service this host does not declare: --wait --json exits 1, the run failed naming it, nothing was touched', async () => {
    const { service, pid } = await runningService('cli-declared');
    const pidFileBefore = await readFile(service.spec.pidFile, 'utf8');
    const r = await runbook(['start', 'serviceRestart', '--input', '-', '--wait', '--json', '--as', 'alice'], { input: JSON.stringify(restartInput(service, { service: 'cli-undeclared' })) });
    assert.equal(r.exitCode, 1, shown(r));
    const { workflowId, report } = splitStartOutput(r.stdout);
    assert.equal(workflowId, `serviceRestart:${hostname()}/cli-undeclared`);
    assert.equal(report.outcome, 'Failed');
    assert.match(report.error!, /service cli-undeclared is not declared in this host's services file/);
    assert.equal(report.changed, false);
    assert.match(r.stderr, /runbook: run ended Failed: .*service cli-undeclared is not declared/, shown(r));
    assert.equal(await readFile(service.spec.pidFile, 'utf8'), pidFileBefore, 'no pidfile touched');
    assert.equal(await servingPid(service), pid, 'the declared service was not touched');
  });

  test('progress of a run: JSON with its steps', async () => {
    const { service } = await runningService('cli-progress');
    const started = await runbook(['start', 'serviceRestart', '--input', '-', '--as', 'alice'], { input: JSON.stringify(restartInput(service, { mode: 'plan' })) });
    assert.equal(started.exitCode, 0, shown(started));
    const id = started.stdout.trim();
    assert.equal((await waitForReport(client.workflow.getHandle(id))).report?.outcome, 'Planned');

    const r = await runbook(['progress', id]);
    assert.equal(r.exitCode, 0, shown(r));
    const progress = JSON.parse(r.stdout) as RunbookProgress;
    assert.equal(progress.runbook, 'serviceRestart');
    assert.equal(progress.mode, 'plan');
    assert.equal(progress.outcome, 'Planned');
    assert.deepEqual(progress.steps.map((s) => [s.id, s.state]), [['diagnose', 'completed']]);
    assert.match(progress.plan!.actions[0]!, /^stop cli-progress/);
  });
});
