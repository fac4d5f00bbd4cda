// Determinism guard: recorded runbook histories must replay on today's workflow code. A change that
// reorders or adds steps without `patched()` breaks runs that are in flight during a deploy.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';

for (const runbook of ['serviceRestart', 'lanceRestore']) {
  test(`a recorded ${runbook} history (approval, activities, progress signals) replays without nondeterminism`, async () => {
    const recorded = new URL(`../fixtures/histories/${runbook}.json`, import.meta.url);
    const { workflowId, history } = JSON.parse(await readFile(recorded, 'utf8'));
    const types = new Set<string>(history.events.map((e: { eventType: string }) => e.eventType));
    for (const t of ['EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED', 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED', 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED', 'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES']) {
      assert.ok(types.has(t), `the recorded history covers ${t}`);
    }
    const bundle = process.env.RUNBOOK_WORKFLOW_BUNDLE;
    assert.ok(bundle, 'run through npm test, which builds the workflow bundle');
    await Worker.runReplayHistory({ workflowBundle: { codePath: bundle } }, historyFromJSON(history), workflowId);
  });
}
