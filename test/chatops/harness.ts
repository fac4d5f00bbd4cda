// What the ChatOps tests share: the service on a free port with a captured pino log, a real HTTP
// receiver standing in for Slack's response_url, and signed Slack requests.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { Client } from '@temporalio/client';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../src/config';
import { freePort } from '../../src/platform/dev-server';
import { buildChatOpsServer, type ChatConfig } from '../../src/chatops/server';
import { slackSignature } from '../../src/chatops/slack';
import { waitFor } from '../helpers/service';

export const SECRET = 'test-signing-secret-8f3a';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface RunningChatOps {
  url: string;
  app: FastifyInstance;
  logs: LogLine[];
  stop(): Promise<void>;
}

export async function startChatOps(client: Client, config: Config, chat: ChatConfig): Promise<RunningChatOps> {
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const app = buildChatOpsServer({ client, config, chat: { pollIntervalMs: 200, ...chat }, logger });
  const port = await freePort();
  await app.listen({ port, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${port}`, app, logs, stop: () => app.close() };
}

/** A tiny HTTP server that records every JSON POST: Slack's response_url, or a webhook. */
export class Receiver {
  readonly posts: { path: string; body: any }[] = [];
  private server?: Server;
  private port = 0;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.posts.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    this.port = await freePort();
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    return this;
  }

  url(path = `/${randomUUID()}`): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  postsTo(url: string): any[] {
    const path = new URL(url).pathname;
    return this.posts.filter((p) => p.path === path).map((p) => p.body);
  }

  waitForPost(url: string, what: string, match: (body: any) => boolean, timeoutMs = 30_000): Promise<any> {
    return waitFor(what, async () => this.postsTo(url).find(match), timeoutMs);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export interface SignOptions {
  secret?: string;
  /** Seconds since the epoch; default now. */
  timestamp?: number;
  /** Replace the computed signature. */
  signature?: string;
  omit?: ('timestamp' | 'signature')[];
}

export function signedHeaders(body: string, options: SignOptions = {}): Record<string, string> {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': timestamp,
    'x-slack-signature': options.signature ?? slackSignature(options.secret ?? SECRET, timestamp, body),
  };
  if (options.omit?.includes('timestamp')) delete headers['x-slack-request-timestamp'];
  if (options.omit?.includes('signature')) delete headers['x-slack-signature'];
  return headers;
}

export interface Answer {
  status: number;
  body: any;
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body };
}

export async function postForm(url: string, fields: Record<string, string>, options: SignOptions = {}): Promise<Answer> {
  const body = new URLSearchParams(fields).toString();
  return answer(await fetch(url, { method: 'POST', headers: signedHeaders(body, options), body }));
}

/** The slash command as Slack sends it. */
export function slashCommand(base: string, userId: string, text: string, extra: Record<string, string> = {}, options: SignOptions = {}): Promise<Answer> {
  return postForm(
    `${base}/slack/commands`,
    { token: 'deprecated', team_id: 'T0001', channel_id: 'C0001', channel_name: 'ops', user_id: userId, user_name: userId.toLowerCase(), command: '/runbook', text, trigger_id: randomUUID(), ...extra },
    options,
  );
}

/** A click on an Approve/Reject button as Slack sends it. */
export function buttonClick(base: string, userId: string, action: 'approve' | 'reject', value: string, responseUrl?: string, options: SignOptions = {}): Promise<Answer> {
  const payload = {
    type: 'block_actions',
    user: { id: userId, username: userId.toLowerCase(), name: userId.toLowerCase() },
    channel: { id: 'C0001', name: 'ops' },
    actions: [{ action_id: action, block_id: 'b1', value, type: 'button', action_ts: String(Date.now() / 1000) }],
    ...(responseUrl ? { response_url: responseUrl } : {}),
  };
  return postForm(`${base}/slack/interactions`, { payload: JSON.stringify(payload) }, options);
}

export async function api(base: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return answer(await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
}

/** The workflow ID startRunbook gives serviceRestart of this declared service on this machine. */
export function restartWorkflowId(serviceName: string): string {
  return `serviceRestart:${hostname()}/${serviceName}`;
}

export { neverStarted } from '../helpers/temporal';

export const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 6)}`;
