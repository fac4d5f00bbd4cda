// Past and present runs from Temporal alone: visibility (search attributes), memo and results.
// The CLI's list and audit and the chat API's list all read runs through here.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { RunbookName, RunbookOutcome, RunbookTarget, TriggeredBy } from './workflows/names';
import type { Outcome } from './workflows/report';

// One run in detail (`runbook show`, the audit) is read from its history in run-detail.ts.
export { readRun, type ActivityFailure, type ActivityRun, type HistoryEvent, type RunDetail, type UpdateRun } from './run-detail';

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
export const RUNBOOK_OUTCOMES = ['Running', 'AwaitingApproval', 'Planned', 'Succeeded', 'Failed', 'Rejected', 'ApprovalTimedOut', 'Drifted', 'Cancelled', 'CompensationFailed'] satisfies Outcome[];

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
