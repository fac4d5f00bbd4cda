// The one start path and the one approval path of chat and the JSON API: who may do what (the roles
// file), on which target, through src/client.ts; every refusal is logged. The routes of both
// surfaces reach it as the `chatops` decorator of the Fastify instance.
import { type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { approveRunbook, getProgress, InvalidRequestError, prepareRun, RefusedError, startRunbook } from '../client';
import type { Config } from '../config';
import { isRunbookType, runbooks } from '../workflows/inputs';
import { RunbookName, RunbookOutcome, RunbookTarget } from '../workflows/names';
import type { Approval } from '../workflows/report';
import { authorize, mayUseRunbook, type Principal, type RolesFile } from './access';
import type { Post, RunWatcher } from './watcher';

/** What a caller asked for, refused by a rule: HTTP 403 and a warning in the log. */
export class ForbiddenError extends Error {}

export type Origin = 'chat' | 'api';

interface Attempt {
  runbook: string;
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
  ) {}

  refuse(principal: Principal | undefined, userId: string, attempt: Attempt, action: 'start' | 'approve', reason: string, origin: string): never {
    this.log.warn({ userId, user: principal?.name, runbook: attempt.runbook, target: attempt.target, action, origin, reason }, `chatops: ${action} refused`);
    throw new ForbiddenError(reason);
  }

  /** Known runbook, allowed runbook, valid input, allowed target; then started through startRunbook. */
  async start(principal: Principal | undefined, userId: string, runbook: string, rawInput: Record<string, unknown>, origin: Origin): Promise<{ workflowId: string; runId: string; target: string }> {
    if (!isRunbookType(runbook)) {
      if (!principal) this.refuse(principal, userId, { runbook }, 'start', `unknown user ${userId}`, origin);
      throw new InvalidRequestError(`unknown runbook "${runbook}"; known: ${Object.keys(runbooks).join(', ')}`);
    }
    if (!principal) {
      let target: string | undefined;
      try {
        target = prepareRun(runbook, rawInput, userId).resolved.target;
      } catch {
        // the input does not validate; the refusal is logged without a target
      }
      this.refuse(principal, userId, { runbook, target }, 'start', `unknown user ${userId}`, origin);
    }
    const byRunbook = mayUseRunbook(this.roles, principal, 'start', runbook);
    if (!byRunbook.ok) this.refuse(principal, userId, { runbook }, 'start', byRunbook.reason, origin);
    if (Object.hasOwn(rawInput, 'requestedBy')) {
      throw new InvalidRequestError(`requestedBy cannot be set: runs ${origin === 'chat' ? 'from chat are requested by the chat user' : 'from the API are requested by the token holder'} (${principal.name})`);
    }
    // The same rule as startRunbook's (host, target), so the target authorized is the one started.
    const { input, resolved } = prepareRun(runbook, rawInput, principal.name);
    const { target } = resolved;
    const decision = authorize(this.roles, principal, 'start', runbook, target, { auto: input.approval === 'auto' });
    if (!decision.ok) this.refuse(principal, userId, { runbook, target }, 'start', decision.reason, origin);
    const run = await startRunbook(this.client, this.config, runbook, { ...rawInput, host: input.host }, { requestedBy: principal.name, origin });
    this.log.info({ userId, user: principal.name, runbook, target, workflowId: run.workflowId, runId: run.runId, mode: rawInput.mode ?? 'plan', origin }, 'chatops: run started');
    return { workflowId: run.workflowId, runId: run.runId, target };
  }

  /**
   * The run is open and the person may approve it here; the answer binds to the plan digest the
   * person saw (chat buttons carry it, API callers must send it) and to the run checked here.
   */
  async answer(principal: Principal | undefined, userId: string, workflowId: string, decision: 'approve' | 'reject', planDigest: string, origin: Origin, comment?: string): Promise<Approval> {
    // The run's runbook and target from its search attributes: no query, so closed runs need no worker.
    const describe = async () => {
      const description = await this.client.workflow.getHandle(workflowId).describe();
      const sa = description.typedSearchAttributes;
      let runbook = sa.get(RunbookName);
      let target = sa.get(RunbookTarget);
      if ((!runbook || !target) && description.status.name === 'RUNNING') ({ runbook, target } = await getProgress(this.client, workflowId));
      return { runId: description.runId, status: description.status.name, outcome: sa.get(RunbookOutcome), runbook, target };
    };
    if (!principal) {
      // Refused whatever the run; its runbook and target only make the log line more useful.
      const seen = await describe().catch(() => undefined);
      this.refuse(principal, userId, { runbook: seen?.runbook ?? '(unknown run)', target: seen?.target ?? workflowId }, 'approve', `unknown user ${userId}`, origin);
    }
    const run = await describe();
    if (!run.runbook || !run.target) throw new RefusedError(`${workflowId} is not a runbook run`);
    const attempt = { runbook: run.runbook, target: run.target };
    const allowed = authorize(this.roles, principal, 'approve', run.runbook, run.target);
    if (!allowed.ok) this.refuse(principal, userId, attempt, 'approve', allowed.reason, origin);
    if (run.status !== 'RUNNING') throw new RefusedError(`this run is not awaiting approval (it is ${run.outcome ?? 'closed'}, ${run.status.toLowerCase()})`);
    try {
      const approval = await approveRunbook(this.client, workflowId, { approver: principal.name, decision, planDigest, runId: run.runId, ...(comment ? { comment } : {}) });
      this.log.info({ userId, user: principal.name, ...attempt, workflowId, decision, planDigest: approval.planDigest, origin }, `chatops: run ${decision === 'approve' ? 'approved' : 'rejected'}`);
      return approval;
    } catch (err) {
      if (err instanceof RefusedError) this.log.warn({ userId, user: principal.name, ...attempt, workflowId, decision, origin, reason: err.message }, 'chatops: approval refused by the run');
      throw err;
    }
  }
}
