// The runbook kit: one run's steps, undo steps and report, so each runbook file reads as its steps.
// A step is one activity on the target's host; a changing step registers its undo before it runs.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  setCurrentDetails,
  TimeoutFailure,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { RetryState, TimeoutType, type Duration } from '@temporalio/common';
import type * as activities from '../activities/index';
import type { StepEnvelope } from '../activities/interceptors';
import { NON_RETRYABLE } from './failures';
import type { BaseInput, RunbookType } from './inputs';
import { RunbookOutcome, STEP_ACTIVITY_PREFIX, hostTaskQueue } from './names';
import { normalizePath } from './targets';
import type { Approval, FileMove, Outcome, Plan, RunbookProgress, RunbookReport, StepRecord, VerifiedRequester } from './report';

export type Activities = typeof activities;

export interface StepOptions {
  /** The step changes the host: the report says `changed`, cancellation waits for it to stop. */
  mutates?: boolean;
  startToCloseTimeout?: Duration;
  /** How long the step may go without a heartbeat before its attempt counts as lost. */
  heartbeatTimeout?: Duration;
  maximumAttempts?: number;
}

const isoNow = () => new Date(Date.now()).toISOString();
const REPORT_MOVES = 20;

export function failureMessage(err: unknown): string {
  // The activity's own words are the innermost cause; the wrappers around it only say "failed".
  let innermost: any = err;
  while (innermost?.cause?.message) innermost = innermost.cause;
  return innermost?.message || String(err);
}

interface Undo {
  id: string;
  label: string;
  call: (a: Activities) => Promise<unknown>;
}

export class Runbook {
  readonly steps: StepRecord[] = [];
  readonly compensations: StepRecord[] = [];
  readonly filesMoved: FileMove[] = [];
  filesMovedCount = 0;
  readonly notes: string[] = [];
  changed = false;
  outcome: Outcome = 'Running';
  plan?: Plan;
  planDigest?: string;
  approval?: Approval;
  waitingFor?: string;
  drift?: string[];
  claims: string[] = [];
  /** Set while the diagnosis runs again after approval: those steps get their own ids. */
  recheck = false;
  private readonly undo: Undo[] = [];
  private readonly startedAt = isoNow();
  private activities = 0;
  readonly runId = workflowInfo().runId;

  constructor(
    readonly name: RunbookType,
    readonly input: BaseInput,
    readonly target: string,
    readonly host: string,
    public triggeredBy: string,
  ) {}

  /** How the host verified who asked (set once, before the plan). */
  requester?: VerifiedRequester;

  /** The plan's choice apply takes: the approver's pick, else the plan's default. */
  chosen(plan: Plan): string | undefined {
    return this.approval?.choice ?? plan.defaultChoice;
  }
  private checks = 0;

  /**
   * A short read-only call on the target's host that is not a runbook step (signature checks): no
   * step record, its own activity ID, a few attempts.
   */
  async onHost<T>(what: string, call: (a: Activities) => Promise<T>): Promise<T> {
    const options: ActivityOptions = {
      taskQueue: this.queue,
      activityId: `check:${this.checks++}:${what}`,
      summary: what,
      scheduleToStartTimeout: this.input.hostWaitTimeout as Duration,
      startToCloseTimeout: '1m',
      retry: { initialInterval: '1s', maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
    };
    try {
      return await call(proxyActivities<Activities>(options));
    } catch (err) {
      throw noWorkerFailure(err, this.queue) ?? err;
    }
  }

  /** Runs one activity as a step on the target's host, recording state, attempts and evidence. */
  async step<T>(id: string, label: string, call: (a: Activities) => Promise<T>, options: StepOptions = {}): Promise<T> {
    if (this.recheck) [id, label] = [`${id}-recheck`, `${label} (again, after approval)`];
    if (options.mutates && !this.changed) {
      this.changed = true;
      upsertMemo({ changed: true });
    }
    this.say(`Running: ${label}`);
    return this.record(this.steps, { id, label, call }, this.stepOptions(label, options), options.mutates ?? false);
  }

  /**
   * Registers the undo of the change that follows, before it runs: if that change or any later step
   * fails (or the run is cancelled), undo steps run newest first. Each undo reads the real state, so
   * it is right whatever point the change reached.
   */
  onFailure(id: string, label: string, call: (a: Activities) => Promise<unknown>): { drop(reason: string): void } {
    const entry = { id, label, call };
    this.undo.unshift(entry);
    return {
      // Once verification has passed, undoing would only make things worse again.
      drop: (reason: string) => {
        const at = this.undo.indexOf(entry);
        if (at >= 0) this.undo.splice(at, 1);
        this.notes.push(`"${label}" will not run on a later failure: ${reason}`);
      },
    };
  }

  private stepOptions(label: string, { mutates = false, startToCloseTimeout = '30m', heartbeatTimeout = '30s', maximumAttempts = 5 }: StepOptions): ActivityOptions {
    return {
      taskQueue: this.queue,
      summary: label,
      scheduleToStartTimeout: this.input.hostWaitTimeout as Duration,
      startToCloseTimeout,
      heartbeatTimeout,
      // A cancelled change is waited for: undo must not start while files are still being copied.
      cancellationType: mutates ? ActivityCancellationType.WAIT_CANCELLATION_COMPLETED : ActivityCancellationType.TRY_CANCEL,
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts, nonRetryableErrorTypes: NON_RETRYABLE },
    };
  }

  /**
   * This run's folder for what it keeps (snapshots, moved files): beside `path` by default (same
   * filesystem, so moves are renames), named after it, the run's start and ID; the same on every replan.
   */
  quarantineFor(path: string, quarantineDir?: string): string {
    const normal = normalizePath(path);
    const parent = normal.replace(/\/[^/]*$/, '') || '/';
    const stamp = workflowInfo().runStartTime.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
    return `${quarantineDir ?? `${parent === '/' ? '' : parent}/.runbook-quarantine`}/${normal.replace(/^.*\//, '')}-${stamp}-${this.runId.slice(0, 8)}`;
  }

  get queue(): string {
    return hostTaskQueue(workflowInfo().taskQueue, this.host);
  }

  private async record<T>(list: StepRecord[], { id, label, call }: Undo, options: ActivityOptions, mutates: boolean): Promise<T> {
    const activityId = `${STEP_ACTIVITY_PREFIX}${this.activities++}:${id}`;
    const record: StepRecord = { id, name: label, mutates, activityId, state: 'running', attempts: 0, startedAt: isoNow() };
    list.push(record);
    const started = Date.now();
    try {
      const { attempt, result } = (await call(proxyActivities<Activities>({ ...options, activityId }))) as unknown as StepEnvelope<T>;
      record.attempts = attempt;
      record.state = 'completed';
      record.evidence = result;
      const moved = (result as { filesMoved?: { count: number; first: FileMove[] } } | undefined)?.filesMoved;
      if (moved && typeof moved.count === 'number') {
        this.filesMovedCount += moved.count;
        this.filesMoved.push(...moved.first.slice(0, Math.max(0, REPORT_MOVES - this.filesMoved.length)));
      }
      return result;
    } catch (err) {
      record.state = 'failed';
      record.attempts = attemptsOf(err, options.retry?.maximumAttempts);
      const noWorker = noWorkerFailure(err, this.queue);
      record.error = failureMessage(noWorker ?? err);
      throw noWorker ?? err;
    } finally {
      record.attempts = Math.max(record.attempts, 1);
      record.endedAt = isoNow();
      record.durationMs = Date.now() - started;
    }
  }

  /** Undo what was changed, newest first. Each undo retries until compensationTimeout. */
  async compensate(): Promise<boolean> {
    let allUndone = true;
    for (const undo of this.undo) {
      this.say(`Undoing: ${undo.label}`);
      const options: ActivityOptions = {
        taskQueue: this.queue,
        summary: `undo: ${undo.label}`,
        scheduleToCloseTimeout: this.input.compensationTimeout as Duration,
        heartbeatTimeout: '60s',
        retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE }, // no attempt limit: the timeout ends it
      };
      try {
        await this.record(this.compensations, undo, options, true);
      } catch {
        allUndone = false; // recorded in the undo's step record; carry on with the rest
      }
    }
    return allUndone;
  }

  setOutcome(outcome: Outcome): void {
    this.outcome = outcome;
    upsertSearchAttributes([{ key: RunbookOutcome, value: outcome }]);
  }

  /** The Temporal UI's "current details": what the run is doing or waiting for. */
  say(details: string): void {
    setCurrentDetails([this.plan ? `**Plan:** ${this.plan.summary}` : '', details].filter(Boolean).join('\n\n'));
  }

  progress(): RunbookProgress {
    const info = workflowInfo();
    return {
      workflowId: info.workflowId,
      runId: info.runId,
      runbook: this.name,
      target: this.target,
      mode: this.input.mode,
      outcome: this.outcome,
      triggeredBy: this.triggeredBy,
      ...(this.requester ? { requester: this.requester } : {}),
      plan: this.plan,
      planDigest: this.planDigest,
      approval: this.approval,
      ...(this.waitingFor ? { waitingFor: this.waitingFor } : {}),
      claims: this.claims,
      steps: this.steps,
    };
  }

  report(error?: string): RunbookReport {
    return {
      ...this.progress(),
      startedAt: this.startedAt,
      endedAt: isoNow(),
      changed: this.changed,
      filesMoved: this.filesMoved,
      filesMovedCount: this.filesMovedCount,
      compensations: this.compensations,
      notes: this.notes,
      ...(this.drift ? { drift: this.drift } : {}),
      ...(error ? { error } : {}),
    };
  }
}

/** How many attempts a failed step made: its own word, else what its retry state implies. */
function attemptsOf(err: unknown, maximumAttempts = 0): number {
  if (!(err instanceof ActivityFailure)) return 1;
  const details = err.cause instanceof ApplicationFailure ? err.cause.details : undefined;
  const told = (details?.at(-1) as { attempt?: number } | undefined)?.attempt;
  if (typeof told === 'number') return told;
  return err.retryState === RetryState.MAXIMUM_ATTEMPTS_REACHED && maximumAttempts > 0 ? maximumAttempts : 1;
}

/** A step nobody picked up: its host has no worker. Say so in words an operator can act on. */
function noWorkerFailure(err: unknown, queue: string): ApplicationFailure | undefined {
  if (!(err instanceof ActivityFailure) || !(err.cause instanceof TimeoutFailure)) return undefined;
  if (err.cause.timeoutType !== TimeoutType.SCHEDULE_TO_START) return undefined;
  return ApplicationFailure.create({ type: 'NoWorker', nonRetryable: true, message: `no worker serves ${queue}: start one on that host with RUNBOOK_HOST set to its name` });
}

