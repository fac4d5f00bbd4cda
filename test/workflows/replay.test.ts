// Determinism guard: every recorded history of every release (test/fixtures/histories/<version>/)
// must replay on today's workflow code. A change that reorders or adds steps without `patched()`
// breaks runs that are in flight during a deploy; this test is where that shows.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';

const root = new URL('../fixtures/histories/', import.meta.url);
const recorded = (await readdir(root, { recursive: true })).filter((f) => f.endsWith('.json')).sort();

test('the recorded histories cover every branch of the kit', () => {
  const scenarios = new Set(recorded.map((f) => f.replace(/^.*\//, '').replace(/\.json$/, '')));
  for (const s of ['serviceRestart-plan', 'serviceRestart-auto', 'serviceRestart-approved', 'serviceRestart-rejected', 'serviceRestart-approval-timeout', 'serviceRestart-retried', 'serviceRestart-compensated', 'serviceRestart-cancelled', 'lanceRestore-restore', 'lanceRestore-fallback', 'logStoreRecover-truncate', 'logStoreRecover-rebuild', 'logStoreRecover-stopped', 'etcdSnapshot-saved', 'etcdRecover-snapshot-chosen', 'etcdRecover-other-meta', 'fullBackup-pack', 'verifyBackup-good']) {
    assert.ok(scenarios.has(s), `a history of ${s} is recorded`);
  }
});

for (const file of recorded) {
  test(`recorded history ${file} replays without nondeterminism`, async () => {
    const { workflowId, history } = JSON.parse(await readFile(new URL(file, root), 'utf8'));
    const bundle = process.env.RUNBOOK_WORKFLOW_BUNDLE;
    assert.ok(bundle, 'run through npm test, which builds the workflow bundle');
    await Worker.runReplayHistory({ workflowBundle: { codePath: bundle } }, historyFromJSON(history), workflowId);
  });
}
