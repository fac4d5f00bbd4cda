// A runbook run from raw input to report: validate → claim what it will change → plan (read-only)
// → approval bound to this run and this plan → diagnose again → apply → report. On failure or
// cancel, undo steps run; claims end with the run.
import { ApplicationFailure, CancellationScope, condition, isCancellation, patched, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType, type Duration } from '@temporalio/common';
import { Claims } from './claims';
import { diffFacts, digestPlan } from './digest';
import { describeIssues, runbooks, type BaseInput, type RunbookType } from './inputs';
import { failureMessage, Runbook } from './kit';
import { approveUpdate, progressQuery } from './messages';
import { RunbookName, RunbookOutcome, RunbookTarget, TriggeredBy } from './names';
import type { ApprovalRequest, Plan, RunbookReport, VerifiedApproval } from './report';
import { inputDigest } from '../trust/statements';
import { resolveTarget } from './targets';

export interface RunbookSteps<I> {
  /** Read-only diagnosis; its result is what an approver approves. Runs again after approval. */
  plan(rb: Runbook, input: I): Promise<Plan>;
  /** The repair. Runs only in apply mode, after approval, if the facts still hold. */
  apply(rb: Runbook, input: I, plan: Plan): Promise<void>;
}

/** Set by the server on runs a Temporal Schedule starts. */
const TemporalScheduledById = defineSearchAttributeKey('TemporalScheduledById', SearchAttributeType.KEYWORD);

const unprefixed = (name: string) => name.replace(/^unverified:/, '');

const invalid = (message: string) => ApplicationFailure.create({ type: 'InvalidInput', nonRetryable: true, message });
const refused = (message: string) => ApplicationFailure.create({ type: 'ApprovalRefused', nonRetryable: true, message });

function checkApproval(rb: Runbook, request: Partial<ApprovalRequest>): void {
  if (rb.approval) throw refused(`already answered: ${rb.approval.approver} ${rb.approval.decision === 'approve' ? 'approved' : 'rejected'} this run`);
  if (rb.outcome !== 'AwaitingApproval') throw refused(`this run is not awaiting approval (it is ${rb.outcome})`);
  if (request.runId !== rb.runId) throw refused(`this approval is for run ${request.runId ?? '(none)'}; the open run is ${rb.runId}`);
  if (!request.approver?.trim()) throw refused('approver is required');
  if (request.decision !== 'approve' && request.decision !== 'reject') throw refused('decision must be "approve" or "reject"');
  if (request.approver === rb.triggeredBy || request.approver === unprefixed(rb.triggeredBy)) throw refused(`self-approval refused: ${request.approver} requested this run; a second person must approve it`);
  if (request.approver.startsWith('unverified:')) throw refused('"unverified:" names what a host could not verify; it is never an approver');
  if (request.planDigest !== rb.planDigest) throw refused(`stale plan: digest ${request.planDigest || '(none)'} is not the current plan's ${rb.planDigest}`);
  if (request.choice !== undefined) {
    const usable = (rb.plan?.choices ?? []).filter((c) => c.usable).map((c) => c.id);
    if (!usable.length) throw refused(`choice ${JSON.stringify(request.choice)}: this plan offers no choices`);
    if (!usable.includes(request.choice)) throw refused(`choice ${JSON.stringify(request.choice)} is not one this plan offers: ${usable.join(', ')}`);
    if (request.decision !== 'approve') throw refused('a choice goes with an approval, not a rejection');
  }
}

function waitingFor(rb: Runbook): string {
  const id = workflowInfo().workflowId;
  const others = (rb.plan?.choices ?? []).filter((c) => c.usable && c.id !== rb.plan?.defaultChoice).map((c) => c.id);
  const pick = rb.plan?.defaultChoice ? ` (it takes ${rb.plan.defaultChoice}${others.length ? `; add --choice ${others.join('|')} to take another` : ''})` : '';
  return `approval by anyone but ${rb.triggeredBy} of plan ${rb.planDigest}: npx runbook approve '${id}' --as <you> --digest ${rb.planDigest}${pick}`;
}

/** Runs a runbook from raw input to report. Every runbook's workflow function calls this once. */
export async function runRunbook<I extends BaseInput>(name: RunbookType, rawInput: unknown, steps: RunbookSteps<I>): Promise<RunbookReport> {
  const parsed = runbooks[name].input.safeParse(rawInput ?? {});
  if (!parsed.success) throw invalid(`invalid ${name} input: ${describeIssues(parsed.error)}`);
  const input = parsed.data as unknown as I & { host?: string };
  // Clients fill in their own host; the Web UI has none, so there it must be typed.
  if (!input.host) throw invalid(`invalid ${name} input: host: required when the run is started without the runbook CLI, API or chat (e.g. from the Web UI): name the host whose worker runs the steps`);
  const resolved = resolveTarget(name, { ...input, host: input.host });
  // A Schedule's runs carry its action's workflow ID plus `-<RFC 3339 time>`; its overlap policy
  // SKIP keeps them one at a time, and the path claims keep a manual run off their resources.
  const id = workflowInfo().workflowId;
  const scheduleId = workflowInfo().typedSearchAttributes.get(TemporalScheduledById);
  const scheduled = scheduleId !== undefined
    && id.startsWith(`${resolved.workflowId}-`) && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(id.slice(resolved.workflowId.length + 1));
  if (id !== resolved.workflowId && !scheduled) {
    throw ApplicationFailure.create({ type: 'WrongWorkflowId', nonRetryable: true, message: `workflow ID must be "${resolved.workflowId}" so that only one ${name} runs on ${resolved.target} at a time` });
  }
  const claimed = input.requestedBy ?? 'unknown';
  upsertSearchAttributes([
    { key: RunbookName, value: name },
    { key: RunbookTarget, value: resolved.target },
    { key: RunbookOutcome, value: 'Running' },
  ]);
  const rb = new Runbook(name, input, resolved.target, resolved.host, claimed);
  setHandler(progressQuery, () => rb.progress());
  setHandler(
    approveUpdate,
    async (request) => {
      checkApproval(rb, request);
      // The host that will change checks the signature, over what this run knows (its ID, run, digest).
      const statement = { kind: 'approval' as const, workflowId: workflowInfo().workflowId, runId: rb.runId, digest: rb.planDigest!, decision: request.decision, approver: request.approver, ...(request.choice === undefined ? {} : { choice: request.choice }) };
      let verified: VerifiedApproval;
      try {
        verified = await rb.onHost('verify approval', (a) => a.verifyApproval({ statement, signature: request.signature, runbook: name, requester: rb.triggeredBy }));
      } catch (err) {
        throw refused(failureMessage(err));
      }
      // Two answers can be verified at once; only the first one to finish counts.
      checkApproval(rb, request);
      const { approver: _same, ...proof } = verified;
      rb.approval = { approver: request.approver, decision: request.decision, planDigest: request.planDigest, ...(request.choice === undefined ? {} : { choice: request.choice }), ...(request.comment ? { comment: request.comment } : {}), at: new Date(Date.now()).toISOString(), ...proof };
      return rb.approval;
    },
    { validator: (request) => checkApproval(rb, request ?? {}) },
  );
  const claims = new Claims();

  try {
    // Who asked, as the host verifies it: a name without a valid signature is `unverified:<name>`.
    // A scheduled run's request was signed once for the schedule (its ID, and the runs' ID without the time).
    const statement = { kind: 'request' as const, workflowId: scheduled ? resolved.workflowId : id, ...(scheduled ? { scheduleId } : {}), runbook: name, inputDigest: inputDigest(rawInput), requestedBy: claimed, at: input.request?.at ?? '' };
    rb.requester = await rb.onHost('verify request', (a) => a.verifyRequest({ statement, signature: input.request?.signature }));
    rb.triggeredBy = rb.requester.requester;
    upsertSearchAttributes([{ key: TriggeredBy, value: rb.triggeredBy }]);
    // A read-only runbook whose plan is the work holds its resources while planning (verifyBackup: the
    // pack, which fullBackup's prune then leaves alone); before the patch it claimed nothing at all.
    const claimsWhilePlanning = runbooks[name].claimsWhilePlanning === true && patched('claims-while-planning');
    const resources = runbooks[name].claimsWhilePlanning && !claimsWhilePlanning ? [] : resolved.resources;
    if (input.mode === 'apply' || claimsWhilePlanning) {
      const keys = await rb.step('resolve', 'resolve the resources this run changes', (a) => a.resolveResources(resources));
      await claims.take(keys);
      rb.claims = claims.keys;
    }
    rb.plan = await steps.plan(rb, input);
    rb.planDigest = digestPlan(rb.runId, rb.plan, input);
    if (input.mode === 'plan') {
      rb.setOutcome('Planned');
      rb.say('Planned: nothing was changed.');
      return rb.report();
    }
    if (input.approval === 'required' || rb.plan.requiresApproval) {
      rb.setOutcome('AwaitingApproval');
      rb.waitingFor = waitingFor(rb);
      rb.say(`**Waiting for** ${rb.waitingFor}`);
      const answered = await condition(() => rb.approval !== undefined, input.approvalTimeout as Duration);
      rb.waitingFor = undefined;
      if (!answered) {
        rb.setOutcome('ApprovalTimedOut');
        rb.say('Nobody approved in time: nothing was changed.');
        return rb.report(`nobody approved within ${input.approvalTimeout}; nothing was changed`);
      }
      if (rb.approval?.decision === 'reject') {
        rb.setOutcome('Rejected');
        rb.say(`Rejected by ${rb.approval.approver}: nothing was changed.`);
        return rb.report(`rejected by ${rb.approval.approver}; nothing was changed`);
      }
      // Time passed since the plan was made: the facts it stands on must still hold.
      rb.setOutcome('Running');
      rb.recheck = true;
      const now = await steps.plan(rb, input);
      rb.recheck = false;
      const drift = diffFacts(rb.plan.observations, now.observations);
      if (drift.length) {
        rb.drift = drift;
        rb.setOutcome('Drifted');
        rb.say(`The facts changed since the plan was approved: nothing was changed.\n\n${drift.join('\n')}`);
        return rb.report(`the facts changed after approval; nothing was changed: ${drift.slice(0, 3).join('; ')}`);
      }
    }
    rb.setOutcome('Running');
    await steps.apply(rb, input, rb.plan);
    rb.setOutcome('Succeeded');
    rb.say('Succeeded.');
    return rb.report();
  } catch (err) {
    const message = failureMessage(err);
    const undone = rb.changed ? await CancellationScope.nonCancellable(() => rb.compensate()) : true;
    if (!undone) rb.notes.push('an undo step still failed at its compensationTimeout: the host needs a person');
    if (isCancellation(err)) {
      // Cancelled (`runbook cancel`, the UI's Cancel button): the run ends CANCELLED, not FAILED.
      // Temporal keeps no result for a cancelled run: `runbook show` and the audit read its history.
      rb.setOutcome(undone ? 'Cancelled' : 'CompensationFailed');
      throw err;
    }
    rb.setOutcome(undone ? 'Failed' : 'CompensationFailed');
    rb.say(`${undone ? 'Failed' : 'Failed, and undo failed'}: ${message}`);
    throw ApplicationFailure.create({
      type: 'RunbookFailed',
      nonRetryable: true,
      message: `${name} on ${resolved.target} failed: ${message}`,
      details: [rb.report(message)],
      cause: err instanceof Error ? err : undefined,
    });
  } finally {
    await CancellationScope.nonCancellable(() => claims.release());
  }
}
