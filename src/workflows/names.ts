// Names shared by workflows, the worker and every client surface. Workflow-safe: no Node built-ins.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const RunbookName = defineSearchAttributeKey('RunbookName', SearchAttributeType.KEYWORD);
export const RunbookTarget = defineSearchAttributeKey('RunbookTarget', SearchAttributeType.KEYWORD);
export const TriggeredBy = defineSearchAttributeKey('TriggeredBy', SearchAttributeType.KEYWORD);
export const RunbookOutcome = defineSearchAttributeKey('RunbookOutcome', SearchAttributeType.KEYWORD);

export const searchAttributeKeys = [RunbookName, RunbookTarget, TriggeredBy, RunbookOutcome];

/** The workflow task queue every worker polls; activities that touch a host use `hostTaskQueue`. */
export const DEFAULT_TASK_QUEUE = 'runbooks';

export function hostTaskQueue(workflowTaskQueue: string, host: string): string {
  return `${workflowTaskQueue}@${host}`;
}

/**
 * One repair per target: the workflow ID is the runbook plus its target, started with conflict
 * policy FAIL, so a second start while one runs is refused by the server itself.
 */
export function runbookWorkflowId(runbook: string, target: string): string {
  return `${runbook}:${target}`;
}

/** Activity IDs of runbook steps carry this prefix so progress reports find their step. */
export const STEP_ACTIVITY_PREFIX = 'step:';
