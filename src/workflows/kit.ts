// The runbook kit: what every runbook shares, so each runbook file reads as its steps alone.
// Validate input → pin the run to its target → plan (read-only) → approval → apply → report.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type * as activities from '../activities/index';
import { describeIssues, runbooks, type BaseInput, type RunbookType } from './inputs';
import { approveUpdate, progressQuery, stepSignal } from './messages';
import {
  RunbookName,
  RunbookOutcome,
  RunbookTarget,
  STEP_ACTIVITY_PREFIX,
  TriggeredBy,
  hostTaskQueue,
  runbookWorkflowId,
} from './names';
import type { Approval, FileMove, Outcome, Plan, RunbookProgress, RunbookReport, StepRecord } from './report';

export type Activities = typeof activities;

/** Errors that no retry can fix: the run stops at once. */
export const NON_RETRYABLE = ['InvalidInput', 'SafetyViolation', 'SmokeCheckFailed', 'WrongWorkflowId', 'VerificationFailed'];

export interface StepOptions {
  /** The step changes the host: failures after it trigger compensations, the report says `changed`. */
  mutates?: boolean;
  startToCloseTimeout?: Duration;
  heartbeatTimeout?: Duration;
  maximumAttempts?: number;
}

export interface RunbookSteps<I> {
  /** Read-only diagnosis; its result is what an approver approves. */
  plan(rb: Runbook, input: I): Promise<Plan>;
  /** The repair. Runs only in apply mode, after approval. */
  apply(rb: Runbook, input: I, plan: Plan): Promise<void>;
}

const isoNow = () => new Date(Date.now()).toISOString();

function failureMessage(err: unknown): string {
  // The activity's own words are the innermost cause; the wrappers around it only say "failed".
  let innermost: any = err;
  while (innermost?.cause?.message) innermost = innermost.cause;
  return innermost?.message || String(err);
}

export class Runbook {
  readonly steps: StepRecord[] = [];
  readonly compensations: StepRecord[] = [];
  readonly filesMoved: FileMove[] = [];
  readonly notes: string[] = [];
  changed = false;
  outcome: Outcome = 'Running';
  plan?: Plan;
  planDigest?: string;
  approval?: Approval;
  private readonly byActivityId = new Map<string, StepRecord>();
  private readonly undo: Array<{ name: string; call: (a: Activities) => Promise<unknown> }> = [];
  private readonly startedAt = isoNow();
  readonly runId = workflowInfo().runId;

  constructor(
    readonly name: RunbookType,
    readonly input: BaseInput,
    readonly target: string,
    readonly host: string,
    readonly triggeredBy: string,
  ) {
    setHandler(progressQuery, () => this.progress());
    setHandler(stepSignal, ({ activityId, attempt, heartbeat }) => {
      const record = this.byActivityId.get(activityId);
      if (!record) return;
      record.attempts = Math.max(record.attempts, attempt);
      if (heartbeat !== undefined) record.lastHeartbeat = heartbeat;
    });
    setHandler(approveUpdate, (request) => (this.approval = { ...request, at: isoNow() }), {
      validator: (request) => this.checkApproval(request),
    });
  }

  /** Runs one activity as a named step on the target's host, recording state, attempts and evidence. */
  async step<T>(name: string, call: (a: Activities) => Promise<T>, options: StepOptions = {}): Promise<T> {
    return this.record(this.steps, name, call, options);
  }

  /** Registers an undo for a change just made; run newest-first if a later step fails. */
  onFailureUndo(name: string, call: (a: Activities) => Promise<unknown>): { drop(reason: string): void } {
    const entry = { name, call };
    this.undo.unshift(entry);
    return {
      // Once verification has passed, undoing would only make things worse again.
      drop: (reason: string) => {
        const at = this.undo.indexOf(entry);
        if (at >= 0) this.undo.splice(at, 1);
        this.notes.push(`"${name}" will not run on a later failure: ${reason}`);
      },
    };
  }

  private async record<T>(
    list: StepRecord[],
    name: string,
    call: (a: Activities) => Promise<T>,
    { mutates = false, startToCloseTimeout = '30m', heartbeatTimeout = '10s', maximumAttempts = 5 }: StepOptions,
  ): Promise<T> {
    const record: StepRecord = { name, state: 'running', attempts: 0, startedAt: isoNow() };
    const activityId = `${STEP_ACTIVITY_PREFIX}${list === this.steps ? '' : 'undo-'}${list.length}`;
    list.push(record);
    this.byActivityId.set(activityId, record);
    if (mutates) this.changed = true;
    const options: ActivityOptions = {
      activityId,
      taskQueue: hostTaskQueue(workflowInfo().taskQueue, this.host),
      startToCloseTimeout,
      heartbeatTimeout,
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts, nonRetryableErrorTypes: NON_RETRYABLE },
    };
    const started = Date.now();
    try {
      const result = await call(proxyActivities<Activities>(options));
      record.state = 'completed';
      record.evidence = result;
      const moved = (result as { filesMoved?: FileMove[] } | undefined)?.filesMoved;
      if (Array.isArray(moved)) this.filesMoved.push(...moved);
      return result;
    } catch (err) {
      record.state = 'failed';
      record.error = failureMessage(err);
      throw err;
    } finally {
      record.attempts = Math.max(record.attempts, 1);
      record.endedAt = isoNow();
      record.durationMs = Date.now() - started;
    }
  }

  private checkApproval({ approver, planDigest, decision }: { approver?: string; planDigest?: string; decision?: string }): void {
    if (this.outcome !== 'AwaitingApproval') throw new Error(`this run is not awaiting approval (it is ${this.outcome})`);
    if (!approver?.trim()) throw new Error('approver is required');
    if (decision !== 'approve' && decision !== 'reject') throw new Error('decision must be "approve" or "reject"');
    if (approver === this.triggeredBy) {
      throw new Error(`self-approval refused: ${approver} requested this run; a second person must approve it`);
    }
    if (planDigest !== this.planDigest) {
      throw new Error(`stale plan: digest ${planDigest ?? '(none)'} is not the current plan's ${this.planDigest}`);
    }
  }

  setOutcome(outcome: Outcome): void {
    this.outcome = outcome;
    upsertSearchAttributes([{ key: RunbookOutcome, value: outcome }]);
  }

  progress(): RunbookProgress {
    return {
      runbook: this.name,
      target: this.target,
      mode: this.input.mode,
      outcome: this.outcome,
      triggeredBy: this.triggeredBy,
      plan: this.plan,
      planDigest: this.planDigest,
      approval: this.approval,
      steps: this.steps,
    };
  }

  report(error?: string): RunbookReport {
    const info = workflowInfo();
    return {
      ...this.progress(),
      workflowId: info.workflowId,
      runId: info.runId,
      startedAt: this.startedAt,
      endedAt: isoNow(),
      changed: this.changed,
      filesMoved: this.filesMoved,
      compensations: this.compensations,
      notes: this.notes,
      ...(error ? { error } : {}),
    };
  }

  /** Undo what was changed, newest first; an undo that fails is recorded, never hides the first error. */
  async compensate(): Promise<void> {
    for (const { name, call } of this.undo) {
      try {
        await this.record(this.compensations, name, call, { mutates: true, maximumAttempts: 3 });
      } catch {
        // recorded in the compensation's step record; carry on with the rest
      }
    }
  }
}

/** Plans are approved by digest, so the approver signs exactly what they saw. */
export function digestPlan(plan: Plan): string {
  return bytesToHex(sha256(utf8ToBytes(JSON.stringify(plan))));
}

const { resolveHost } = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 5 } });

/** Runs a runbook from raw input to report. Every runbook's workflow function calls this once. */
export async function runRunbook<I extends BaseInput>(
  name: RunbookType,
  rawInput: unknown,
  steps: RunbookSteps<I>,
): Promise<RunbookReport> {
  const spec = runbooks[name];
  const parsed = spec.input.safeParse(rawInput ?? {});
  if (!parsed.success) {
    throw ApplicationFailure.create({ type: 'InvalidInput', nonRetryable: true, message: `invalid ${name} input: ${describeIssues(parsed.error)}` });
  }
  const input = parsed.data as unknown as I;
  const host = input.host ?? (await resolveHost());
  const target = spec.target(parsed.data, host);
  const expectedId = runbookWorkflowId(name, target);
  if (workflowInfo().workflowId !== expectedId) {
    throw ApplicationFailure.create({
      type: 'WrongWorkflowId',
      nonRetryable: true,
      message: `workflow ID must be "${expectedId}" so that only one ${name} runs on ${target} at a time`,
    });
  }
  const triggeredBy = input.requestedBy ?? 'unknown';
  upsertSearchAttributes([
    { key: RunbookName, value: name },
    { key: RunbookTarget, value: target },
    { key: TriggeredBy, value: triggeredBy },
    { key: RunbookOutcome, value: 'Running' },
  ]);
  const rb = new Runbook(name, input, target, host, triggeredBy);

  try {
    rb.plan = await steps.plan(rb, input);
    rb.planDigest = digestPlan(rb.plan);
    if (input.mode === 'plan') {
      rb.setOutcome('Planned');
      return rb.report();
    }
    if (input.approval === 'required' || rb.plan.requiresApproval) {
      rb.setOutcome('AwaitingApproval');
      const answered = await condition(() => rb.approval !== undefined, input.approvalTimeout as Duration);
      if (!answered) {
        rb.setOutcome('ApprovalTimedOut');
        return rb.report(`nobody approved within ${input.approvalTimeout}; nothing was changed`);
      }
      if (rb.approval?.decision === 'reject') {
        rb.setOutcome('Rejected');
        return rb.report(`rejected by ${rb.approval.approver}; nothing was changed`);
      }
    }
    rb.setOutcome('Running');
    await steps.apply(rb, input, rb.plan);
    rb.setOutcome('Succeeded');
    return rb.report();
  } catch (err) {
    const message = failureMessage(err);
    if (rb.changed) await CancellationScope.nonCancellable(() => rb.compensate());
    if (isCancellation(err)) {
      // Cancelled (`runbook cancel`, the UI's Cancel button): the run ends CANCELLED, not FAILED.
      // Temporal keeps no result for a cancelled run: `runbook show` and the audit read its history.
      rb.setOutcome('Cancelled');
      throw err;
    }
    rb.setOutcome('Failed');
    throw ApplicationFailure.create({
      type: 'RunbookFailed',
      nonRetryable: true,
      message: `${name} on ${target} failed: ${message}`,
      details: [rb.report(message)],
      cause: err instanceof Error ? err : undefined,
    });
  }
}
