// Audit from Temporal alone: for every run, who started it and from where, who approved, the
// target, the outcome and what changed. Search attributes and memo say who and where; the report
// (the result, or a failed run's failure details) says what changed, the memo for a run without one;
// the history's update events say who approved a run that has no report (still running, cancelled,
// terminated).
// Runs are kept as long as the namespace's retention: see `retentionOf`.
import type { Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { listRuns, readRun, type RunDetail, type RunFilters } from './runs';
import type { Approval, FileMove, RunbookReport, StepRecord } from './workflows/report';

export interface AuditRecord {
  workflowId: string;
  runId: string;
  runbook: string;
  target?: string;
  mode?: string;
  /** Who asked for the run (TriggeredBy). */
  triggeredBy?: string;
  /** Where the start came from: ui, cli, chat, api, schedule. */
  origin: string;
  /** The Temporal client identity that started it (`pid@host`, the UI's, a bot's). */
  startedBy?: string;
  startTime: string;
  closeTime?: string;
  durationMs?: number;
  /** Temporal's status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT. */
  status: string;
  /** The runbook's outcome: Succeeded, Planned, Failed, Rejected, ApprovalTimedOut, AwaitingApproval, … */
  outcome?: string;
  /** The approver, when the plan was approved. */
  approvedBy?: string;
  /** The answer to the approval request, approve or reject, and where it was read from. */
  approval?: { approver: string; decision: string; planDigest: string; at?: string; comment?: string; from: 'report' | 'history' } & Proof;
  /** How the host verified the requester: the signing key, or why the name is unverified. */
  requester?: { verified: boolean; signer?: string; fingerprint?: string; reason?: string };
  cancelled?: { at: string; by?: string; reason?: string };
  terminated?: { at: string; by?: string; reason?: string };
  /** True when the run changed something on the host: from its report, else from its memo. */
  changed?: boolean;
  filesMovedCount: number;
  filesMoved: FileMove[];
  /** lanceRestore: data files restored from LFS, and their bytes. */
  restoredFiles?: number;
  restoredBytes?: number;
  /** lanceRestore: rows of the version Lance read before (diagnosis) and after (verification). */
  rowsBefore?: number;
  rowsAfter?: number;
  /** logStoreRecover: keys the engine could read before (the most of any way tried) and serves after; bytes of torn tails cut. */
  keysBefore?: number;
  keysAfter?: number;
  bytesTruncated?: number;
  /** serviceRestart and backends: the pid before the run and the pid started by it. */
  pidBefore?: number;
  pidAfter?: number;
  /** Undo steps that ran after a failure, with their state. */
  compensations?: Array<{ name: string; state: string }>;
  /** Steps that failed an attempt before succeeding, or failed: name, attempts. */
  retriedSteps?: Array<{ name: string; attempts: number; state: string }>;
  notes?: string[];
  error?: string;
}

export interface AuditOptions extends RunFilters {
  /** Runs read at once. */
  concurrency?: number;
}

/**
 * The evidence of the completed step with this stable id (StepRecord.id), whatever its label says.
 * A step without an id (a report from before steps had ids) is of unknown kind: it matches none.
 */
const stepEvidence = (steps: StepRecord[] | undefined, id: string): Record<string, unknown> | undefined => {
  const step = steps?.find((s) => s.id === id && s.state === 'completed');
  return step?.evidence && typeof step.evidence === 'object' ? (step.evidence as Record<string, unknown>) : undefined;
};

/**
 * Whether the run changed the host: its report says. A run without one (still open, cancelled,
 * terminated) changed something once a mutating step was scheduled, which the kit records then as
 * memo `changed: true`.
 */
const changedOf = (detail: RunDetail, report: RunbookReport | undefined): boolean => (report ? report.changed : detail.memo?.changed === true);
const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/** What the host verified about an approval: its signature's key, or that it took the name as given. */
interface Proof {
  verified?: boolean;
  signer?: string;
  fingerprint?: string;
}

const proofOf = (a: Approval): Proof => ({ ...(a.verified !== undefined ? { verified: a.verified } : {}), ...(a.signer ? { signer: a.signer } : {}), ...(a.fingerprint ? { fingerprint: a.fingerprint } : {}) });

/** `verified: key SHA256:… of bob`, or why it was not verified. */
export function proofText(p: Proof): string {
  if (p.verified) return `verified: key ${p.fingerprint ?? '?'} of ${p.signer ?? '?'}`;
  return p.verified === false ? 'unsigned: development trust' : 'not verified: recorded before signed approvals';
}

/** The approval answer: the report's, else the history's last accepted `approve` update. */
function approvalOf(detail: RunDetail, report?: RunbookReport): AuditRecord['approval'] {
  if (report?.approval) {
    const a = report.approval;
    return { approver: a.approver, decision: a.decision, planDigest: a.planDigest, at: a.at, ...(a.comment ? { comment: a.comment } : {}), ...proofOf(a), from: 'report' };
  }
  const update = detail.updates.filter((u) => u.name === 'approve' && !u.failure && u.result).at(-1);
  if (!update) return undefined;
  const a = update.result as Approval;
  return { approver: a.approver, decision: a.decision, planDigest: a.planDigest, at: a.at ?? update.completedAt, ...(a.comment ? { comment: a.comment } : {}), ...proofOf(a), from: 'history' };
}

/** One audit record from a run's detail (see readRun). */
export function auditRecord(detail: RunDetail): AuditRecord {
  const report = detail.report;
  const steps = report?.steps ?? detail.progress?.steps;
  const approval = approvalOf(detail, report);
  const requester = report?.requester ?? detail.progress?.requester;
  const diagnosis = stepEvidence(steps, 'diagnose');
  const restore = stepEvidence(steps, 'restore');
  const verify = stepEvidence(steps, 'verify');
  const started = stepEvidence(steps, 'start') ?? stepEvidence(steps, 'start-backend') ?? stepEvidence(steps, 'start-service');
  // describeService's evidence is { view, status }: the pid is the status's (older runs: the status itself).
  const before = num((diagnosis?.status as { pid?: unknown } | undefined)?.pid) ?? num(diagnosis?.pid);
  const input = detail.input as { mode?: string } | undefined;
  const filesMoved = report?.filesMoved ?? [];
  const retried = (steps ?? []).filter((s) => s.attempts > 1 || s.state === 'failed').map((s) => ({ name: s.name, attempts: s.attempts, state: s.state }));
  const start = Date.parse(detail.startTime);
  const record: AuditRecord = {
    workflowId: detail.workflowId,
    runId: detail.runId,
    runbook: detail.runbook ?? detail.workflowType,
    target: detail.target ?? report?.target,
    mode: report?.mode ?? detail.progress?.mode ?? input?.mode,
    triggeredBy: detail.triggeredBy ?? report?.triggeredBy,
    origin: detail.origin,
    startedBy: detail.startedBy,
    startTime: detail.startTime,
    closeTime: detail.closeTime,
    durationMs: detail.closeTime ? Date.parse(detail.closeTime) - start : undefined,
    status: detail.status,
    outcome: detail.outcome ?? report?.outcome,
    approvedBy: approval?.decision === 'approve' ? approval.approver : undefined,
    approval,
    ...(requester ? { requester: { verified: requester.verified, ...(requester.signer ? { signer: requester.signer } : {}), ...(requester.fingerprint ? { fingerprint: requester.fingerprint } : {}), ...(requester.reason ? { reason: requester.reason } : {}) } } : {}),
    cancelled: detail.cancelRequested && { at: detail.cancelRequested.at, by: detail.cancelRequested.identity, reason: detail.cancelRequested.reason },
    terminated: detail.terminated && { at: detail.terminated.at, by: detail.terminated.identity, reason: detail.terminated.reason },
    changed: changedOf(detail, report),
    filesMovedCount: filesMoved.length,
    filesMoved,
    restoredFiles: num(restore?.restored),
    restoredBytes: num(restore?.bytes),
    rowsBefore: num(diagnosis?.currentRows),
    rowsAfter: num(verify?.countRows),
    keysBefore: num((diagnosis?.predictions as { readableKeys?: unknown } | undefined)?.readableKeys),
    keysAfter: num(verify?.keys),
    bytesTruncated: num(stepEvidence(steps, 'truncate')?.bytesRemoved),
    pidBefore: num(before),
    pidAfter: num(started?.pid),
    compensations: report?.compensations.length ? report.compensations.map((c) => ({ name: c.name, state: c.state })) : undefined,
    retriedSteps: retried.length ? retried : undefined,
    notes: report?.notes.length ? report.notes : undefined,
    error: report?.error ?? detail.error,
  };
  // Leave out what a run does not have, so each line says only what is known.
  for (const key of Object.keys(record) as Array<keyof AuditRecord>) if (record[key] === undefined) delete record[key];
  return record;
}

async function mapLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const at = next++;
        results[at] = await work(items[at]!);
      }
    }),
  );
  return results;
}

/** Every run started in the window (and matching the filters), oldest start first, as audit records. */
export async function auditRuns(client: Client, options: AuditOptions = {}): Promise<AuditRecord[]> {
  const { concurrency = 8, ...filters } = options;
  const runs = (await listRuns(client, filters)).sort((a, b) => a.startTime.localeCompare(b.startTime));
  const details = await mapLimited(runs, concurrency, (run) => readRun(client, run.workflowId, run.runId, { queryTimeoutMs: run.status === 'Running' ? 3000 : 1000 }));
  return details.map(auditRecord);
}

/** How long the namespace keeps closed runs (their history and visibility record), in ms. */
export async function retentionOf(client: Client, namespace: string): Promise<number | undefined> {
  const described = await client.workflowService.describeNamespace({ namespace });
  return optionalTsToMs(described.config?.workflowExecutionRetentionTtl);
}

// ---------------------------------------------------------------------------------------------
// Formats

export function toJsonl(records: AuditRecord[]): string {
  return records.map((r) => `${JSON.stringify(r)}\n`).join('');
}

const cell = (value: unknown): string => (value === undefined || value === null || value === '' ? '' : String(value).replace(/\|/g, '\\|').replace(/\n/g, ' '));
const when = (isoTime?: string) => (isoTime ? isoTime.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s >= 2 * 86_400 && s % 86_400 === 0) return `${s / 86_400}d`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function changeSummary(r: AuditRecord): string {
  const parts: string[] = [];
  if (r.restoredFiles !== undefined) parts.push(`${r.restoredFiles} files restored`);
  if (r.filesMovedCount) parts.push(`${r.filesMovedCount} files moved`);
  if (r.rowsBefore !== undefined || r.rowsAfter !== undefined) parts.push(`rows ${r.rowsBefore ?? '?'} → ${r.rowsAfter ?? '?'}`);
  if (r.keysBefore !== undefined || r.keysAfter !== undefined) parts.push(`keys ${r.keysBefore ?? '?'} → ${r.keysAfter ?? '?'}`);
  if (r.bytesTruncated !== undefined) parts.push(`${r.bytesTruncated} bytes truncated`);
  if (r.pidAfter !== undefined) parts.push(`pid ${r.pidBefore ?? '-'} → ${r.pidAfter}`);
  if (!parts.length && r.changed !== undefined) parts.push(r.changed ? 'changed' : 'nothing changed');
  return parts.join('; ');
}

export function toMarkdown(records: AuditRecord[], window: { since?: Date; until?: Date; namespace?: string } = {}): string {
  const lines = [
    `# Runbook audit${window.namespace ? `: namespace ${window.namespace}` : ''}`,
    '',
    `Runs started ${window.since ? `from ${when(window.since.toISOString())} ` : ''}${window.until ? `until ${when(window.until.toISOString())}` : ''}: ${records.length}.`,
    '',
    '| Started (UTC) | Runbook | Target | Triggered by | From | Approved by | Outcome | Status | Changed | Error |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...records.map((r) =>
      `| ${[
        when(r.startTime),
        r.runbook,
        r.target,
        r.triggeredBy,
        r.origin,
        r.approval ? (r.approval.decision === 'approve' ? r.approval.approver : `rejected by ${r.approval.approver}`) : '',
        r.outcome,
        r.status,
        changeSummary(r),
        r.error,
      ].map(cell).join(' | ')} |`,
    ),
    '',
  ];
  if (records.length) lines.push('## Runs', '');
  for (const r of records) {
    lines.push(`### ${r.workflowId}`, '');
    const item = (label: string, value: unknown) => {
      if (value !== undefined && value !== '') lines.push(`- **${label}**: ${value}`);
    };
    item('Run ID', `\`${r.runId}\``);
    item('Runbook', `${r.runbook}${r.mode ? ` (${r.mode})` : ''} on \`${r.target ?? '?'}\``);
    item('Started', `${when(r.startTime)} by ${r.triggeredBy ?? 'unknown'}${r.requester ? ` (${r.requester.verified ? `verified: key ${r.requester.fingerprint} of ${r.requester.signer}` : `not verified: ${r.requester.reason ?? 'unsigned'}`})` : ''} from ${r.origin}${r.startedBy ? ` (client \`${r.startedBy}\`)` : ''}`);
    item('Closed', r.closeTime ? `${when(r.closeTime)} after ${formatDuration(r.durationMs)}` : 'still open');
    item('Outcome', `${r.outcome ?? '?'} (${r.status})`);
    if (r.approval) item(r.approval.decision === 'approve' ? 'Approved' : 'Rejected', `by ${r.approval.approver} (${proofText(r.approval)})${r.approval.at ? ` at ${when(r.approval.at)}` : ''}, plan \`${r.approval.planDigest}\`${r.approval.comment ? `: "${r.approval.comment}"` : ''}`);
    if (r.cancelled) item('Cancel requested', `${when(r.cancelled.at)}${r.cancelled.by ? ` by ${r.cancelled.by}` : ''}${r.cancelled.reason ? `: ${r.cancelled.reason}` : ''}`);
    if (r.terminated) item('Terminated', `${when(r.terminated.at)}${r.terminated.by ? ` by ${r.terminated.by}` : ''}${r.terminated.reason ? `: ${r.terminated.reason}` : ''}`);
    item('Changed', r.changed === undefined ? 'unknown' : r.changed ? 'yes' : 'no');
    item('What changed', changeSummary(r));
    if (r.restoredBytes !== undefined) item('Restored bytes', r.restoredBytes);
    if (r.retriedSteps) item('Retried or failed steps', r.retriedSteps.map((s) => `${s.name} (${s.attempts} attempts, ${s.state})`).join(', '));
    if (r.compensations) item('Undo steps', r.compensations.map((c) => `${c.name} (${c.state})`).join(', '));
    for (const note of r.notes ?? []) item('Note', note);
    item('Error', r.error);
    if (r.filesMoved.length) {
      lines.push(`- **Files moved** (${r.filesMoved.length}):`);
      for (const f of r.filesMoved.slice(0, 50)) lines.push(`  - \`${f.from}\` → \`${f.to}\` (sha256 \`${f.sha256.slice(0, 16)}…\`)`);
      if (r.filesMoved.length > 50) lines.push(`  - … and ${r.filesMoved.length - 50} more (all of them are in the jsonl format)`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
