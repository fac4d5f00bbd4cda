// One run in detail, from its workflow history: every activity with its attempts, timings,
// failures and last heartbeat; approvals (updates), signals, cancellation, and the outcome. Each
// kind of history event has its handler in one table; readRun walks the history through it.
import type { Client } from '@temporalio/client';
import type { Payload, ProtoFailure } from '@temporalio/common';
import { decodeTypedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/codec-helpers';
import type { History } from '@temporalio/common/lib/proto-utils';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import proto from '@temporalio/proto';
import { originOf } from './runs';
import { progressQuery } from './workflows/messages';
import { RunbookName, RunbookOutcome, RunbookTarget, TriggeredBy } from './workflows/names';
import type { RunbookProgress, RunbookReport } from './workflows/report';

const { EventType, PendingActivityState } = proto.temporal.api.enums.v1;

export type HistoryEvent = NonNullable<History['events']>[number];

export interface ActivityRun {
  activityId: string;
  activityType: string;
  /** `step` for a step's activity (report.steps[index]), `undo` for an undo's (report.compensations[index]). */
  kind?: 'step' | 'undo';
  index?: number;
  /** The runbook step's name, from the report (or the progress query while the run is open). */
  step?: string;
  /** The step's stable id (`stop`, `wait-healthy`), from the same record; absent in reports from before ids. */
  stepId?: string;
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

/** What the handlers share while one history is read. */
interface Reading {
  detail: RunDetail;
  /** The event's time, ISO. */
  at: string;
  /** The event's id. */
  id: string;
  /** Activities by the id of their scheduled event, which later events of the activity name. */
  activities: Map<string, ActivityRun>;
  updates: Map<string, UpdateRun>;
  decode(payloads: Payload[] | null | undefined): Promise<unknown>;
  failureOf(failure: ProtoFailure, attempt: number | undefined): Promise<ActivityFailure>;
}

type Handler = (event: HistoryEvent, r: Reading) => void | Promise<void>;
type Attributes = Extract<keyof HistoryEvent, `${string}EventAttributes`>;

/** A handler of one event kind's attributes (set on every event of that kind). */
const on =
  <K extends Attributes>(key: K, handle: (a: NonNullable<HistoryEvent[K]>, r: Reading) => void | Promise<void>): Handler =>
  (event, r) => {
    const attributes = event[key];
    return attributes ? handle(attributes as NonNullable<HistoryEvent[K]>, r) : undefined;
  };

/** The run now has Temporal's close `status`, from this event's time unless the description had one. */
const closes =
  (status: string, handle?: Handler): Handler =>
  async (event, r) => {
    await handle?.(event, r);
    r.detail.status = status;
    r.detail.closeTime ??= r.at;
  };

/** What each kind of event adds to the run; the kinds not listed add nothing. */
const handlers: Partial<Record<proto.temporal.api.enums.v1.EventType, Handler>> = {
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED]: on('workflowExecutionStartedEventAttributes', async (a, r) => {
    r.detail.startedBy = a.identity ?? undefined;
    r.detail.input = await r.decode(a.input?.payloads);
  }),

  [EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]: on('activityTaskScheduledEventAttributes', (a, r) => {
    const activityId = a.activityId ?? '';
    const step = /^step:(undo-)?(\d+)$/.exec(activityId);
    // The host's signature checks are not steps: named after what they check.
    const check = /^check:\d+:(.+)$/.exec(activityId);
    const run: ActivityRun = {
      activityId,
      activityType: a.activityType?.name ?? '?',
      ...(step ? { kind: step[1] ? ('undo' as const) : ('step' as const), index: Number(step[2]) } : {}),
      ...(check ? { step: `(${check[1]})` } : {}),
      scheduledAt: r.at,
      attempts: 0,
      state: 'scheduled',
      failures: [],
    };
    r.activities.set(r.id, run);
    r.detail.activities.push(run);
  }),
  [EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]: on('activityTaskStartedEventAttributes', async (a, r) => {
    const run = r.activities.get(String(a.scheduledEventId));
    if (!run) return;
    run.startedAt = r.at;
    run.attempts = a.attempt ?? 1;
    run.state = 'running';
    run.worker = a.identity ?? undefined;
    if (a.lastFailure) run.failures.push(await r.failureOf(a.lastFailure, run.attempts - 1));
  }),
  [EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]: on('activityTaskCompletedEventAttributes', (a, r) => {
    const run = r.activities.get(String(a.scheduledEventId));
    if (run) Object.assign(run, { state: 'completed', closedAt: r.at });
  }),
  [EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]: on('activityTaskFailedEventAttributes', async (a, r) => {
    const run = r.activities.get(String(a.scheduledEventId));
    if (!run) return;
    Object.assign(run, { state: 'failed', closedAt: r.at });
    if (a.failure) run.failures.push(await r.failureOf(a.failure, run.attempts));
  }),
  [EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT]: on('activityTaskTimedOutEventAttributes', async (a, r) => {
    const run = r.activities.get(String(a.scheduledEventId));
    if (!run) return;
    Object.assign(run, { state: 'timed out', closedAt: r.at });
    if (a.failure) run.failures.push(await r.failureOf(a.failure, run.attempts || undefined));
  }),
  [EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED]: on('activityTaskCanceledEventAttributes', (a, r) => {
    const run = r.activities.get(String(a.scheduledEventId));
    if (run) Object.assign(run, { state: 'cancelled', closedAt: r.at });
  }),

  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]: on('workflowExecutionUpdateAcceptedEventAttributes', async (a, r) => {
    const updateId = a.acceptedRequest?.meta?.updateId ?? a.protocolInstanceId ?? r.id;
    r.updates.set(updateId, {
      updateId,
      name: a.acceptedRequest?.input?.name ?? '?',
      identity: a.acceptedRequest?.meta?.identity ?? undefined,
      acceptedAt: r.at,
      request: await r.decode(a.acceptedRequest?.input?.args?.payloads),
    });
  }),
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED]: on('workflowExecutionUpdateCompletedEventAttributes', async (a, r) => {
    const update = r.updates.get(a.meta?.updateId ?? '');
    if (!update) return;
    update.completedAt = r.at;
    if (a.outcome?.failure) update.failure = failureText(a.outcome.failure);
    else update.result = await r.decode(a.outcome?.success?.payloads);
  }),
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]: on('workflowExecutionSignaledEventAttributes', (a, r) => {
    const name = a.signalName ?? '?';
    r.detail.signals.total += 1;
    r.detail.signals.byName[name] = (r.detail.signals.byName[name] ?? 0) + 1;
  }),
  [EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]: on('upsertWorkflowSearchAttributesEventAttributes', (a, r) => {
    const outcome = decodeTypedSearchAttributes(a.searchAttributes?.indexedFields).get(RunbookOutcome);
    if (outcome && r.detail.outcomes.at(-1)?.outcome !== outcome) r.detail.outcomes.push({ at: r.at, outcome });
  }),
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED]: on('workflowExecutionCancelRequestedEventAttributes', (a, r) => {
    r.detail.cancelRequested = { at: r.at, identity: a.identity || undefined, reason: a.cause || undefined };
  }),

  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED]: closes(
    'COMPLETED',
    on('workflowExecutionCompletedEventAttributes', async (a, r) => {
      r.detail.report = (await r.decode(a.result?.payloads)) as RunbookReport | undefined;
    }),
  ),
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED]: closes(
    'FAILED',
    on('workflowExecutionFailedEventAttributes', async (a, r) => {
      r.detail.report = (await r.decode(a.failure?.applicationFailureInfo?.details?.payloads)) as RunbookReport | undefined;
      r.detail.error = a.failure?.message ?? undefined;
    }),
  ),
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED]: closes('CANCELLED'),
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED]: closes(
    'TERMINATED',
    on('workflowExecutionTerminatedEventAttributes', (a, r) => {
      r.detail.terminated = { at: r.at, identity: a.identity || undefined, reason: a.reason || undefined };
      r.detail.error = `terminated${a.identity ? ` by ${a.identity}` : ''}${a.reason ? `: ${a.reason}` : ''}`;
    }),
  ),
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT]: closes('TIMED_OUT', (_, r) => {
    r.detail.error = 'the workflow timed out';
  }),
  [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW]: closes('CONTINUED_AS_NEW'),
};

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
  const reading: Reading = { detail, at: detail.startTime, id: '', activities: new Map<string, ActivityRun>(), updates: new Map<string, UpdateRun>(), decode, failureOf };
  for (const event of events) {
    const handle = event.eventType ? handlers[event.eventType] : undefined;
    if (!handle) continue;
    reading.at = iso(event.eventTime) ?? detail.startTime;
    reading.id = String(event.eventId);
    await handle(event, reading);
  }
  detail.updates = [...reading.updates.values()];

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
  // Records name their activity (kit v2: `step:<n>:<id>`); older ones are found by the index in `step:<n>`.
  const byActivity = new Map<string, { kind: 'step' | 'undo'; index: number }>();
  named?.steps.forEach((s, index) => s.activityId && byActivity.set(s.activityId, { kind: 'step', index }));
  detail.report?.compensations.forEach((s, index) => s.activityId && byActivity.set(s.activityId, { kind: 'undo', index }));
  const now = Date.now();
  for (const run of detail.activities) {
    Object.assign(run, byActivity.get(run.activityId));
    if (run.index !== undefined) {
      const record = run.kind === 'undo' ? detail.report?.compensations[run.index] : named?.steps[run.index];
      run.step = record?.name;
      if (record?.id) run.stepId = record.id;
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
