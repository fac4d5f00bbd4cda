// The JSON API for other bots, as a Fastify plugin under /api: bearer tokens (a hook of this plugin
// only), then start, status, approve and list with the same rules as chat.
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { getProgress, InvalidRequestError, RefusedError, waitForReport } from '../client';
import { workflowUrl } from '../config';
import { listRuns } from '../runs';
import { describeIssues } from '../workflows/inputs';
import { tokenHolder, type Principal, type TokensFile } from './access';
import { ForbiddenError } from './service';

declare module 'fastify' {
  interface FastifyRequest {
    /** The bot whose bearer token authenticated this API request. */
    chatopsPrincipal?: Principal;
  }
}

const apiStart = z.strictObject({ runbook: z.string().min(1), input: z.record(z.string(), z.unknown()).default({}) });
/** An answer binds to exactly the plan the caller read: no digest, no answer. */
const DIGEST_REQUIRED = 'is required: the digest of the plan you answer (planDigest of GET /api/runs/<workflowId>)';
const apiApprove = z.strictObject({
  decision: z.enum(['approve', 'reject']),
  planDigest: z.string({ error: DIGEST_REQUIRED }).min(1, DIGEST_REQUIRED),
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

  api.post('/runs', async (request, reply) => {
    const body = apiStart.safeParse(request.body ?? {});
    if (!body.success) return reply.code(400).send({ error: `invalid request: ${describeIssues(body.error)}` });
    const p = who(request);
    try {
      const run = await chatops.start(p, p.id, body.data.runbook, body.data.input, 'api');
      chatops.watcher.watch({ workflowId: run.workflowId, runId: run.runId });
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
      return await chatops.answer(p, p.id, workflowId, body.data.decision, body.data.planDigest, 'api', body.data.comment);
    } catch (err) {
      if (err instanceof ForbiddenError) return reply.code(403).send({ error: err.message });
      if (err instanceof InvalidRequestError) return reply.code(400).send({ error: err.message });
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
};
