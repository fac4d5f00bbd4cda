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
import { temporalTlsOptions, type Config } from './config';
import proto from '@temporalio/proto';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/codec-helpers';
import { describeIssues, isRunbookType, runbooks, type RunbookType } from './workflows/inputs';
import { approveUpdate, progressQuery } from './workflows/messages';
import { RunbookName, RunbookOutcome, RunbookTarget, TriggeredBy, hostTaskQueue } from './workflows/names';
import type { Approval, RunbookProgress, RunbookReport } from './workflows/report';
import { resolveTarget, type ResolvedTarget } from './workflows/targets';
import { inputDigest, type RequestStatement } from './trust/statements';

/** The request itself is wrong (unknown runbook, a field that fails validation). Nothing was started. */
export class InvalidRequestError extends Error {
  override name = 'InvalidRequestError' as const;
}

/** A guard refused the request: the target already has a run, or an approval broke a rule. */
export class RefusedError extends Error {
  override name = 'RefusedError' as const;
}

export async function connectClient(config: Config): Promise<Client> {
  const connection = await Connection.connect({ address: config.address, tls: temporalTlsOptions(config), connectTimeout: 5000 }).catch((err: Error) => {
    throw new Error(`cannot reach Temporal at ${config.address}: ${err.message}`);
  });
  return new Client({ connection, namespace: config.namespace });
}

export interface StartOptions {
  /** Who asks; becomes TriggeredBy unless the input names `requestedBy`. */
  requestedBy: string;
  /** Where the request came from: cli, chat, api, ui, schedule. Kept in the memo for audit. */
  origin: string;
  /** Signs the request (src/trust); its signature and time go into the input as `request`. */
  sign?: (statement: RequestStatement) => Promise<string>;
}

export interface StartedRun {
  workflowId: string;
  runId: string;
  handle: WorkflowHandle;
}

/**
 * The one rule for every surface: validate, fill in the host (the input's, else this machine's),
 * and name the target, resources and workflow ID. Throws InvalidRequestError.
 */
export function prepareRun(runbook: string, rawInput: unknown, requestedBy: string): { runbook: RunbookType; input: Record<string, unknown> & { host: string; requestedBy: string }; resolved: ResolvedTarget } {
  if (!isRunbookType(runbook)) {
    throw new InvalidRequestError(`unknown runbook "${runbook}"; known: ${Object.keys(runbooks).join(', ')}`);
  }
  const parsed = runbooks[runbook].input.safeParse(rawInput);
  if (!parsed.success) throw new InvalidRequestError(`invalid ${runbook} input: ${describeIssues(parsed.error)}`);
  const input = { ...parsed.data, host: parsed.data.host ?? hostname(), requestedBy: parsed.data.requestedBy ?? requestedBy };
  return { runbook, input, resolved: resolveTarget(runbook, input) };
}

/** Pollers seen by the server within this long count as a live worker. */
const POLLER_FRESH_MS = 5 * 60_000;

const { TaskQueueKind, TaskQueueType } = proto.temporal.api.enums.v1;

/**
 * Refuses (RefusedError) when nobody serves the workflow queue or the host's queue: the run would
 * wait for nobody. A worker that has just started gets `graceMs` to make its first poll.
 */
export async function checkWorkers(client: Client, config: Config, host: string, graceMs = 5000): Promise<void> {
  const queues: Array<[string, proto.temporal.api.enums.v1.TaskQueueType]> = [
    [config.taskQueue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW],
    [hostTaskQueue(config.taskQueue, host), TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY],
  ];
  const deadline = Date.now() + graceMs;
  for (const [name, taskQueueType] of queues) {
    for (;;) {
      const { pollers } = await client.workflowService.describeTaskQueue({ namespace: config.namespace, taskQueue: { name, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL }, taskQueueType });
      if ((pollers ?? []).some((p) => Date.now() - Number(p.lastAccessTime?.seconds ?? 0) * 1000 < POLLER_FRESH_MS)) break;
      if (Date.now() > deadline) throw new RefusedError(`no worker serves ${name}: start one on ${host} (RUNBOOK_HOST=${host} npm run worker), or name another host`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/**
 * What every start of a run carries, from any surface and also in a Schedule's action: the
 * summary the UI lists, the search attributes `runbook list` filters on, and the memo (origin).
 */
export function runStartFields(resolved: ResolvedTarget, input: { requestedBy: string }, memo: { origin: string } & Record<string, unknown>) {
  return {
    staticSummary: resolved.summary,
    typedSearchAttributes: [
      { key: RunbookName, value: resolved.runbook },
      { key: RunbookTarget, value: resolved.target },
      { key: TriggeredBy, value: input.requestedBy },
      { key: RunbookOutcome, value: 'Running' },
    ],
    memo: { ...memo, requestedBy: input.requestedBy },
  };
}

/**
 * Signs the request over exactly the input the workflow gets (defaults and host filled in), minus
 * `request`, and puts the signature and its time there. `scheduleId`: once for every run of that schedule.
 */
export async function signRequest(input: Record<string, unknown> & { requestedBy: string }, about: { workflowId: string; runbook: string; scheduleId?: string }, sign: (statement: RequestStatement) => Promise<string>): Promise<void> {
  const at = new Date().toISOString();
  const signature = await sign({ kind: 'request', ...about, inputDigest: inputDigest(input), requestedBy: input.requestedBy, at });
  Object.assign(input, { request: { signature, at } });
}

export async function startRunbook(client: Client, config: Config, runbook: string, rawInput: unknown, options: StartOptions): Promise<StartedRun> {
  const { input, resolved } = prepareRun(runbook, rawInput, options.requestedBy);
  await checkWorkers(client, config, resolved.host);
  const { workflowId } = resolved;
  if (options.sign) await signRequest(input, { workflowId, runbook: resolved.runbook }, options.sign);
  try {
    const handle = await client.workflow.start(resolved.runbook, {
      taskQueue: config.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      ...runStartFields(resolved, input, { origin: options.origin }),
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
  /** The digest of the plan the approver saw: an approval binds to exactly that plan and input. */
  planDigest: string;
  /** The run the approver saw; default: the run open now (the digest still binds the plan). */
  runId?: string;
  comment?: string;
  /** One of the plan's choices by id, instead of its default. */
  choice?: string;
  /** The approver's signature over {workflowId, runId, digest, decision, approver, choice?} (src/trust). */
  signature?: string;
}

export async function approveRunbook(client: Client, workflowId: string, options: ApproveOptions): Promise<Approval> {
  if (!options.planDigest) throw new InvalidRequestError('planDigest is required: approve the plan you read, by its digest');
  const runId = options.runId ?? (await client.workflow.getHandle(workflowId).describe()).runId;
  const handle = client.workflow.getHandle(workflowId, runId);
  try {
    return await handle.executeUpdate(approveUpdate, {
      args: [{ runId, approver: options.approver, decision: options.decision, planDigest: options.planDigest, ...(options.choice === undefined ? {} : { choice: options.choice }), ...(options.comment ? { comment: options.comment } : {}), ...(options.signature ? { signature: options.signature } : {}) }],
    });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new RefusedError(err.cause?.message ?? err.message);
    throw err;
  }
}

/**
 * The run's steps from its query, merged with what only the server knows of running steps: the
 * attempt, the latest heartbeat and the last failure of each pending activity. Heartbeats stay out
 * of the history this way.
 */
export async function getProgress(client: Client, workflowId: string): Promise<RunbookProgress> {
  return progressOf(client.workflow.getHandle(workflowId));
}

export async function progressOf(handle: WorkflowHandle): Promise<RunbookProgress> {
  const [progress, description] = await Promise.all([handle.query(progressQuery), handle.describe()]);
  const converter = handle.client.options.loadedDataConverter;
  for (const pending of description.raw.pendingActivities ?? []) {
    const step = progress.steps.find((s) => s.activityId === pending.activityId);
    if (!step) continue;
    step.attempts = pending.attempt ?? step.attempts;
    const details = pending.heartbeatDetails?.payloads;
    if (details?.length) step.lastHeartbeat = await decodeFromPayloadsAtIndex(converter, 0, details);
    if (pending.lastHeartbeatTime?.seconds) step.lastHeartbeatAt = new Date(Number(pending.lastHeartbeatTime.seconds) * 1000).toISOString();
    if (pending.lastFailure?.message) step.lastFailure = pending.lastFailure.message;
  }
  return progress;
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
