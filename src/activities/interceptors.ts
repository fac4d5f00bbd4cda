// What every activity call goes through on the worker: errors of the engine layer become the
// failure types of the one vocabulary (src/workflows/failures.ts), and runbook steps report which
// attempt produced their result, so the report's attempt counts are exact without extra events.
import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { ENGINE_ERRORS, FAILURE_TYPES } from '../workflows/failures';
import { STEP_ACTIVITY_PREFIX } from '../workflows/names';

/** A step's result as the workflow receives it. */
export interface StepEnvelope<T = unknown> {
  attempt: number;
  result: T;
}

export function asFailure(err: unknown, attempt: number): unknown {
  if (err instanceof CancelledFailure) return err;
  const known = err instanceof ApplicationFailure;
  const name = known ? err.type ?? undefined : (err as Error | undefined)?.name;
  const type = known ? name : name && ENGINE_ERRORS[name];
  if (!known && !type) return err; // an unexpected error: retried, and its stack stays in the history
  const failure = known ? err : ApplicationFailure.create({ type, message: (err as Error).message, cause: err as Error });
  const retryable = type && type in FAILURE_TYPES ? FAILURE_TYPES[type as keyof typeof FAILURE_TYPES].retryable : !failure.nonRetryable;
  return ApplicationFailure.create({
    type: failure.type ?? undefined,
    message: failure.message,
    nonRetryable: failure.nonRetryable || !retryable,
    details: [...(failure.details ?? []), { attempt }],
    cause: failure.cause,
  });
}

export const stepInterceptors: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const { attempt, activityId } = ctx.info;
      try {
        const result = await next(input);
        return activityId.startsWith(STEP_ACTIVITY_PREFIX) ? ({ attempt, result } satisfies StepEnvelope) : result;
      } catch (err) {
        // Whatever stopped a cancelled step (an AbortError from a copy loop, a killed command), it
        // ends as cancelled, so the workflow sees a cancellation and not a failure.
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        throw asFailure(err, attempt);
      }
    },
  },
});
