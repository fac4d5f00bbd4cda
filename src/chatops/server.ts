// The ChatOps service: a Slack-compatible slash command and approve/reject buttons, and a JSON API
// with bearer tokens for other bots. Each surface is a Fastify plugin (slack-routes.ts,
// api-routes.ts) with its own hooks; both reach the one start and approval path (service.ts)
// through the `chatops` decorator. Every start and approval goes through src/client.ts, after the
// roles file allowed it for this person, runbook and target; every refusal is logged.
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { logger as defaultLogger } from '../logger';
import type { RolesFile, TokensFile } from './access';
import { apiRoutes } from './api-routes';
import { classify, errorId, internalReason, scrubber } from './errors';
import { ChatOpsService } from './service';
import type { Signer } from './signer';
import { SlackVerifier } from './slack';
import { slackRoutes } from './slack-routes';
import { postJson, RunWatcher, type Post } from './watcher';

declare module 'fastify' {
  interface FastifyInstance {
    /** The one start and approval path, shared by the Slack and API plugins. */
    chatops: ChatOpsService;
  }
  interface FastifyRequest {
    /** The urlencoded body as received: what Slack signed. */
    rawBody?: string;
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
  /** Signs approvals and start requests for the authenticated person (CHATOPS_SIGNING_KEY). */
  signer?: Signer;
  /** Paths of this host (roles file, key, state dir …): never in an error body. */
  hostPaths?: string[];
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

declare module 'fastify' {
  interface FastifyInstance {
    /** The known error's status and reason, or a logged internal error; shared by both plugins. */
    chatopsError(err: unknown, url: string): { status: number; reason: string };
  }
}

export function buildChatOpsServer(deps: ChatOpsDeps): FastifyInstance {
  const { client, config, chat } = deps;
  const log = (deps.logger ?? defaultLogger).child({ component: 'chatops' });
  const post = deps.post ?? postJson;
  const watcher = new RunWatcher({
    client,
    config,
    post,
    logger: log,
    webhookUrl: chat.webhookUrl,
    intervalMs: chat.pollIntervalMs ?? 2000,
    maxWatchMs: chat.maxWatchMs ?? 48 * 3600_000,
  });

  if (!chat.signer) log.warn('chatops: CHATOPS_SIGNING_KEY is not set: approvals and starts are forwarded unsigned, which only a worker in development trust mode accepts');
  const scrub = scrubber(chat.hostPaths ?? []);

  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  app.decorate('chatops', new ChatOpsService(client, config, chat.roles, log, watcher, post, chat.signer));
  app.decorate('chatopsError', (err: unknown, url: string) => {
    const known = classify(err);
    if (known) return known;
    const id = errorId();
    log.error({ err, url, errorId: id }, 'chatops: request failed');
    return { status: 500, reason: internalReason(id) };
  });
  // JSON for the API, urlencoded for Slack; nothing else (text/plain would reach the routes as a string).
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.addHook('onClose', async () => watcher.close());
  app.setErrorHandler((err, request, reply) => {
    const { status, reason } = app.chatopsError(err, request.url);
    return reply.code(status).send({ error: reason });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}` }));
  // Behind the rule above: whatever an error body says, no configured host path leaves this host.
  app.addHook('onSend', async (_request, reply, payload) => (reply.statusCode >= 400 && typeof payload === 'string' ? scrub(payload) : payload));

  app.register(slackRoutes, { verifier: chat.signingSecret ? new SlackVerifier(chat.signingSecret, deps.now) : undefined });
  app.register(apiRoutes, { prefix: '/api', tokens: chat.tokens });
  app.get('/healthz', async () => ({ ok: true }));
  return app;
}
