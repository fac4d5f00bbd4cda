// Progress of a running step: heartbeats (for resumption and hang detection) mirrored to the workflow
// as a signal, so the `progress` query shows attempts and the latest detail while a step runs.
import { Context, getClient, log, type Info } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { stepSignal } from '../workflows/messages';
import { STEP_ACTIVITY_PREFIX } from '../workflows/names';

const SIGNAL_EVERY_MS = 2000;
const lastSignalled = new WeakMap<Context, number>();

async function signalStep(info: Info, heartbeat?: unknown): Promise<void> {
  if (!info.activityId.startsWith(STEP_ACTIVITY_PREFIX) || !info.workflowExecution) return;
  const { workflowId, runId } = info.workflowExecution;
  try {
    await getClient().workflow.getHandle(workflowId, runId).signal(stepSignal, { activityId: info.activityId, attempt: info.attempt, heartbeat });
  } catch (err) {
    // Progress is best effort: a closed workflow or a flaky connection must not fail the step.
    log.debug('step progress signal not delivered', { error: String(err) });
  }
}

/** Heartbeat `detail` (what a retry resumes from) and show it in the run's progress. */
export function reportProgress(detail: unknown): void {
  const ctx = Context.current();
  ctx.heartbeat(detail);
  const now = Date.now();
  if (now - (lastSignalled.get(ctx) ?? 0) < SIGNAL_EVERY_MS) return;
  lastSignalled.set(ctx, now);
  void signalStep(ctx.info, detail);
}

/** Heartbeats while `work` runs, for steps that wait on one long command. */
export async function heartbeatWhile<T>(work: Promise<T>, detail: unknown): Promise<T> {
  const timer = setInterval(() => reportProgress(detail), 1000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** Tells the workflow each attempt as it starts, so retries show in progress and in the report. */
export const announceAttempts: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      lastSignalled.set(ctx, Date.now());
      await signalStep(ctx.info);
      return next(input);
    },
  },
});
