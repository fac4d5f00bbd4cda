// The Slack surface, as a Fastify plugin: the slash command and the approve/reject buttons. Every
// request is signature-checked first (a hook of this plugin only); a server error is answered in
// chat with its log id only, since Slack shows any other answer as a bare failure.
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { InvalidRequestError, RefusedError } from '../client';
import { workflowUrl } from '../config';
import { describeIssues, runbooks } from '../workflows/inputs';
import { chatUser, label, slackIdentity } from './access';
import { CommandError, parseCommand, USAGE } from './command';
import { ForbiddenError } from './service';
import { ephemeral, esc, type ButtonValue, type SlackMessage, type SlackVerifier } from './slack';

const blockActions = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string().min(1) }),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().optional() })).min(1),
  response_url: z.url().optional(),
});

const buttonValue = z.object({ workflowId: z.string().min(1), planDigest: z.string().min(1) }) satisfies z.ZodType<ButtonValue>;

export interface SlackRoutesOptions {
  /** Without it (no signing secret) every Slack request is answered 503: nothing unsigned is accepted. */
  verifier?: SlackVerifier;
}

export const slackRoutes: FastifyPluginAsync<SlackRoutesOptions> = async (slack, { verifier }) => {
  const { chatops } = slack;
  const { log, config } = chatops;
  const roles = chatops.roles;

  // Signature first: an unsigned, stale, replayed or forged request gets 401 and nothing else.
  slack.addHook('preHandler', async (request, reply) => {
    if (!verifier) return reply.code(503).send({ error: 'chat not configured (SLACK_SIGNING_SECRET is not set)' });
    const header = (name: string) => {
      const v = request.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const check = verifier.verify({ timestamp: header('x-slack-request-timestamp'), signature: header('x-slack-signature') }, request.rawBody);
    if (!check.ok) {
      log.warn({ route: request.url, ip: request.ip, reason: check.reason }, 'chatops: unsigned or badly signed request refused');
      return reply.code(401).send({ error: `request signature refused: ${check.reason}` });
    }
  });

  slack.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    if (err.statusCode && err.statusCode < 500) throw err; // the server's handler answers client errors
    return reply.code(200).send(ephemeral(`chatops error: ${slack.chatopsError(err, request.url).reason}`));
  });

  slack.post('/slack/commands', async (request, reply) => {
    const fields = (request.body ?? {}) as Record<string, string | undefined>;
    const userId = fields.user_id ?? '';
    const who = slackIdentity(userId);
    const principal = chatUser(roles, userId);
    const text = (fields.text ?? '').trim();
    try {
      if (!text || text === 'help') {
        if (!principal) chatops.refuse(principal, who, { runbook: '(help)' }, 'start', `unknown user ${who}`, 'chat');
        const presets = Object.entries(roles.presets).map(([name, p]) => `@${name} (${p.runbook}; open: ${p.open.length ? p.open.join(', ') : 'none'})`);
        return ephemeral(`${USAGE}\nrunbooks: ${Object.keys(runbooks).join(', ')}${presets.length ? `\npresets: ${presets.join(', ')}` : ''}`);
      }
      let command;
      try {
        command = parseCommand(text, roles.presets);
      } catch (err) {
        if (!principal) chatops.refuse(principal, who, { runbook: text.split(/\s+/)[0] ?? '' }, 'start', `unknown user ${who}`, 'chat');
        throw err;
      }
      if (principal && Object.hasOwn(command.input, 'mode')) throw new InvalidRequestError('mode cannot be set from chat: runs apply unless the command ends with --plan');
      const input = { ...command.input, mode: command.plan ? 'plan' : 'apply', approval: command.input.approval ?? 'required' };
      const run = await chatops.start(principal, who, { runbook: command.runbook, preset: command.preset, input }, 'chat');
      chatops.watcher.watch({ workflowId: run.workflowId, runId: run.runId, responseUrl: fields.response_url || undefined });
      const url = workflowUrl(config, run.workflowId);
      const how = command.plan ? 'plan' : `apply, approval ${input.approval}`;
      const by = label(principal!);
      return {
        response_type: 'in_channel',
        text: `${by} started ${run.runbook} (${how}) on ${run.target}: ${url}`,
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${esc(by)}* started *${esc(run.runbook)}* (${how}) on \`${esc(run.target)}\`${run.preset ? ` with @${esc(run.preset)}` : ''}\n<${url}|${esc(run.workflowId)}>` } }],
      } satisfies SlackMessage;
    } catch (err) {
      if (err instanceof ForbiddenError) return reply.code(403).send(ephemeral(`refused: ${err.message}`));
      if (err instanceof CommandError || err instanceof InvalidRequestError) return ephemeral(`${err.message}\nnothing was started`);
      if (err instanceof RefusedError) return ephemeral(`refused: ${err.message}`);
      throw err;
    }
  });

  slack.post('/slack/interactions', async (request, reply) => {
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
      return reply.code(400).send({ error: `not an approve/reject button payload: ${err instanceof z.ZodError ? describeIssues(err) : err instanceof SyntaxError ? 'not JSON' : (err as Error).message}` });
    }
    const userId = payload.user.id;
    const who = slackIdentity(userId);
    const principal = chatUser(roles, userId);
    const answer = async (message: SlackMessage, code = 200) => {
      // Slack shows what arrives on the response_url; the HTTP answer is for other callers and tests.
      if (payload.response_url) await chatops.post(payload.response_url, message).catch((err: Error) => log.warn({ err: err.message }, 'chatops: posting to chat failed'));
      return reply.code(code).send(message);
    };
    try {
      const approval = await chatops.answer(principal, who, value.workflowId, action, value.planDigest, 'chat');
      const verb = approval.decision === 'approve' ? 'approved' : 'rejected';
      return answer({
        response_type: 'in_channel',
        replace_original: true,
        text: `${label(principal!)} ${verb} the plan of ${value.workflowId} (${approval.planDigest}): ${workflowUrl(config, value.workflowId)}`,
      });
    } catch (err) {
      if (err instanceof ForbiddenError) return answer({ ...ephemeral(`refused: ${err.message}`), replace_original: false }, 403);
      if (err instanceof RefusedError) return answer({ ...ephemeral(`refused: ${err.message}`), replace_original: false });
      if (err instanceof WorkflowNotFoundError) return answer({ ...ephemeral(`no run ${value.workflowId}`), replace_original: false });
      throw err;
    }
  });
};
