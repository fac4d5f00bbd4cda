// `start --wait` on a terminal draws a progress bar from the running step's heartbeat; in a pipe it
// prints one line per change. And the audit of lanceRestore runs: files restored and moved, rows
// before and after. Real dev server, real worker, real LanceDB tables in git-LFS repositories; the
// terminal is a real pseudo-terminal from util-linux `script`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import type { AuditRecord } from '../src/audit';
import { barSpec } from '../src/cli/progress-bar';
import type { Config } from '../src/config';
import { buildLanceIncident, type LanceIncident } from '../src/demo/lance-incident';
import { listRuns } from '../src/runs';
import { runbooks, type LanceRestoreRequest } from '../src/workflows/inputs';
import type { Plan, RunbookReport } from '../src/workflows/report';
import { getProgress, startRunbook, waitForReport } from '../src/client';
import type { RunDetail } from '../src/runs';
import { waitFor } from './helpers/service';
import { startWorker, testClient, testConfig } from './helpers/temporal';
import { spawnWorker, type WorkerProcess } from './helpers/worker-process';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

describe('progress bars from heartbeat details', () => {
  const plan: Plan = { summary: '', actions: [], observations: { strategy: 'full-restore', currentRows: 386, missingCount: 295, restorable: { count: 295, first: [], sha256: '' }, restorableBytes: 295 * 2048 } };
  const lanceInput = runbooks.lanceRestore.input.parse({ tableDir: '/srv/db/images.lance' }) as unknown as Record<string, unknown>;
  const restartInput = runbooks.serviceRestart.input.parse({
    service: 'api',
    waitDownSeconds: 30,
  }) as unknown as Record<string, unknown>;
  // The plan's view of the declared service: its checks, with their retries.
  const restartPlan: Plan = {
    summary: '',
    actions: [],
    observations: { running: true, pid: 5, service: { name: 'api', adapter: 'systemd', checks: { root: { url: 'http://127.0.0.1:8000/', expectStatus: 200, retries: 4, delayMs: 1000, timeoutMs: 5000 } } } },
  };

  test('the Lance restore: files done of the plan\'s restorable files, bytes of their total', () => {
    assert.deepEqual(barSpec({ name: 'restore files from LFS' }, { done: 120, bytes: 245_760 }, { input: lanceInput, plan }), {
      value: 120,
      total: 295,
      unit: 'files',
      detail: '240.0 KiB of 590.0 KiB',
    });
  });

  test('the Lance diagnosis and verification: files checked of needed, rows scanned of expected', () => {
    assert.deepEqual(barSpec({ name: 'diagnose' }, { checked: 10, of: 386 }), { value: 10, total: 386, unit: 'files checked', detail: '' });
    assert.deepEqual(barSpec({ name: 'verify table' }, { scannedRows: 200 }, { input: lanceInput, plan }), { value: 200, total: 386, unit: 'rows scanned', detail: '' });
    assert.equal(barSpec({ name: 'verify table' }, { scannedRows: 200 }, { input: { ...lanceInput, expectedRows: 500 }, plan })?.total, 500, 'expectedRows wins');
    const fallback = { ...plan, observations: { strategy: 'fallback', currentRows: 386 } };
    assert.equal(barSpec({ name: 'verify table' }, { scannedRows: 200 }, { input: lanceInput, plan: fallback })?.total, undefined, 'a fallback keeps fewer rows: no total to count to');
  });

  test('wait steps: polls (two a second) of the step\'s limit; smoke checks: tries of retries + 1', () => {
    assert.deepEqual(barSpec({ name: 'wait until down' }, { polls: 7, status: 'active' }, { input: restartInput }), { value: 7, total: 60, unit: 'polls', detail: 'active', kind: 'limit' });
    assert.deepEqual(barSpec({ name: 'wait healthy' }, { polls: 3, status: 'pid 5 alive', http: { ok: false, problem: 'ECONNREFUSED' } }, { input: restartInput }), {
      value: 3,
      total: 240,
      unit: 'polls',
      detail: 'pid 5 alive, http ECONNREFUSED',
      kind: 'limit',
    });
    assert.deepEqual(barSpec({ name: 'smoke checks' }, { url: 'http://127.0.0.1:8000/', tries: 2, status: 500 }, { input: restartInput, plan: restartPlan }), {
      value: 2,
      total: 5,
      unit: 'tries',
      detail: 'http://127.0.0.1:8000/ → 500',
      kind: 'limit',
    });
    assert.equal(barSpec({ name: 'smoke checks' }, { url: 'http://127.0.0.1:8000/', tries: 2 }, { input: restartInput })?.total, undefined, 'no plan: no declared check to count to');
  });

  test('anything else: a counter without a bar, or the detail itself', () => {
    assert.equal(barSpec({ name: 'x' }, undefined), undefined);
    assert.deepEqual(barSpec({ name: 'stop' }, { waitingForExit: 123 }), { value: 0, unit: '', detail: '{"waitingForExit":123}' });
    assert.deepEqual(barSpec({ name: 'x' }, { done: 3, total: 9 }), { value: 3, total: 9, unit: '', detail: '' });
    assert.equal(barSpec({ name: 'x' }, { polls: 3 })?.total, undefined, 'no input: no limit known');
  });
});

describe('lanceRestore from the CLI: progress bar on a terminal, lines in a pipe, and the audit', () => {
  let config: Config;
  let client: Client;
  let worker: { stop(): Promise<void> };
  let work: string;
  const incidents: LanceIncident[] = [];

  before(async () => {
    config = testConfig('cli-progress');
    client = await testClient(config);
    worker = await startWorker(config);
    work = await mkdtemp(join(tmpdir(), 'runbook-cli-progress-'));
  });
  after(async () => {
    await worker?.stop();
    await client?.connection.close();
    for (const incident of incidents) await incident.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const env = () => ({ ...process.env, RUNBOOK_TASK_QUEUE: config.taskQueue });

  async function incident(options: { newRows: number; missing: number } = { newRows: 40, missing: 20 }): Promise<LanceIncident> {
    // By default 40 rows in the newest version, 20 of its data files gone from data/ (their LFS objects are not).
    const built = await buildLanceIncident(options);
    incidents.push(built);
    return built;
  }

  async function audited(workflowId: string): Promise<AuditRecord> {
    await waitFor('the run closed in visibility', async () => (await listRuns(client, { workflowId })).find((r) => r.closeTime && r.outcome !== 'Running'));
    const { stdout, exitCode, stderr } = await execa(process.execPath, ['bin/runbook.js', 'audit', '--since', '10m', '--runbook', 'lanceRestore', '--format', 'jsonl'], { cwd: repoRoot, env: env(), reject: false });
    assert.equal(exitCode, 0, stderr);
    const record = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord).find((r) => r.workflowId === workflowId);
    assert.ok(record, `audit lists ${workflowId}:\n${stdout}`);
    return record;
  }

  const haveScript = spawnSync('script', ['--version']).status === 0;

  test('on a terminal: the restore step shows a bar of files restored; the audit counts them and the rows', { skip: haveScript ? false : 'util-linux `script` is not installed' }, async () => {
    // 160 files restored at a pace of ~10 s in all: heartbeats (mirrored to the progress query at most
    // every 2 s) arrive several times while it runs.
    const table = await incident({ newRows: 200, missing: 160 });
    const input: LanceRestoreRequest = { mode: 'apply', approval: 'auto', tableDir: table.tableDir, strategy: 'full-restore', expectedRows: 200, restorePauseMs: 60 };
    const inputPath = join(work, 'restore.json');
    const reportPath = join(work, 'restore-report.json');
    await writeFile(inputPath, JSON.stringify(input));
    // stderr on the pseudo-terminal, stdout (the ID and the report) to a file.
    const command = `stty cols 160; exec '${process.execPath}' bin/runbook.js start lanceRestore --input '${inputPath}' --wait --json --as alice > '${reportPath}'`;
    const r = await execa('script', ['-qefc', command, '/dev/null'], { cwd: repoRoot, env: env(), reject: false, input: '', timeout: 120_000 });
    const screen = r.stdout;
    assert.equal(r.exitCode, 0, screen);
    const [workflowId, ...json] = (await readFile(reportPath, 'utf8')).split('\n');
    const report = JSON.parse(json.join('\n')) as RunbookReport;
    assert.equal(report.outcome, 'Succeeded', screen);

    assert.match(screen, /\x1b\[/, 'drawn with terminal control sequences');
    const frames = [...screen.matchAll(/\[4\] restore files from LFS \[([█░]+)\] (\d+)\/160 files (\d+)% ETA \S+ ([\d.]+ [KM]?i?B) of ([\d.]+ [KM]?i?B)/g)];
    assert.ok(frames.length >= 1, `a bar of files restored out of 160, with bytes:\n${JSON.stringify(screen)}`);
    for (const [, bar, done, percent] of frames) {
      assert.equal(bar!.length, 24);
      assert.equal(Number(percent), Math.floor((Number(done) / 160) * 100));
    }
    assert.match(screen, /\[4\] restore files from LFS: completed/);
    assert.doesNotMatch(screen, /restore files from LFS: running \{"done"/, 'the heartbeat is in the bar, not in the line');

    const record = await audited(workflowId!);
    assert.equal(record.origin, 'cli');
    assert.equal(record.triggeredBy, 'alice');
    assert.equal(record.outcome, 'Succeeded');
    assert.equal(record.target, report.target);
    assert.equal(record.changed, true);
    assert.equal(record.restoredFiles, 160);
    assert.ok(record.restoredBytes! > 0);
    assert.equal(record.rowsBefore, 200, 'the rows of the version Lance read (its files missing)');
    assert.equal(record.rowsAfter, 200, 'counted after the restore');
    assert.equal(record.filesMovedCount, 0, 'missing files are restored, nothing is moved');
  });

  test('in a pipe: one line per change with the heartbeat; the audit of a fallback lists the files moved and the rows lost', async () => {
    const table = await incident();
    const input: LanceRestoreRequest = { mode: 'apply', approval: 'auto', tableDir: table.tableDir, strategy: 'fallback' };
    const r = await execa(process.execPath, ['bin/runbook.js', 'start', 'lanceRestore', '--input', '-', '--wait', '--json', '--as', 'alice'], { cwd: repoRoot, env: env(), reject: false, input: JSON.stringify(input), timeout: 120_000 });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /\x1b\[/, 'no control sequences in a pipe');
    assert.match(r.stderr, /^ {2}\[2\] diagnose \/\S+: completed$/m);
    const [workflowId, ...json] = r.stdout.split('\n');
    const report = JSON.parse(json.join('\n')) as RunbookReport;
    assert.equal(report.outcome, 'Succeeded');

    const record = await audited(workflowId!);
    assert.equal(record.rowsBefore, 40);
    assert.equal(record.rowsAfter, 20, 'the newest complete version');
    assert.equal(record.filesMovedCount, report.filesMoved.length);
    assert.ok(record.filesMovedCount >= 1, 'the broken manifest was moved to quarantine');
    assert.deepEqual(record.filesMoved, report.filesMoved, 'every move, with from, to and sha256');
    assert.ok(record.filesMoved.some((f) => f.from.endsWith('.manifest') && f.to.includes('.runbook-quarantine') && /^[0-9a-f]{64}$/.test(f.sha256)));
    assert.equal(record.restoredFiles, undefined, 'a fallback restores nothing');
    assert.ok(record.notes?.some((n) => /20 rows of version 40 are no longer served/.test(n)), JSON.stringify(record.notes));

    const markdown = await execa(process.execPath, ['bin/runbook.js', 'audit', '--since', '10m', '--runbook', 'lanceRestore', '--format', 'markdown'], { cwd: repoRoot, env: env(), reject: false });
    assert.match(markdown.stdout, /\| Succeeded \| COMPLETED \| \d+ files moved; rows 40 → 20 \|/);
    assert.match(markdown.stdout, /^- \*\*Files moved\*\* \(\d+\):$/m);
    assert.match(markdown.stdout, /^ {2}- `.*\.manifest` → `.*\.runbook-quarantine.*\.manifest` \(sha256 `[0-9a-f]{16}…`\)$/m);
  });

  test('show after a worker was killed mid-restore: the stalled attempt with its last heartbeat, then the heartbeat timeout and the retry', async () => {
    const table = await incident({ newRows: 200, missing: 160 });
    const crashConfig = { ...config, taskQueue: `${config.taskQueue}-crash` };
    const workers: WorkerProcess[] = [];
    const show = async (workflowId: string) => {
      const r = await execa(process.execPath, ['bin/runbook.js', 'show', workflowId, '--json'], { cwd: repoRoot, env: { ...env(), RUNBOOK_TASK_QUEUE: crashConfig.taskQueue }, reject: false });
      assert.equal(r.exitCode, 0, r.stderr);
      return JSON.parse(r.stdout) as RunDetail;
    };
    try {
      const first = await spawnWorker(crashConfig, workers);
      const run = await startRunbook(client, crashConfig, 'lanceRestore', { mode: 'apply', approval: 'auto', strategy: 'full-restore', tableDir: table.tableDir, restorePauseMs: 100 }, { requestedBy: 'alice', origin: 'api' });
      await waitFor('the restore to be under way', async () => {
        const step = (await getProgress(client, run.workflowId).catch(() => undefined))?.steps.find((s) => s.id === 'restore');
        return ((step?.lastHeartbeat as { done?: number } | undefined)?.done ?? 0) >= 20;
      }, 60_000);
      first.process.kill('SIGKILL');
      await first.process;

      // Nobody runs the step now: `show` has the pending attempt and its last heartbeat from the server
      // (no worker answers the progress query, so step names are unknown: the activity type says it).
      const stalled = await show(run.workflowId);
      const pending = stalled.activities.find((a) => a.activityType === 'restoreLanceFiles')!;
      assert.equal(pending.activityId, 'step:3:restore');
      assert.equal(pending.state, 'running');
      assert.equal(pending.attempts, 1);
      // The worker sends heartbeats to the server at most every 2 s: this one may lag the step's own count.
      assert.ok((pending.lastHeartbeat as { done: number }).done >= 1, JSON.stringify(pending));
      assert.ok(pending.lastHeartbeatAt, JSON.stringify(pending));

      await spawnWorker(crashConfig, workers);
      assert.equal((await waitForReport(run.handle)).report?.outcome, 'Succeeded');
      const detail = await show(run.workflowId);
      const restore = detail.activities.find((a) => a.activityType === 'restoreLanceFiles')!;
      assert.equal(restore.state, 'completed');
      assert.equal(restore.attempts, 2, JSON.stringify(restore));
      const [timeout] = restore.failures;
      assert.equal(timeout?.attempt, 1);
      assert.equal(timeout?.type, 'Timeout');
      assert.match(timeout!.message, /heartbeat/i);
      // The retry resumed after the killed attempt's last heartbeat that reached the server.
      const { report } = await waitForReport(run.handle);
      const evidence = report!.steps.find((s) => s.id === 'restore')!.evidence as { restored: number; resumedAfter: number };
      assert.equal(evidence.restored, 160);
      assert.ok(evidence.resumedAfter >= 1 && evidence.resumedAfter <= (pending.lastHeartbeat as { done: number }).done, JSON.stringify(evidence));
      assert.ok(restore.durationMs! >= 30_000, 'the 30 s heartbeat timeout is part of the step');

      const text = await execa(process.execPath, ['bin/runbook.js', 'show', run.workflowId], { cwd: repoRoot, env: { ...env(), RUNBOOK_TASK_QUEUE: crashConfig.taskQueue }, reject: false });
      assert.match(text.stdout, /^ +4 +restore files from LFS +restoreLanceFiles +2 +.* completed$/m, text.stdout);
      assert.match(text.stdout, /^ +attempt 1 failed: activity Heartbeat timeout \[Timeout\]$/m, text.stdout);
    } finally {
      for (const w of workers) w.process.kill('SIGKILL');
    }
  });
});
