// The one path every surface (CLI, chat bot, API, tests) takes to start, approve and watch runbooks.
import { hostname } from 'node:os';
import {
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from './config';
import { describeIssues, isRunbookType, runbooks } from './workflows/inputs';
import { approveUpdate, progressQuery } from './workflows/messages';
import { RunbookName, RunbookOutcome, RunbookTarget, TriggeredBy, runbookWorkflowId } from './workflows/names';
import type { Approval, RunbookProgress, RunbookReport } from './workflows/report';

/** The request itself is wrong (unknown runbook, a field that fails validation). Nothing was started. */
export class InvalidRequestError extends Error {
  override name = 'InvalidRequestError' as const;
}

/** A guard refused the request: the target already has a run, or an approval broke a rule. */
export class RefusedError extends Error {
  override name = 'RefusedError' as const;
}

export async function connectClient(config: Config): Promise<Client> {
  const connection = await Connection.connect({ address: config.address, connectTimeout: 5000 }).catch((err: Error) => {
    throw new Error(`cannot reach Temporal at ${config.address}: ${err.message}`);
  });
  return new Client({ connection, namespace: config.namespace });
}

export interface StartOptions {
  /** Who asks; becomes TriggeredBy unless the input names `requestedBy`. */
  requestedBy: string;
  /** Where the request came from: cli, chat, api, ui, schedule. Kept in the memo for audit. */
  origin: string;
}

export interface StartedRun {
  workflowId: string;
  runId: string;
  handle: WorkflowHandle;
}

export async function startRunbook(client: Client, config: Config, runbook: string, rawInput: unknown, options: StartOptions): Promise<StartedRun> {
  if (!isRunbookType(runbook)) {
    throw new InvalidRequestError(`unknown runbook "${runbook}"; known: ${Object.keys(runbooks).join(', ')}`);
  }
  const spec = runbooks[runbook];
  const parsed = spec.input.safeParse(rawInput);
  if (!parsed.success) throw new InvalidRequestError(`invalid ${runbook} input: ${describeIssues(parsed.error)}`);
  // The target (and so the workflow ID) needs the host up front; a client with none names its own.
  const input = { ...parsed.data, host: parsed.data.host ?? hostname(), requestedBy: parsed.data.requestedBy ?? options.requestedBy };
  const target = spec.target(input, input.host);
  const workflowId = runbookWorkflowId(runbook, target);
  try {
    const handle = await client.workflow.start(runbook, {
      taskQueue: config.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      typedSearchAttributes: [
        { key: RunbookName, value: runbook },
        { key: RunbookTarget, value: target },
        { key: TriggeredBy, value: input.requestedBy },
        { key: RunbookOutcome, value: 'Running' },
      ],
      memo: { origin: options.origin, requestedBy: input.requestedBy },
    });
    return { workflowId, runId: handle.firstExecutionRunId, handle };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new RefusedError(`already running: ${workflowId}`);
    throw err;
  }
}

export interface ApproveOptions {
  approver: string;
  decision: 'approve' | 'reject';
  /** The plan the approver saw; omitted means the run's current plan, read just before approving. */
  planDigest?: string;
  comment?: string;
}

export async function approveRunbook(client: Client, workflowId: string, options: ApproveOptions): Promise<Approval> {
  const handle = client.workflow.getHandle(workflowId);
  const planDigest = options.planDigest ?? (await handle.query(progressQuery)).planDigest ?? '';
  try {
    return await handle.executeUpdate(approveUpdate, {
      args: [{ approver: options.approver, decision: options.decision, planDigest, ...(options.comment ? { comment: options.comment } : {}) }],
    });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new RefusedError(err.cause?.message ?? err.message);
    throw err;
  }
}

export async function getProgress(client: Client, workflowId: string): Promise<RunbookProgress> {
  return client.workflow.getHandle(workflowId).query(progressQuery);
}

export interface Finished {
  /** Succeeded, or a plan-only run that produced its plan. */
  ok: boolean;
  report?: RunbookReport;
  /** Why the run failed, when it carried no report (it failed before its first step). */
  error?: string;
}

/** Waits for the run's end and returns its report, also when the run failed. */
export async function waitForReport(handle: WorkflowHandle): Promise<Finished> {
  try {
    const report = (await handle.result()) as RunbookReport;
    return { ok: report.outcome === 'Succeeded' || report.outcome === 'Planned', report };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const cause = err.cause;
    const report = cause instanceof ApplicationFailure ? (cause.details?.[0] as RunbookReport | undefined) : undefined;
    return { ok: false, report, error: cause?.message ?? err.message };
  }
}
