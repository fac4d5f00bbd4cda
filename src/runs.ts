// Past and present runs from Temporal alone: visibility (search attributes), memo and results.
// The CLI's list and audit and the chat API's list all read runs through here.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { RunbookName, RunbookOutcome, RunbookTarget, TriggeredBy } from './workflows/names';

export interface RunFilters {
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

const TEMPORAL_STATUSES = ['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'ContinuedAsNew', 'TimedOut'];

/** Visibility values are quoted strings: reject what would break out of the quotes. */
function quoted(field: string, value: string): string {
  if (/["\\\n]/.test(value)) throw new Error(`${field} must not contain quotes, backslashes or newlines`);
  return `"${value}"`;
}

export function runQuery(filters: RunFilters): string {
  const clauses = [`${RunbookName.name} IS NOT NULL`];
  if (filters.runbook) clauses.push(`${RunbookName.name} = ${quoted('runbook', filters.runbook)}`);
  if (filters.target) clauses.push(`${RunbookTarget.name} = ${quoted('target', filters.target)}`);
  if (filters.triggeredBy) clauses.push(`${TriggeredBy.name} = ${quoted('triggered-by', filters.triggeredBy)}`);
  if (filters.status) {
    const temporal = TEMPORAL_STATUSES.find((s) => s.toLowerCase() === filters.status!.toLowerCase());
    clauses.push(temporal ? `ExecutionStatus = "${temporal}"` : `${RunbookOutcome.name} = ${quoted('status', filters.status)}`);
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
