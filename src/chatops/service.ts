// The one start path, the one approval path and the one read check of chat and the JSON API: who may
// do what (the roles file), on which target, through src/client.ts; every refusal is logged with its
// details, while the caller's answer names only the reason. The routes of both surfaces reach it as
// the `chatops` decorator of the Fastify instance.
import { type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { approveRunbook, getProgress, prepareRun, RefusedError, startRunbook, type ApproveOptions } from '../client';
import type { Config } from '../config';
import { RunbookName, RunbookOutcome, RunbookTarget } from '../workflows/names';
import type { Approval } from '../workflows/report';
import { authorize, label, mayDoAny, mayUseRunbook, type Action, type Principal, type RolesFile } from './access';
import { resolveRequest, type StartRequest } from './presets';
import type { Signer } from './signer';
import type { Post, RunWatcher } from './watcher';

/** What a caller asked for, refused by a rule: HTTP 403 and a warning in the log. */
export class ForbiddenError extends Error {
  override name = 'ForbiddenError' as const;
}

export type Origin = 'chat' | 'api';

interface Attempt {
  runbook: string;
  target?: string;
}

/** A run as the roles file sees it: from its search attributes, so closed runs need no worker. */
export interface RunFacts {
  workflowId: string;
  runId: string;
  status: string;
  outcome?: string;
  runbook?: string;
  target?: string;
}

export class ChatOpsService {
  constructor(
    readonly client: Client,
    readonly config: Config,
    readonly roles: RolesFile,
    readonly log: Logger,
    readonly watcher: RunWatcher,
    readonly post: Post,
    /** Signs what is forwarded for an authenticated person; without it, forwarded unsigned. */
    readonly signer?: Signer,
  ) {}

  /** `who` is the caller's identity as claimed (`slack:<id>`, `api:<name>`), known or not. */
  refuse(principal: Principal | undefined, who: string, attempt: Attempt, action: Action, reason: string, origin: string, answer = reason): never {
    this.log.warn({ userId: who, user: principal?.name, runbook: attempt.runbook, target: attempt.target, action, origin, reason }, `chatops: ${action} refused`);
    throw new ForbiddenError(answer);
  }

  /**
   * Known person, allowed runbook, only open keys of the preset (or a rule granting free input),
   * valid input, allowed target; then signed and started through startRunbook.
   */
  async start(principal: Principal | undefined, who: string, request: StartRequest, origin: Origin): Promise<{ workflowId: string; runId: string; target: string; runbook: string; preset?: string }> {
    if (!principal) {
      let attempt: Attempt = { runbook: request.runbook ?? `@${request.preset}` };
      try {
        const resolved = resolveRequest(this.roles.presets, request);
        attempt = { runbook: resolved.runbook, target: prepareRun(resolved.runbook, resolved.input, who).resolved.target };
      } catch {
        // the request does not resolve or validate; the refusal is logged without a target
      }
      this.refuse(principal, who, attempt, 'start', `unknown user ${who}`, origin);
    }
    const { runbook, input: rawInput, preset } = resolveRequest(this.roles.presets, request);
    const byRunbook = mayUseRunbook(this.roles, principal, 'start', runbook, { freeInput: preset === undefined });
    if (!byRunbook.ok) this.refuse(principal, who, { runbook }, 'start', byRunbook.reason, origin);
    // The same rule as startRunbook's (host, target), so the target authorized is the one started.
    const { input, resolved } = prepareRun(runbook, rawInput, principal.id);
    const { target } = resolved;
    const decision = authorize(this.roles, principal, 'start', runbook, target, { auto: input.approval === 'auto', freeInput: preset === undefined });
    if (!decision.ok) this.refuse(principal, who, { runbook, target }, 'start', decision.reason, origin);
    // startRunbook signs exactly the input the workflow gets, as the RequestStatement of principal.id.
    const run = await startRunbook(this.client, this.config, runbook, { ...rawInput, host: input.host }, { requestedBy: principal.id, origin, ...(this.signer ? { sign: this.signer } : {}) });
    this.log.info({ userId: who, user: principal.name, runbook, target, preset, workflowId: run.workflowId, runId: run.runId, mode: rawInput.mode ?? 'plan', signed: Boolean(this.signer), origin }, 'chatops: run started');
    return { workflowId: run.workflowId, runId: run.runId, target, runbook, ...(preset ? { preset } : {}) };
  }

  /** The run's runbook, target and status; WorkflowNotFoundError (404) if there is no such run. */
  async facts(workflowId: string): Promise<RunFacts> {
    const description = await this.client.workflow.getHandle(workflowId).describe();
    const sa = description.typedSearchAttributes;
    let runbook = sa.get(RunbookName);
    let target = sa.get(RunbookTarget);
    if ((!runbook || !target) && description.status.name === 'RUNNING') ({ runbook, target } = await getProgress(this.client, workflowId));
    return { workflowId, runId: description.runId, status: description.status.name, outcome: sa.get(RunbookOutcome), runbook, target };
  }

  /**
   * May this principal read this run? Without any read rule, refused before the run is looked at;
   * otherwise the answer names neither the run's runbook nor its target.
   */
  async readable(principal: Principal, workflowId: string, origin: Origin): Promise<RunFacts> {
    const any = mayDoAny(this.roles, principal, 'read');
    if (!any.ok) this.refuse(principal, principal.id, { runbook: '(any)', target: workflowId }, 'read', any.reason, origin);
    const run = await this.facts(workflowId);
    const allowed = run.runbook && run.target ? authorize(this.roles, principal, 'read', run.runbook, run.target) : { ok: false as const, reason: 'not a runbook run' };
    if (!allowed.ok) this.refuse(principal, principal.id, { runbook: run.runbook ?? '(none)', target: run.target }, 'read', allowed.reason, origin, `${label(principal)} may not read run ${workflowId}`);
    return run;
  }

  /** A filter for listed runs: only those the principal may read. */
  readFilter(principal: Principal, origin: Origin): (run: { runbook: string; target?: string }) => boolean {
    const any = mayDoAny(this.roles, principal, 'read');
    if (!any.ok) this.refuse(principal, principal.id, { runbook: '(list)' }, 'read', any.reason, origin);
    return (run) => run.target !== undefined && authorize(this.roles, principal, 'read', run.runbook, run.target).ok;
  }

  /**
   * The run is open and the person may approve it here; the answer binds to the plan digest the
   * person saw (chat buttons carry it, API callers must send it) and to the run checked here, and
   * is signed for that person's identity.
   */
  async answer(principal: Principal | undefined, who: string, workflowId: string, decision: 'approve' | 'reject', planDigest: string, origin: Origin, comment?: string, choice?: string): Promise<Approval> {
    if (!principal) {
      // Refused whatever the run; its runbook and target only make the log line more useful.
      const seen = await this.facts(workflowId).catch(() => undefined);
      this.refuse(principal, who, { runbook: seen?.runbook ?? '(unknown run)', target: seen?.target ?? workflowId }, 'approve', `unknown user ${who}`, origin);
    }
    const any = mayDoAny(this.roles, principal, 'approve');
    if (!any.ok) this.refuse(principal, who, { runbook: '(any)', target: workflowId }, 'approve', any.reason, origin);
    const run = await this.facts(workflowId);
    if (!run.runbook || !run.target) throw new RefusedError(`${workflowId} is not a runbook run`);
    const attempt = { runbook: run.runbook, target: run.target };
    const allowed = authorize(this.roles, principal, 'approve', run.runbook, run.target);
    if (!allowed.ok) this.refuse(principal, who, attempt, 'approve', allowed.reason, origin);
    if (run.status !== 'RUNNING') throw new RefusedError(`this run is not awaiting approval (it is ${run.outcome ?? 'closed'}, ${run.status.toLowerCase()})`);
    const picked = choice === undefined ? {} : { choice };
    const signature = await this.signer?.({ kind: 'approval', workflowId, runId: run.runId, digest: planDigest, decision, approver: principal.id, ...picked });
    const options: ApproveOptions = { approver: principal.id, decision, planDigest, runId: run.runId, ...picked, ...(comment ? { comment } : {}), ...(signature ? { signature } : {}) };
    try {
      const approval = await approveRunbook(this.client, workflowId, options);
      this.log.info({ userId: who, user: principal.name, ...attempt, workflowId, decision, planDigest: approval.planDigest, signed: Boolean(signature), origin }, `chatops: run ${decision === 'approve' ? 'approved' : 'rejected'}`);
      return approval;
    } catch (err) {
      if (err instanceof RefusedError) this.log.warn({ userId: who, user: principal.name, ...attempt, workflowId, decision, origin, reason: err.message }, 'chatops: approval refused by the run');
      throw err;
    }
  }
}
