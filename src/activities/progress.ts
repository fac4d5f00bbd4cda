// Progress of a running step is its heartbeat: what a retry resumes from, how a lost worker is
// noticed, and how a cancellation reaches the step. Clients read the latest one from the run's
// pending activities (DescribeWorkflowExecution), so progress adds nothing to the history.
import { Context, sleep } from '@temporalio/activity';

/**
 * Each heartbeat crosses into the SDK's core (about 1 ms with its payload): a step that reports
 * every file of hundreds would spend seconds on it. The worker sends to the server at most every
 * 2 s anyway, so a detail newer than this is kept only when the step reports again.
 */
const HEARTBEAT_EVERY_MS = 100;
const lastHeartbeat = new WeakMap<Context, number>();

/** Heartbeat `detail`: what a retry resumes from, and what `runbook progress` shows. */
export function reportProgress(detail: unknown): void {
  const ctx = Context.current();
  const now = Date.now();
  if (now - (lastHeartbeat.get(ctx) ?? 0) < HEARTBEAT_EVERY_MS) return;
  lastHeartbeat.set(ctx, now);
  ctx.heartbeat(detail);
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

/** Sleeps in slices of at most 1 s with a heartbeat each, so a pause never outlives a heartbeat timeout. */
export async function pause(ms: number, detail: unknown): Promise<void> {
  for (let left = ms; left > 0; left -= 1000) {
    reportProgress(detail);
    await sleep(Math.min(left, 1000)); // rejects with the cancellation when the run is cancelled
  }
}

/** The activity's cancellation as an AbortSignal, for execa and the copy loops (none outside an activity). */
export function cancellationSignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}
