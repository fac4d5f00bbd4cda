// Slack's side: request signatures (v0 HMAC-SHA256 over `v0:<timestamp>:<raw body>`) and the
// messages the service posts (approval request with buttons, final report).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Finished } from '../client';
import type { RunbookProgress, StepRecord } from '../workflows/report';

/** Slack's own rule: a request more than five minutes from now (either way) is refused. */
export const MAX_SKEW_SECONDS = 5 * 60;

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

export function slackSignature(secret: string, timestamp: string, rawBody: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${rawBody}`, 'utf8').digest('hex')}`;
}

/**
 * Verifies one request. `seen` remembers the signatures accepted within the window, so a captured
 * request replayed before its timestamp expires is refused too.
 */
export class SlackVerifier {
  private readonly seen = new Map<string, number>();

  constructor(private readonly secret: string, private readonly now: () => number = () => Date.now()) {}

  verify(headers: { timestamp?: string; signature?: string }, rawBody: string | undefined): SignatureCheck {
    const { timestamp, signature } = headers;
    if (!timestamp || !signature) return { ok: false, reason: 'missing X-Slack-Request-Timestamp or X-Slack-Signature' };
    if (rawBody === undefined) return { ok: false, reason: 'body is not application/x-www-form-urlencoded' };
    if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'malformed X-Slack-Request-Timestamp' };
    const nowSeconds = Math.floor(this.now() / 1000);
    if (Math.abs(nowSeconds - Number(timestamp)) > MAX_SKEW_SECONDS) {
      return { ok: false, reason: `timestamp ${timestamp} is more than ${MAX_SKEW_SECONDS} s from now (${nowSeconds})` };
    }
    const expected = Buffer.from(slackSignature(this.secret, timestamp, rawBody), 'utf8');
    const given = Buffer.from(signature, 'utf8');
    // timingSafeEqual needs equal lengths; a length mismatch is a mismatch, and says nothing secret.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature mismatch' };
    this.prune(nowSeconds);
    if (this.seen.has(signature)) return { ok: false, reason: 'replayed request (signature already used)' };
    this.seen.set(signature, Number(timestamp));
    return { ok: true };
  }

  private prune(nowSeconds: number): void {
    for (const [sig, ts] of this.seen) {
      if (Math.abs(nowSeconds - ts) > MAX_SKEW_SECONDS) this.seen.delete(sig);
    }
  }
}

/** Text for Slack mrkdwn: its three control characters escaped. */
export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

export interface SlackMessage {
  response_type?: 'ephemeral' | 'in_channel';
  replace_original?: boolean;
  text: string;
  blocks?: unknown[];
}

export const ephemeral = (text: string): SlackMessage => ({ response_type: 'ephemeral', text });

/** The value an Approve/Reject button carries back. */
export interface ButtonValue {
  workflowId: string;
  planDigest: string;
}

export function approvalRequest(workflowId: string, progress: RunbookProgress, url: string): SlackMessage {
  const value = JSON.stringify({ workflowId, planDigest: progress.planDigest ?? '' } satisfies ButtonValue);
  const plan = progress.plan;
  const actions = plan?.actions.length ? plan.actions.map((a, i) => `${i + 1}. ${esc(a)}`).join('\n') : '(no actions)';
  const title = `*${esc(progress.runbook)}* on \`${esc(progress.target)}\` awaits approval by someone other than *${esc(progress.triggeredBy)}*`;
  return {
    response_type: 'in_channel',
    replace_original: false,
    text: `${progress.runbook} on ${progress.target} awaits approval (requested by ${progress.triggeredBy}): ${url}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: clip(`${title}\n${esc(plan?.summary ?? '')}`, 3000) } },
      { type: 'section', text: { type: 'mrkdwn', text: clip(`*Plan*\n${actions}`, 3000) } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: clip(`plan \`${esc(progress.planDigest ?? '(none)')}\` · <${url}|${esc(workflowId)}>`, 3000) }] },
      {
        type: 'actions',
        elements: [
          { type: 'button', action_id: 'approve', style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value },
          { type: 'button', action_id: 'reject', style: 'danger', text: { type: 'plain_text', text: 'Reject' }, value },
        ],
      },
    ],
  };
}

const OUTCOME_MARK: Record<string, string> = {
  Succeeded: ':white_check_mark:',
  Planned: ':memo:',
  Failed: ':x:',
  Rejected: ':no_entry_sign:',
  ApprovalTimedOut: ':hourglass:',
};

function stepLine(step: StepRecord, i: number): string {
  const attempts = step.attempts > 1 ? `, ${step.attempts} attempts` : '';
  const took = step.durationMs !== undefined ? ` (${step.durationMs} ms${attempts})` : attempts ? ` (${attempts.slice(2)})` : '';
  return `${i + 1}. ${esc(step.name)}: ${step.state}${took}${step.error ? ` — ${esc(clip(step.error, 300))}` : ''}`;
}

export function finalReport(workflowId: string, finished: Finished, url: string): SlackMessage {
  const report = finished.report;
  const outcome = report?.outcome ?? 'Failed';
  const error = report?.error ?? finished.error;
  const head = `${OUTCOME_MARK[outcome] ?? ''} *${esc(report?.runbook ?? workflowId)}* on \`${esc(report?.target ?? workflowId)}\`: *${outcome}*`.trim();
  const lines = [head];
  if (report) {
    lines.push(`requested by ${esc(report.triggeredBy)}${report.approval ? `, ${report.approval.decision === 'approve' ? 'approved' : 'rejected'} by ${esc(report.approval.approver)}` : ''}; changed: ${report.changed ? 'yes' : 'no'}`);
  }
  if (error) lines.push(`error: ${esc(clip(error, 1000))}`);
  const steps = report?.steps.length ? report.steps.map(stepLine).join('\n') : '';
  const compensations = report?.compensations.length ? `\n*Undo*\n${report.compensations.map(stepLine).join('\n')}` : '';
  const notes = report?.notes.length ? `\n*Notes*\n${report.notes.map((n) => `• ${esc(n)}`).join('\n')}` : '';
  return {
    response_type: 'in_channel',
    replace_original: false,
    text: `${report ? `${report.runbook} on ${report.target}` : workflowId}: ${outcome}${error ? ` (${clip(error, 300)})` : ''} ${url}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: clip(lines.join('\n'), 3000) } },
      ...(steps || compensations || notes ? [{ type: 'section', text: { type: 'mrkdwn', text: clip(`*Steps*\n${steps || '(none)'}${compensations}${notes}`, 3000) } }] : []),
      { type: 'context', elements: [{ type: 'mrkdwn', text: clip(`<${url}|Open ${esc(workflowId)} in the Temporal UI>`, 3000) }] },
    ],
  };
}
