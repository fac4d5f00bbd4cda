// What a person signs: an approval of one plan of one run, or a request to run a runbook on an input.
// Workflow-safe (no Node built-ins), so the workflow and the host activity compute the same text.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { canonicalJson } from '../workflows/digest';

/** The SSH signature namespace: a signature made for anything else (git commits, files) never counts here. */
export const SIGNATURE_NAMESPACE = 'runbook-approval';

export interface ApprovalStatement {
  kind: 'approval';
  workflowId: string;
  runId: string;
  digest: string;
  decision: 'approve' | 'reject';
  approver: string;
  /** Which of the plan's choices the approver picked; absent: the plan's default (and the text is as before choices existed). */
  choice?: string;
}

export interface RequestStatement {
  kind: 'request';
  workflowId: string;
  runbook: string;
  inputDigest: string;
  requestedBy: string;
  /** ISO time of signing; a verifier refuses old requests, so a captured one can't be replayed later. */
  at: string;
  /**
   * Every run of this Temporal Schedule (`runbook schedule …`), and then `workflowId` is the runs'
   * workflow ID without its `-<time>`: the signature stands for as long as the schedule does, for
   * that schedule ID only. Absent: one run (and the text is as before schedules were signed).
   */
  scheduleId?: string;
}

export type Statement = ApprovalStatement | RequestStatement;

/**
 * The exact bytes signed and verified. Only the listed fields are taken, so extra properties on an
 * object (an update's comment, a spread input) can neither change the text nor ride along unsigned.
 */
export function statementText(s: Statement): string {
  if (s.kind === 'approval') {
    const { workflowId, runId, digest, decision, approver, choice } = s;
    return canonicalJson({ kind: 'approval', workflowId, runId, digest, decision, approver, ...(choice === undefined ? {} : { choice }) });
  }
  if (s.kind === 'request') {
    const { workflowId, runbook, inputDigest, requestedBy, at, scheduleId } = s;
    return canonicalJson({ kind: 'request', workflowId, runbook, inputDigest, requestedBy, at, ...(scheduleId === undefined ? {} : { scheduleId }) });
  }
  throw new Error(`unknown statement kind ${JSON.stringify((s as { kind?: unknown }).kind)}`);
}

/** The identity a statement speaks for: who approves, or who asks. */
export const statementIdentity = (s: Statement): string => (s.kind === 'approval' ? s.approver : s.requestedBy);

/**
 * sha256 hex of the input's canonical JSON without its `request` field: the input carries its own
 * signature there, which can't be part of what it signs.
 */
export function inputDigest(input: unknown): string {
  const isObject = input !== null && typeof input === 'object' && !Array.isArray(input);
  const { request: _signature, ...rest } = isObject ? (input as Record<string, unknown>) : { request: undefined };
  return bytesToHex(sha256(utf8ToBytes(canonicalJson(isObject ? rest : input))));
}
