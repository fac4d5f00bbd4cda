// A real Temporal Schedule's runs, one at a time: trigger it, find the run it started (the newest
// of its recent actions), and wait for that run's end.
import type { Client, ScheduleHandle } from '@temporalio/client';
import { waitForReport } from '../../src/client';
import type { RunbookReport } from '../../src/workflows/report';
import { waitFor } from './service';

/** Triggers `schedule` and waits for the run it starts; returns its workflow ID and end. */
export async function triggerAndWait(client: Client, schedule: ScheduleHandle): Promise<{ workflowId: string; report?: RunbookReport; error?: string }> {
  const last = async () => (await schedule.describe()).info.recentActions.at(-1)?.action.workflow;
  const before = (await last())?.workflowId;
  await schedule.trigger();
  const started = await waitFor('the scheduled run', async () => {
    const now = await last();
    return now && now.workflowId !== before ? now : undefined;
  }, 30_000);
  const finished = await waitForReport(client.workflow.getHandle(started.workflowId, started.firstExecutionRunId));
  return { workflowId: started.workflowId, report: finished.report, error: finished.error };
}
