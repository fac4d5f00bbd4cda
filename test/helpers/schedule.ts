// A real Temporal Schedule's runs, one at a time: trigger it, find the run it started (the newest
// of its recent actions), and wait for that run's end.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, ScheduleHandle } from '@temporalio/client';
import { waitForReport } from '../../src/client';
import type { RunbookReport } from '../../src/workflows/report';
import { waitFor } from './service';

/** Triggers `schedule` and waits for the run it starts; returns its workflow ID and end. */
export async function triggerAndWait(client: Client, schedule: ScheduleHandle): Promise<{ workflowId: string; report?: RunbookReport; error?: string }> {
  const lastAction = async () => (await schedule.describe()).info.recentActions.at(-1);
  const previous = await lastAction();
  // A scheduled run's ID ends in its start time to the second: a trigger within the second of the
  // previous run's would ask for the same ID, and the server starts nothing. Wait for the next second.
  if (previous) await sleep(Math.max(0, Math.floor(previous.takenAt.getTime() / 1000) * 1000 + 1100 - Date.now()));
  await schedule.trigger();
  const started = await waitFor('the scheduled run', async () => {
    const now = (await lastAction())?.action.workflow;
    return now && now.workflowId !== previous?.action.workflow.workflowId ? now : undefined;
  }, 30_000);
  const finished = await waitForReport(client.workflow.getHandle(started.workflowId, started.firstExecutionRunId));
  return { workflowId: started.workflowId, report: finished.report, error: finished.error };
}
