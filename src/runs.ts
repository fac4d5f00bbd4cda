// Past and present runs from Temporal alone: visibility (search attributes), memo and results.
// The CLI's list and audit and the chat API's list all read runs through here.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { Payload, ProtoFailure } from '@temporalio/common';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/codec-helpers';
import type { History } from '@temporalio/common/lib/proto-utils';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import proto from '@temporalio/proto';
import { progressQuery } from './workflows/messages';
import { RunbookName, RunbookOutcome, RunbookTarget, TriggeredBy } from './workflows/names';
import type { RunbookProgress, RunbookReport } from './workflows/report';

const { PendingActivityState } = proto.temporal.api.enums.v1;

export interface RunFilters {
  /** Every run (of any ID reuse) of this workflow ID. */
  workflowId?: string;
  runbook?: string;
  target?: string;
  /** Temporal's status (Running, Completed, Failed, …) or our outcome (Succeeded, AwaitingApproval, …). */
  status?: string;
  triggeredBy?: string;
  since?: Date;
  until?: Date;
  limit?: number;
}

export interface RunSummary {
  workflowId: string;
  runId: string;
  runbook: string;
  target?: string;
  triggeredBy?: string;
  /** Where the start came from: cli, chat, api, schedule, or ui (a start without our client's memo). */
  origin: string;
  /** Temporal's view: RUNNING, COMPLETED, FAILED, … */
  status: string;
  /** The runbook's view: Succeeded, AwaitingApproval, ApprovalTimedOut, … */
  outcome?: string;
  startTime: string;
  closeTime?: string;
}

/** Temporal's execution statuses, as visibility queries spell them. */
export const TEMPORAL_STATUSES = ['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'ContinuedAsNew', 'TimedOut'];
/** The runbook's own outcomes (search attribute RunbookOutcome). */
export const RUNBOOK_OUTCOMES = ['Running', 'AwaitingApproval', 'Planned', 'Succeeded', 'Failed', 'Rejected', 'ApprovalTimedOut', 'Cancelled'];

/** True for a value `status` filters on: a Temporal status or a runbook outcome, any letter case. */
export function isKnownStatus(status: string): boolean {
  return [...TEMPORAL_STATUSES, ...RUNBOOK_OUTCOMES].some((s) => s.toLowerCase() === status.toLowerCase());
}

/** Visibility values are quoted strings: reject what would break out of the quotes. */
function quoted(field: string, value: string): string {
  if (/["\\\n]/.test(value)) throw new Error(`${field} must not contain quotes, backslashes or newlines`);
  return `"${value}"`;
}

export function runQuery(filters: RunFilters): string {
  const clauses = [`${RunbookName.name} IS NOT NULL`];
  if (filters.workflowId) clauses.push(`WorkflowId = ${quoted('workflow ID', filters.workflowId)}`);
  if (filters.runbook) clauses.push(`${RunbookName.name} = ${quoted('runbook', filters.runbook)}`);
  if (filters.target) clauses.push(`${RunbookTarget.name} = ${quoted('target', filters.target)}`);
  if (filters.triggeredBy) clauses.push(`${TriggeredBy.name} = ${quoted('triggered-by', filters.triggeredBy)}`);
  if (filters.status) {
    const temporal = TEMPORAL_STATUSES.find((s) => s.toLowerCase() === filters.status!.toLowerCase());
    const outcome = RUNBOOK_OUTCOMES.find((s) => s.toLowerCase() === filters.status!.toLowerCase()) ?? filters.status;
    clauses.push(temporal ? `ExecutionStatus = "${temporal}"` : `${RunbookOutcome.name} = ${quoted('status', outcome)}`);
  }
  if (filters.since) clauses.push(`StartTime >= "${filters.since.toISOString()}"`);
  if (filters.until) clauses.push(`StartTime <= "${filters.until.toISOString()}"`);
  return clauses.join(' AND ');
}

export function originOf(info: Pick<WorkflowExecutionInfo, 'memo' | 'searchAttributes'>): string {
  const memoOrigin = (info.memo as { origin?: unknown } | undefined)?.origin;
  if (typeof memoOrigin === 'string') return memoOrigin;
  if ((info.searchAttributes as Record<string, unknown> | undefined)?.TemporalScheduledById) return 'schedule';
  return 'ui';
}

export function summarize(info: WorkflowExecutionInfo): RunSummary {
  const sa = info.typedSearchAttributes;
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    runbook: sa.get(RunbookName) ?? info.type,
    target: sa.get(RunbookTarget),
    triggeredBy: sa.get(TriggeredBy),
    origin: originOf(info),
    status: info.status.name,
    outcome: sa.get(RunbookOutcome),
    startTime: info.startTime.toISOString(),
    closeTime: info.closeTime?.toISOString(),
  };
}

/** Newest first, as the server lists them. */
export async function listRuns(client: Client, filters: RunFilters = {}): Promise<RunSummary[]> {
  const runs: RunSummary[] = [];
  for await (const info of client.workflow.list({ query: runQuery(filters) })) {
    runs.push(summarize(info));
    if (filters.limit && runs.length >= filters.limit) break;
  }
  return runs;
}

// ---------------------------------------------------------------------------------------------
// Time arguments: ISO dates or "how long ago".

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * `2025-01-31`, `2025-01-31T12:00:00Z` (no zone: local time), `now`, or a duration ago: `90m`, `24h`,
 * `7d`, `2w`. Undefined for anything else.
 */
export function parseWhen(value: string, now: Date = new Date()): Date | undefined {
  const text = value.trim();
  if (text === 'now') return now;
  const relative = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)(?:\s+ago)?$/.exec(text);
  if (relative) return new Date(now.getTime() - Number(relative[1]) * UNIT_MS[relative[2]!]!);
  const iso = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.exec(text);
  if (!iso) return undefined;
  const [, , month, day, hour = '0', minute = '0', second = '0'] = iso;
  if (Number(month) < 1 || Number(month) > 12 || Number(day) < 1 || Number(day) > 31 || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return undefined;
  const date = new Date(text.replace(' ', 'T'));
  // 2025-02-30 parses as 2 March: a day the month does not have is a typo, not a date.
  if (Number.isNaN(date.getTime()) || (text.length === 10 && date.toISOString().slice(0, 10) !== text)) return undefined;
  return date;
}

// ---------------------------------------------------------------------------------------------
// One run in detail, from its workflow history: every activity with its attempts, timings,
// failures and last heartbeat; approvals (updates), signals, cancellation, and the outcome.

export type HistoryEvent = NonNullable<History['events']>[number];

export interface ActivityRun {
  activityId: string;
  activityType: string;
  /** `step` for `step:<n>` (report.steps[n]), `undo` for `step:undo-<n>` (report.compensations[n]). */
  kind?: 'step' | 'undo';
  index?: number;
  /** The runbook step's name, from the report (or the progress query while the run is open). */
  step?: string;
  scheduledAt: string;
  /** Start of the last attempt (Temporal records it when that attempt ends). */
  startedAt?: string;
  closedAt?: string;
  /** Scheduled to closed: every attempt and the backoff between them. */
  durationMs?: number;
  attempts: number;
  state: 'scheduled' | 'running' | 'backing off' | 'completed' | 'failed' | 'timed out' | 'cancelled';
  /** Failure messages, oldest first: the attempt before the last (as the last attempt saw it), then the final one. */
  failures: ActivityFailure[];
  /** The newest heartbeat detail known: the running attempt's, else the report's, else the one a timed-out attempt left. */
  lastHeartbeat?: unknown;
  lastHeartbeatAt?: string;
  worker?: string;
}

export interface ActivityFailure {
  attempt?: number;
  message: string;
  /** The application failure type (NotYet, SafetyViolation, …), or Timeout. */
  type?: string;
  /** A timeout's last heartbeat detail: how far the attempt had come when it stopped answering. */
  lastHeartbeat?: unknown;
}

export interface UpdateRun {
  updateId: string;
  name: string;
  identity?: string;
  acceptedAt: string;
  request?: unknown;
  completedAt?: string;
  result?: unknown;
  failure?: string;
}

export interface RunDetail {
  workflowId: string;
  runId: string;
  workflowType: string;
  taskQueue?: string;
  /** RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, CONTINUED_AS_NEW. */
  status: string;
  startTime: string;
  closeTime?: string;
  /** The Temporal client identity that started the run (`pid@host` of our CLI, the UI's, a bot's). */
  startedBy?: string;
  origin: string;
  memo?: Record<string, unknown>;
  runbook?: string;
  target?: string;
  triggeredBy?: string;
  /** The RunbookOutcome search attribute now. */
  outcome?: string;
  /** Every RunbookOutcome the run went through, with when. */
  outcomes: Array<{ at: string; outcome: string }>;
  input?: unknown;
  activities: ActivityRun[];
  updates: UpdateRun[];
  signals: { total: number; byName: Record<string, number> };
  cancelRequested?: { at: string; identity?: string; reason?: string };
  terminated?: { at: string; identity?: string; reason?: string };
  /** The final report: the result, or the failure's details for a failed run. */
  report?: RunbookReport;
  /** The progress query's answer, for a run that is open (or closed without a report), when a worker answered. */
  progress?: RunbookProgress;
  /** Why the run failed, timed out or was terminated. */
  error?: string;
  historyEvents: number;
}

const iso = (ts: Parameters<typeof optionalTsToMs>[0]): string | undefined => {
  const ms = optionalTsToMs(ts);
  return ms === undefined ? undefined : new Date(ms).toISOString();
};

/** The failure's own words, with its causes: "a: b". */
function failureText(failure: ProtoFailure | null | undefined): string {
  const parts: string[] = [];
  for (let f = failure; f; f = f.cause) if (f.message && !parts.includes(f.message)) parts.push(f.message);
  return parts.join(': ') || '(no message)';
}

const closeStatus: Array<[keyof HistoryEvent, string]> = [
  ['workflowExecutionCompletedEventAttributes', 'COMPLETED'],
  ['workflowExecutionFailedEventAttributes', 'FAILED'],
  ['workflowExecutionCanceledEventAttributes', 'CANCELLED'],
  ['workflowExecutionTerminatedEventAttributes', 'TERMINATED'],
  ['workflowExecutionTimedOutEventAttributes', 'TIMED_OUT'],
  ['workflowExecutionContinuedAsNewEventAttributes', 'CONTINUED_AS_NEW'],
];

/**
 * Reads one run: its history (activities, updates, signals, close), its visibility record, and for
 * an open run the pending activities' attempts and heartbeats. Throws WorkflowNotFoundError.
 */
export async function readRun(client: Client, workflowId: string, runId?: string, options: { queryTimeoutMs?: number } = {}): Promise<RunDetail> {
  const handle = client.workflow.getHandle(workflowId, runId);
  const description = await handle.describe();
  // Pin the run: without a run ID the handle follows the newest one, which may change under us.
  const pinned = client.workflow.getHandle(workflowId, description.runId);
  const history = await pinned.fetchHistory();
  const converter = client.options.loadedDataConverter;
  const decode = async (payloads: Payload[] | null | undefined): Promise<unknown> =>
    payloads?.length ? decodeFromPayloadsAtIndex(converter, 0, payloads) : undefined;
  const failureOf = async (failure: ProtoFailure, attempt: number | undefined): Promise<ActivityFailure> => {
    // A timeout wraps the attempt's own last failure, if it had one; its heartbeat says how far it came.
    const heartbeat = failure.timeoutFailureInfo?.lastHeartbeatDetails?.payloads;
    const type = failure.applicationFailureInfo?.type ?? (failure.timeoutFailureInfo ? 'Timeout' : failure.canceledFailureInfo ? 'Cancelled' : undefined);
    return {
      ...(attempt ? { attempt } : {}),
      message: failureText(failure),
      ...(type ? { type } : {}),
      ...(heartbeat?.length ? { lastHeartbeat: await decode(heartbeat) } : {}),
    };
  };

  const events = history.events ?? [];
  const sa = description.typedSearchAttributes;
  const detail: RunDetail = {
    workflowId,
    runId: description.runId,
    workflowType: description.type,
    taskQueue: description.taskQueue,
    status: description.status.name,
    startTime: description.startTime.toISOString(),
    closeTime: description.closeTime?.toISOString(),
    origin: originOf(description),
    memo: description.memo,
    runbook: sa.get(RunbookName),
    target: sa.get(RunbookTarget),
    triggeredBy: sa.get(TriggeredBy),
    outcome: sa.get(RunbookOutcome),
    outcomes: [],
    activities: [],
    updates: [],
    signals: { total: 0, byName: {} },
    historyEvents: events.length,
  };
  const byScheduledId = new Map<string, ActivityRun>();
  const updates = new Map<string, UpdateRun>();

  for (const event of events) {
    const at = iso(event.eventTime) ?? detail.startTime;
    const id = String(event.eventId);
    if (event.workflowExecutionStartedEventAttributes) {
      const a = event.workflowExecutionStartedEventAttributes;
      detail.startedBy = a.identity ?? undefined;
      detail.input = await decode(a.input?.payloads);
    } else if (event.activityTaskScheduledEventAttributes) {
      const a = event.activityTaskScheduledEventAttributes;
      const activityId = a.activityId ?? '';
      const step = /^step:(undo-)?(\d+)$/.exec(activityId);
      const run: ActivityRun = {
        activityId,
        activityType: a.activityType?.name ?? '?',
        ...(step ? { kind: step[1] ? ('undo' as const) : ('step' as const), index: Number(step[2]) } : {}),
        scheduledAt: at,
        attempts: 0,
        state: 'scheduled',
        failures: [],
      };
      byScheduledId.set(id, run);
      detail.activities.push(run);
    } else if (event.activityTaskStartedEventAttributes) {
      const a = event.activityTaskStartedEventAttributes;
      const run = byScheduledId.get(String(a.scheduledEventId));
      if (run) {
        run.startedAt = at;
        run.attempts = a.attempt ?? 1;
        run.state = 'running';
        run.worker = a.identity ?? undefined;
        if (a.lastFailure) run.failures.push(await failureOf(a.lastFailure, run.attempts - 1));
      }
    } else if (event.activityTaskCompletedEventAttributes) {
      const run = byScheduledId.get(String(event.activityTaskCompletedEventAttributes.scheduledEventId));
      if (run) Object.assign(run, { state: 'completed', closedAt: at });
    } else if (event.activityTaskFailedEventAttributes) {
      const a = event.activityTaskFailedEventAttributes;
      const run = byScheduledId.get(String(a.scheduledEventId));
      if (run) {
        Object.assign(run, { state: 'failed', closedAt: at });
        if (a.failure) run.failures.push(await failureOf(a.failure, run.attempts));
      }
    } else if (event.activityTaskTimedOutEventAttributes) {
      const a = event.activityTaskTimedOutEventAttributes;
      const run = byScheduledId.get(String(a.scheduledEventId));
      if (run) {
        Object.assign(run, { state: 'timed out', closedAt: at });
        if (a.failure) run.failures.push(await failureOf(a.failure, run.attempts || undefined));
      }
    } else if (event.activityTaskCanceledEventAttributes) {
      const run = byScheduledId.get(String(event.activityTaskCanceledEventAttributes.scheduledEventId));
      if (run) Object.assign(run, { state: 'cancelled', closedAt: at });
    } else if (event.workflowExecutionUpdateAcceptedEventAttributes) {
      const a = event.workflowExecutionUpdateAcceptedEventAttributes;
      const updateId = a.acceptedRequest?.meta?.updateId ?? a.protocolInstanceId ?? id;
      updates.set(updateId, {
        updateId,
        name: a.acceptedRequest?.input?.name ?? '?',
        identity: a.acceptedRequest?.meta?.identity ?? undefined,
        acceptedAt: at,
        request: await decode(a.acceptedRequest?.input?.args?.payloads),
      });
    } else if (event.workflowExecutionUpdateCompletedEventAttributes) {
      const a = event.workflowExecutionUpdateCompletedEventAttributes;
      const update = updates.get(a.meta?.updateId ?? '');
      if (update) {
        update.completedAt = at;
        if (a.outcome?.failure) update.failure = failureText(a.outcome.failure);
        else update.result = await decode(a.outcome?.success?.payloads);
      }
    } else if (event.workflowExecutionSignaledEventAttributes) {
      const name = event.workflowExecutionSignaledEventAttributes.signalName ?? '?';
      detail.signals.total += 1;
      detail.signals.byName[name] = (detail.signals.byName[name] ?? 0) + 1;
    } else if (event.upsertWorkflowSearchAttributesEventAttributes) {
      const fields = event.upsertWorkflowSearchAttributesEventAttributes.searchAttributes?.indexedFields;
      const outcome = decodeTypedSearchAttributes(fields).get(RunbookOutcome);
      if (outcome && detail.outcomes.at(-1)?.outcome !== outcome) detail.outcomes.push({ at, outcome });
    } else if (event.workflowExecutionCancelRequestedEventAttributes) {
      const a = event.workflowExecutionCancelRequestedEventAttributes;
      detail.cancelRequested = { at, identity: a.identity || undefined, reason: a.cause || undefined };
    } else if (event.workflowExecutionCompletedEventAttributes) {
      detail.report = (await decode(event.workflowExecutionCompletedEventAttributes.result?.payloads)) as RunbookReport | undefined;
    } else if (event.workflowExecutionFailedEventAttributes) {
      const failure = event.workflowExecutionFailedEventAttributes.failure;
      detail.report = (await decode(failure?.applicationFailureInfo?.details?.payloads)) as RunbookReport | undefined;
      detail.error = failure?.message ?? undefined;
    } else if (event.workflowExecutionTerminatedEventAttributes) {
      const a = event.workflowExecutionTerminatedEventAttributes;
      detail.terminated = { at, identity: a.identity || undefined, reason: a.reason || undefined };
      detail.error = `terminated${a.identity ? ` by ${a.identity}` : ''}${a.reason ? `: ${a.reason}` : ''}`;
    } else if (event.workflowExecutionTimedOutEventAttributes) {
      detail.error = 'the workflow timed out';
    }
    const closed = closeStatus.find(([field]) => event[field]);
    if (closed) {
      detail.status = closed[1];
      detail.closeTime ??= at;
    }
  }
  detail.updates = [...updates.values()];

  // An open run: attempts in progress, backoffs and heartbeats are only in its pending activities.
  for (const pending of description.raw.pendingActivities ?? []) {
    const run = [...detail.activities].reverse().find((a) => a.activityId === pending.activityId && !a.closedAt);
    if (!run) continue;
    run.attempts = pending.attempt ?? run.attempts;
    run.startedAt = iso(pending.lastStartedTime) ?? run.startedAt;
    run.state = pending.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED ? 'running' : (pending.attempt ?? 1) > 1 ? 'backing off' : 'scheduled';
    run.worker = pending.lastWorkerIdentity || run.worker;
    if (pending.heartbeatDetails?.payloads?.length) run.lastHeartbeat = await decode(pending.heartbeatDetails.payloads);
    run.lastHeartbeatAt = iso(pending.lastHeartbeatTime);
    if (pending.lastFailure) run.failures.push(await failureOf(pending.lastFailure, (pending.attempt ?? 2) - 1));
  }

  // Step names come from the report; a run without one (open, cancelled, terminated) is asked.
  if (!detail.report) {
    const timeout = options.queryTimeoutMs ?? 3000;
    if (timeout > 0) detail.progress = await client.withDeadline(Date.now() + timeout, () => pinned.query(progressQuery)).catch(() => undefined);
  }
  const named = detail.report ?? detail.progress;
  const now = Date.now();
  for (const run of detail.activities) {
    if (run.index !== undefined) {
      const record = run.kind === 'undo' ? detail.report?.compensations[run.index] : named?.steps[run.index];
      run.step = record?.name;
      // A finished step's last heartbeat is only in the report (the signal mirrored it there).
      if (run.lastHeartbeat === undefined && record?.lastHeartbeat !== undefined) run.lastHeartbeat = record.lastHeartbeat;
    }
    if (run.lastHeartbeat === undefined) {
      const timedOut = [...run.failures].reverse().find((f) => f.lastHeartbeat !== undefined);
      if (timedOut) run.lastHeartbeat = timedOut.lastHeartbeat;
    } else if (run.activityType === 'resolveHost') {
      run.step = '(pick host)';
    }
    const end = run.closedAt ? Date.parse(run.closedAt) : detail.closeTime ? Date.parse(detail.closeTime) : now;
    run.durationMs = end - Date.parse(run.scheduledAt);
  }
  return detail;
}
