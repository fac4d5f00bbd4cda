// The ChatOps service: a Slack-compatible slash command and approve/reject buttons, and a JSON API
// with bearer tokens for other bots. Every start and approval goes through src/client.ts, after the
// roles file allowed it for this person, runbook and target; every refusal is logged.
import { hostname } from 'node:os';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { approveRunbook, getProgress, InvalidRequestError, RefusedError, startRunbook, waitForReport } from '../client';
import { workflowUrl, type Config } from '../config';
import { logger as defaultLogger } from '../logger';
import { listRuns } from '../runs';
import { describeIssues, isRunbookType, runbooks, type RunbookType } from '../workflows/inputs';
import { RunbookName, RunbookOutcome, RunbookTarget } from '../workflows/names';
import { authorize, chatUser, mayUseRunbook, tokenHolder, type Principal, type RolesFile, type TokensFile } from './access';
import { CommandError, parseCommand, USAGE } from './command';
import { ephemeral, esc, SlackVerifier, type ButtonValue, type SlackMessage } from './slack';
import { postJson, RunWatcher, type Post } from './watcher';

declare module 'fastify' {
  interface FastifyRequest {
    /** The urlencoded body as received: what Slack signed. */
    rawBody?: string;
    /** The bot whose bearer token authenticated this API request. */
    chatopsPrincipal?: Principal;
  }
}

export interface ChatConfig {
  /** Slack app signing secret. Without it the Slack routes answer 503: nothing unsigned is accepted. */
  signingSecret?: string;
  roles: RolesFile;
  /** Bearer tokens of the JSON API; without them every API request is 401. */
  tokens?: TokensFile;
  /** Where progress goes when a command has no response_url (or it fails), and for API starts. */
  webhookUrl?: string;
  /** How often a followed run is polled (default 2000 ms). */
  pollIntervalMs?: number;
  /** A run still open after this long is no longer followed (default 48 h). */
  maxWatchMs?: number;
}

export interface ChatOpsDeps {
  client: Client;
  config: Config;
  chat: ChatConfig;
  /** Posts a message to chat; default: fetch POST of JSON. */
  post?: Post;
  logger?: Logger;
  /** Clock for signature timestamps (ms). */
  now?: () => number;
}

/** What a caller asked for, refused by a rule: HTTP 403 and a warning in the log. */
class ForbiddenError extends Error {}

interface Attempt {
  runbook: string;
  target?: string;
}

const blockActions = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().min(1) }),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().optional() })).min(1),
  response_url: z.url().optional(),
});

const buttonValue = z.object({ workflowId: z.string().min(1), planDigest: z.string() }) satisfies z.ZodType<ButtonValue>;

const apiStart = z.strictObject({ runbook: z.string().min(1), input: z.record(z.string(), z.unknown()).default({}) });
const apiApprove = z.strictObject({
  decision: z.enum(['approve', 'reject']),
  planDigest: z.string().min(1).optional(),
  comment: z.string().max(2000).optional(),
});
const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO date').transform((s) => new Date(s));
const apiList = z.strictObject({
  runbook: z.string().optional(),
  target: z.string().optional(),
  status: z.string().optional(),
  triggeredBy: z.string().optional(),
  since: isoDate.optional(),
  until: isoDate.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

export function buildChatOpsServer(deps: ChatOpsDeps): FastifyInstance {
  const { client, config, chat } = deps;
  const log = (deps.logger ?? defaultLogger).child({ component: 'chatops' });
  const post = deps.post ?? postJson;
  const verifier = chat.signingSecret ? new SlackVerifier(chat.signingSecret, deps.now) : undefined;
  const watcher = new RunWatcher({
    client,
    config,
    post,
    logger: log,
    webhookUrl: chat.webhookUrl,
    intervalMs: chat.pollIntervalMs ?? 2000,
    maxWatchMs: chat.maxWatchMs ?? 48 * 3600_000,
  });

  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.addHook('onClose', async () => watcher.close());
  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) log.error({ err, url: request.url }, 'chatops: request failed');
    if (request.url.startsWith('/slack/') && status === 500) return reply.code(200).send(ephemeral(`chatops error: ${err.message}`));
    return reply.code(status).send({ error: err.message });
  });

  function refuse(principal: Principal | undefined, userId: string, attempt: Attempt, action: 'start' | 'approve', reason: string, origin: string): never {
    log.warn({ userId, user: principal?.name, runbook: attempt.runbook, target: attempt.target, action, origin, reason }, `chatops: ${action} refused`);
    throw new ForbiddenError(reason);
  }

  /**
   * Validates the input the way startRunbook will, names the target (host: the input's, else this
   * machine's, as startRunbook does) and returns the input with that host, so both see one target.
   */
  function prepare(runbook: RunbookType, input: Record<string, unknown>): { input: Record<string, unknown>; target: string; auto: boolean } {
    const spec = runbooks[runbook];
    const parsed = spec.input.safeParse(input);
    if (!parsed.success) throw new InvalidRequestError(`invalid ${runbook} input: ${describeIssues(parsed.error)}`);
    const host = parsed.data.host ?? hostname();
    return { input: { ...input, host }, target: spec.target(parsed.data, host), auto: parsed.data.approval === 'auto' };
  }

  /** The one start path of chat and API: known runbook, allowed runbook, valid input, allowed target. */
  async function authorizedStart(
    principal: Principal | undefined,
    userId: string,
    runbook: string,
    rawInput: Record<string, unknown>,
    origin: 'chat' | 'api',
  ): Promise<{ workflowId: string; runId: string; target: string }> {
    if (!isRunbookType(runbook)) {
      if (!principal) refuse(principal, userId, { runbook }, 'start', `unknown user ${userId}`, origin);
      throw new InvalidRequestError(`unknown runbook "${runbook}"; known: ${Object.keys(runbooks).join(', ')}`);
    }
    if (!principal) {
      let target: string | undefined;
      try {
        target = prepare(runbook, rawInput).target;
      } catch {
        // the input does not validate; the refusal is logged without a target
      }
      refuse(principal, userId, { runbook, target }, 'start', `unknown user ${userId}`, origin);
    }
    const byRunbook = mayUseRunbook(chat.roles, principal, 'start', runbook);
    if (!byRunbook.ok) refuse(principal, userId, { runbook }, 'start', byRunbook.reason, origin);
    if (Object.hasOwn(rawInput, 'requestedBy')) {
      throw new InvalidRequestError(`requestedBy cannot be set: runs ${origin === 'chat' ? 'from chat are requested by the chat user' : 'from the API are requested by the token holder'} (${principal.name})`);
    }
    const { input, target, auto } = prepare(runbook, rawInput);
    const decision = authorize(chat.roles, principal, 'start', runbook, target, { auto });
    if (!decision.ok) refuse(principal, userId, { runbook, target }, 'start', decision.reason, origin);
    const run = await startRunbook(client, config, runbook, input, { requestedBy: principal.name, origin });
    log.info({ userId, user: principal.name, runbook, target, workflowId: run.workflowId, runId: run.runId, mode: input.mode ?? 'plan', origin }, 'chatops: run started');
    return { workflowId: run.workflowId, runId: run.runId, target };
  }

  /** The one approval path of chat and API: the run is open, the person may approve it here. */
  async function authorizedApprove(
    principal: Principal | undefined,
    userId: string,
    workflowId: string,
    decision: 'approve' | 'reject',
    planDigest: string | undefined,
    origin: 'chat' | 'api',
    comment?: string,
  ) {
    // The run's runbook and target from its search attributes: no query, so closed runs need no worker.
    const describe = async () => {
      const description = await client.workflow.getHandle(workflowId).describe();
      const sa = description.typedSearchAttributes;
      let runbook = sa.get(RunbookName);
      let target = sa.get(RunbookTarget);
      if ((!runbook || !target) && description.status.name === 'RUNNING') ({ runbook, target } = await getProgress(client, workflowId));
      return { status: description.status.name, outcome: sa.get(RunbookOutcome), runbook, target };
    };
    if (!principal) {
      // Refused whatever the run; its runbook and target only make the log line more useful.
      const seen = await describe().catch(() => undefined);
      refuse(principal, userId, { runbook: seen?.runbook ?? '(unknown run)', target: seen?.target ?? workflowId }, 'approve', `unknown user ${userId}`, origin);
    }
    const run = await describe();
    if (!run.runbook || !run.target) throw new RefusedError(`${workflowId} is not a runbook run`);
    const attempt = { runbook: run.runbook, target: run.target };
    const allowed = authorize(chat.roles, principal, 'approve', run.runbook, run.target);
    if (!allowed.ok) refuse(principal, userId, attempt, 'approve', allowed.reason, origin);
    if (run.status !== 'RUNNING') throw new RefusedError(`this run is not awaiting approval (it is ${run.outcome ?? 'closed'}, ${run.status.toLowerCase()})`);
    try {
      const approval = await approveRunbook(client, workflowId, { approver: principal.name, decision, ...(planDigest !== undefined ? { planDigest } : {}), ...(comment ? { comment } : {}) });
      log.info({ userId, user: principal.name, ...attempt, workflowId, decision, planDigest: approval.planDigest, origin }, `chatops: run ${decision === 'approve' ? 'approved' : 'rejected'}`);
      return approval;
    } catch (err) {
      if (err instanceof RefusedError) log.warn({ userId, user: principal.name, ...attempt, workflowId, decision, origin, reason: err.message }, 'chatops: approval refused by the run');
      throw err;
    }
  }

  /** Signature first: an unsigned, stale, replayed or forged request gets 401 and nothing else. */
  function verifySlack(request: FastifyRequest, reply: FastifyReply): boolean {
    if (!verifier) {
      void reply.code(503).send({ error: 'chat not configured (SLACK_SIGNING_SECRET is not set)' });
      return false;
    }
    const header = (name: string) => {
      const v = request.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const check = verifier.verify({ timestamp: header('x-slack-request-timestamp'), signature: header('x-slack-signature') }, request.rawBody);
    if (!check.ok) {
      log.warn({ route: request.url, ip: request.ip, reason: check.reason }, 'chatops: unsigned or badly signed request refused');
      void reply.code(401).send({ error: `request signature refused: ${check.reason}` });
      return false;
    }
    return true;
  }

  app.post('/slack/commands', async (request, reply) => {
    if (!verifySlack(request, reply)) return reply;
    const fields = (request.body ?? {}) as Record<string, string | undefined>;
    const userId = fields.user_id ?? '';
    const principal = chatUser(chat.roles, userId);
    const text = (fields.text ?? '').trim();
    try {
      if (!text || text === 'help') {
        if (!principal) refuse(principal, userId, { runbook: '(help)' }, 'start', `unknown user ${userId}`, 'chat');
        const presets = Object.entries(chat.roles.presets).map(([name, p]) => `@${name} (${p.runbook})`);
        return ephemeral(`${USAGE}\nrunbooks: ${Object.keys(runbooks).join(', ')}${presets.length ? `\npresets: ${presets.join(', ')}` : ''}`);
      }
      let command;
      try {
        command = parseCommand(text, chat.roles.presets);
      } catch (err) {
        if (!principal) refuse(principal, userId, { runbook: text.split(/\s+/)[0] ?? '' }, 'start', `unknown user ${userId}`, 'chat');
        throw err;
      }
      for (const key of ['mode', 'requestedBy'] as const) {
        if (principal && Object.hasOwn(command.input, key)) {
          throw new InvalidRequestError(key === 'mode' ? 'mode cannot be set from chat: runs apply unless the command ends with --plan' : `requestedBy cannot be set from chat: runs are requested by you (${principal.name})`);
        }
      }
      const input = { ...command.input, mode: command.plan ? 'plan' : 'apply', approval: command.input.approval ?? 'required' };
      const run = await authorizedStart(principal, userId, command.runbook, input, 'chat');
      watcher.watch({ workflowId: run.workflowId, runId: run.runId, responseUrl: fields.response_url || undefined });
      const url = workflowUrl(config, run.workflowId);
      const how = command.plan ? 'plan' : `apply, approval ${input.approval}`;
      return {
        response_type: 'in_channel',
        text: `${principal!.name} started ${command.runbook} (${how}) on ${run.target}: ${url}`,
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${esc(principal!.name)}* started *${esc(command.runbook)}* (${how}) on \`${esc(run.target)}\`${command.preset ? ` with @${esc(command.preset)}` : ''}\n<${url}|${esc(run.workflowId)}>` } }],
      } satisfies SlackMessage;
    } catch (err) {
      if (err instanceof ForbiddenError) return reply.code(403).send(ephemeral(`refused: ${err.message}`));
      if (err instanceof CommandError || err instanceof InvalidRequestError) return ephemeral(`${err.message}\nnothing was started`);
      if (err instanceof RefusedError) return ephemeral(`refused: ${err.message}`);
      throw err;
    }
  });

  app.post('/slack/interactions', async (request, reply) => {
    if (!verifySlack(request, reply)) return reply;
    let payload: z.output<typeof blockActions>;
    let value: ButtonValue;
    let action: 'approve' | 'reject';
    try {
      payload = blockActions.parse(JSON.parse(((request.body ?? {}) as Record<string, string>).payload ?? ''));
      const first = payload.actions[0]!;
      if (first.action_id !== 'approve' && first.action_id !== 'reject') throw new Error(`unknown action ${first.action_id}`);
      action = first.action_id;
      value = buttonValue.parse(JSON.parse(first.value ?? ''));
    } catch (err) {
      return reply.code(400).send({ error: `not an approve/reject button payload: ${err instanceof z.ZodError ? describeIssues(err) : (err as Error).message}` });
    }
    const userId = payload.user.id;
    const principal = chatUser(chat.roles, userId);
    const answer = async (message: SlackMessage, code = 200) => {
      // Slack shows what arrives on the response_url; the HTTP answer is for other callers and tests.
      if (payload.response_url) await post(payload.response_url, message).catch((err: Error) => log.warn({ err: err.message }, 'chatops: posting to chat failed'));
      return reply.code(code).send(message);
    };
    try {
      const approval = await authorizedApprove(principal, userId, value.workflowId, action, value.planDigest, 'chat');
      const verb = approval.decision === 'approve' ? 'approved' : 'rejected';
      return answer({
        response_type: 'in_channel',
        replace_original: true,
        text: `${approval.approver} ${verb} the plan of ${value.workflowId} (${approval.planDigest}): ${workflowUrl(config, value.workflowId)}`,
      });
    } catch (err) {
      if (err instanceof ForbiddenError) return answer({ ...ephemeral(`refused: ${err.message}`), replace_original: false }, 403);
      if (err instanceof RefusedError) return answer({ ...ephemeral(`refused: ${err.message}`), replace_original: false });
      if (err instanceof WorkflowNotFoundError) return answer({ ...ephemeral(`no run ${value.workflowId}`), replace_original: false });
      throw err;
    }
  });

  app.register(
    async (api) => {
      api.decorateRequest('chatopsPrincipal', undefined);
      api.addHook('onRequest', async (request, reply) => {
        const header = request.headers.authorization ?? '';
        const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
        const principal = match ? tokenHolder(chat.tokens, match[1]!) : undefined;
        if (!principal) {
          log.warn({ route: request.url, ip: request.ip, reason: match ? 'unknown token' : 'no bearer token' }, 'chatops: API request refused');
          return reply.code(401).header('www-authenticate', 'Bearer').send({ error: match ? 'invalid token' : 'missing bearer token' });
        }
        request.chatopsPrincipal = principal;
      });
      const who = (request: FastifyRequest) => request.chatopsPrincipal!;

      api.post('/runs', async (request, reply) => {
        const body = apiStart.safeParse(request.body ?? {});
        if (!body.success) return reply.code(400).send({ error: `invalid request: ${describeIssues(body.error)}` });
        const p = who(request);
        try {
          const run = await authorizedStart(p, p.id, body.data.runbook, body.data.input, 'api');
          watcher.watch({ workflowId: run.workflowId, runId: run.runId });
          return reply.code(201).send({ workflowId: run.workflowId, runId: run.runId, target: run.target, url: workflowUrl(config, run.workflowId) });
        } catch (err) {
          if (err instanceof ForbiddenError) return reply.code(403).send({ error: err.message });
          if (err instanceof InvalidRequestError) return reply.code(400).send({ error: err.message });
          if (err instanceof RefusedError) return reply.code(409).send({ error: err.message });
          throw err;
        }
      });

      api.get('/runs/:workflowId', async (request, reply) => {
        const { workflowId } = request.params as { workflowId: string };
        const handle = client.workflow.getHandle(workflowId);
        try {
          const description = await handle.describe();
          const base = { workflowId, runId: description.runId, status: description.status.name, url: workflowUrl(config, workflowId) };
          if (description.status.name === 'RUNNING') {
            const progress = await getProgress(client, workflowId).catch(() => undefined);
            return { ...base, ...progress };
          }
          const finished = await waitForReport(client.workflow.getHandle(workflowId, description.runId));
          return { ...base, ...finished.report, ...(finished.error && !finished.report?.error ? { error: finished.error } : {}) };
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) return reply.code(404).send({ error: `no run ${workflowId}` });
          throw err;
        }
      });

      api.post('/runs/:workflowId/approve', async (request, reply) => {
        const { workflowId } = request.params as { workflowId: string };
        const body = apiApprove.safeParse(request.body ?? {});
        if (!body.success) return reply.code(400).send({ error: `invalid request: ${describeIssues(body.error)}` });
        const p = who(request);
        try {
          return await authorizedApprove(p, p.id, workflowId, body.data.decision, body.data.planDigest, 'api', body.data.comment);
        } catch (err) {
          if (err instanceof ForbiddenError) return reply.code(403).send({ error: err.message });
          if (err instanceof RefusedError) return reply.code(409).send({ error: err.message });
          if (err instanceof WorkflowNotFoundError) return reply.code(404).send({ error: `no run ${workflowId}` });
          throw err;
        }
      });

      api.get('/runs', async (request, reply) => {
        const query = apiList.safeParse(request.query ?? {});
        if (!query.success) return reply.code(400).send({ error: `invalid query: ${describeIssues(query.error)}` });
        try {
          return { runs: await listRuns(client, query.data) };
        } catch (err) {
          if ((err as Error).message.includes('must not contain')) return reply.code(400).send({ error: (err as Error).message });
          throw err;
        }
      });
    },
    { prefix: '/api' },
  );

  app.get('/healthz', async () => ({ ok: true }));
  return app;
}
