// Failures activities raise on purpose. Their type names are API: workflows and the kit match on them.
import { ApplicationFailure } from '@temporalio/activity';

/** The input cannot work on this host (unknown unit, missing file). Retrying will not help. */
export function invalidInput(message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type: 'InvalidInput', message, nonRetryable: true, details: details === undefined ? [] : [details] });
}

/** Going on could harm the operator's data or host. The run stops here. */
export function safetyViolation(message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type: 'SafetyViolation', message, nonRetryable: true, details: details === undefined ? [] : [details] });
}

/** The repair ran but its result does not hold (the engine does not open it, counts differ). */
export function verificationFailed(message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type: 'VerificationFailed', message, nonRetryable: true, details: details === undefined ? [] : [details] });
}

/** A wait ran out; counted from the step's first attempt, so no retry extends it. */
export function deadlineExceeded(message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type: 'DeadlineExceeded', message, nonRetryable: true, details: details === undefined ? [] : [details] });
}

/** A condition did not hold in time; retryable, since the next attempt may see it hold. */
export function notYet(message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type: 'NotYet', message, details: details === undefined ? [] : [details] });
}
