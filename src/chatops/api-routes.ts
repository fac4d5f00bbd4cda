// The JSON API for other bots, as a Fastify plugin under /api: bearer tokens (a hook of this plugin
// only), then start, status, approve and list with the same rules as chat. Errors are thrown to the
// server's handler (errors.ts), which answers with their status and reason only.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { getProgress, InvalidRequestError, waitForReport } from '../client';
import { workflowUrl } from '../config';
import { listRuns } from '../runs';
import { describeIssues } from '../workflows/inputs';
import { tokenHolder, type Principal, type TokensFile } from './access';

declare module 'fastify' {
  interface FastifyRequest {
    /** The bot whose bearer token authenticated this API request. */
    chatopsPrincipal?: Principal;
  }
}

const apiStart = z
  .strictObject({
    runbook: z.string().min(1).optional(),
    preset: z.string().min(1).max(100).optional().describe('a preset of the roles file: its input, with only its open keys settable'),
    input: z.record(z.string(), z.unknown()).default({}),
  })
  .refine((b) => b.runbook !== undefined || b.preset !== undefined, { message: 'name a runbook or a preset', path: ['runbook'] });
/** An answer binds to exactly the plan the caller read: no digest, no answer. */
const DIGEST_REQUIRED = 'is required: the digest of the plan you answer (planDigest of GET /api/runs/<workflowId>)';
const apiApprove = z.strictObject({
  decision: z.enum(['approve', 'reject']),
  planDigest: z.string({ error: DIGEST_REQUIRED }).min(1, DIGEST_REQUIRED).max(200),
  comment: z.string().max(2000).optional(),
  choice: z.string().max(100).optional().describe("one of the plan's choices (plan.choices[].id) instead of its default"),
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

function parse<T extends z.ZodType>(schema: T, data: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(data ?? {});
  if (!parsed.success) throw new InvalidRequestError(`invalid ${what}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

export interface ApiRoutesOptions {
  /** Without tokens every request is 401. */
  tokens?: TokensFile;
}

export const apiRoutes: FastifyPluginAsync<ApiRoutesOptions> = async (api, { tokens }) => {
  const { chatops } = api;
  const { client, config, log } = chatops;

  api.decorateRequest('chatopsPrincipal', undefined);
  api.addHook('onRequest', async (request, reply) => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const principal = match ? tokenHolder(tokens, match[1]!) : undefined;
    if (!principal) {
      log.warn({ route: request.url, ip: request.ip, reason: match ? 'unknown token' : 'no bearer token' }, 'chatops: API request refused');
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: match ? 'invalid token' : 'missing bearer token' });
    }
    request.chatopsPrincipal = principal;
  });
  const who = (request: FastifyRequest) => request.chatopsPrincipal!;
  const workflowIdOf = (request: FastifyRequest) => (request.params as { workflowId: string }).workflowId;

  api.post('/runs', async (request, reply) => {
    const body = parse(apiStart, request.body, 'request');
    const p = who(request);
    const run = await chatops.start(p, p.id, body, 'api');
    chatops.watcher.watch({ workflowId: run.workflowId, runId: run.runId });
    return reply.code(201).send({ workflowId: run.workflowId, runId: run.runId, target: run.target, url: workflowUrl(config, run.workflowId) });
  });

  api.get('/runs/:workflowId', async (request) => {
    const workflowId = workflowIdOf(request);
    const run = await chatops.readable(who(request), workflowId, 'api');
    const base = { workflowId, runId: run.runId, status: run.status, url: workflowUrl(config, workflowId) };
    if (run.status === 'RUNNING') {
      const progress = await getProgress(client, workflowId).catch(() => undefined);
      return { ...base, ...progress };
    }
    const finished = await waitForReport(client.workflow.getHandle(workflowId, run.runId));
    return { ...base, ...finished.report, ...(finished.error && !finished.report?.error ? { error: finished.error } : {}) };
  });

  api.post('/runs/:workflowId/approve', async (request) => {
    const body = parse(apiApprove, request.body, 'request');
    const p = who(request);
    return chatops.answer(p, p.id, workflowIdOf(request), body.decision, body.planDigest, 'api', body.comment, body.choice);
  });

  api.get('/runs', async (request) => {
    const query = parse(apiList, request.query, 'query');
    const readable = chatops.readFilter(who(request), 'api');
    try {
      // The limit applies before the filter: a reader of few targets may get fewer than `limit`.
      return { runs: (await listRuns(client, query)).filter(readable) };
    } catch (err) {
      if ((err as Error).message.includes('must not contain')) throw new InvalidRequestError((err as Error).message);
      throw err;
    }
  });
};
