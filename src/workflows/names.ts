// Names shared by workflows, the worker and every client surface. Workflow-safe: no Node built-ins.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

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

/** A claim (src/workflows/claims.ts) is a workflow whose ID is its resource's key; IDs are limited in length, so a long path is claimed by its hash. */
export function claimWorkflowId(resourceKey: string): string {
  return resourceKey.length <= 400 ? `claim:${resourceKey}` : `claim:sha256:${bytesToHex(sha256(utf8ToBytes(resourceKey)))}`;
}

/** The claim workflow's type and the signal that ends it. */
export const claimWorkflowType = 'runbookClaim';
export const releaseSignalName = 'release';

/** The workflow task queue a host task queue (`hostTaskQueue`) belongs to, and the host. */
export function splitHostTaskQueue(queue: string): { taskQueue: string; host: string } {
  const at = queue.lastIndexOf('@');
  return { taskQueue: queue.slice(0, at), host: queue.slice(at + 1) };
}
