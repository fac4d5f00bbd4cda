// Follows runs started from chat (or the API, when a webhook is configured) and posts back: the
// approval request with buttons when a run awaits approval, and the report when it closes.
// One timer per run, none left behind: `close()` stops them all and waits for a tick in flight.
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { getProgress, waitForReport } from '../client';
import { workflowUrl, type Config } from '../config';
import { approvalRequest, finalReport, type SlackMessage } from './slack';

export type Post = (url: string, body: unknown) => Promise<void>;

export interface WatchOptions {
  workflowId: string;
  runId: string;
  /** Slack's response_url of the command, if any; the webhook is the fallback. */
  responseUrl?: string;
}

interface Watch extends WatchOptions {
  timer?: NodeJS.Timeout;
  tick?: Promise<void>;
  postedDigest?: string;
  deadline: number;
}

export class RunWatcher {
  private readonly watches = new Map<string, Watch>();
  private closed = false;

  constructor(
    private readonly deps: {
      client: Client;
      config: Config;
      post: Post;
      logger: Logger;
      webhookUrl?: string;
      intervalMs: number;
      /** A run still open after this long is no longer followed (default 48 h). */
      maxWatchMs: number;
    },
  ) {}

  get size(): number {
    return this.watches.size;
  }

  watch(options: WatchOptions): void {
    if (this.closed || (!options.responseUrl && !this.deps.webhookUrl)) return;
    const key = `${options.workflowId}\n${options.runId}`;
    if (this.watches.has(key)) return;
    const watch: Watch = { ...options, deadline: Date.now() + this.deps.maxWatchMs };
    this.watches.set(key, watch);
    this.schedule(key, watch, 0);
  }

  async close(): Promise<void> {
    this.closed = true;
    const ticks: Promise<void>[] = [];
    for (const watch of this.watches.values()) {
      clearTimeout(watch.timer);
      if (watch.tick) ticks.push(watch.tick);
    }
    await Promise.allSettled(ticks);
    this.watches.clear();
  }

  private schedule(key: string, watch: Watch, delay: number): void {
    if (this.closed) return;
    watch.timer = setTimeout(() => {
      watch.timer = undefined;
      watch.tick = this.tick(key, watch).finally(() => {
        watch.tick = undefined;
      });
    }, delay);
  }

  private async tick(key: string, watch: Watch): Promise<void> {
    const { client, config, logger } = this.deps;
    let done = false;
    try {
      const handle = client.workflow.getHandle(watch.workflowId, watch.runId);
      const { status } = await handle.describe();
      if (status.name !== 'RUNNING') {
        const finished = await waitForReport(handle);
        if (!this.closed) await this.send(watch, finalReport(watch.workflowId, finished, workflowUrl(config, watch.workflowId)));
        done = true;
      } else {
        const progress = await getProgress(client, watch.workflowId).catch(() => undefined);
        if (progress?.outcome === 'AwaitingApproval' && progress.planDigest && progress.planDigest !== watch.postedDigest) {
          watch.postedDigest = progress.planDigest;
          await this.send(watch, approvalRequest(watch.workflowId, progress, workflowUrl(config, watch.workflowId)));
        }
      }
    } catch (err) {
      logger.warn({ err, workflowId: watch.workflowId }, 'chatops: cannot follow run (will retry)');
    }
    if (done || Date.now() > watch.deadline) {
      if (!done) logger.warn({ workflowId: watch.workflowId }, 'chatops: run still open after the watch limit; no longer posting its progress');
      this.watches.delete(key);
      return;
    }
    this.schedule(key, watch, this.deps.intervalMs);
  }

  /** To the command's response_url; if that fails (Slack keeps it 30 minutes), to the webhook. */
  private async send(watch: Watch, message: SlackMessage): Promise<void> {
    const urls = [watch.responseUrl, this.deps.webhookUrl].filter((u): u is string => Boolean(u));
    for (const url of urls) {
      try {
        await this.deps.post(url, message);
        return;
      } catch (err) {
        this.deps.logger.warn({ err: (err as Error).message, workflowId: watch.workflowId }, 'chatops: posting to chat failed');
      }
    }
  }
}

/** POST JSON, 10 s timeout; a non-2xx answer is an error. */
export async function postJson(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  // The URL is a capability (Slack response_url, webhook): never in messages or logs.
  if (!res.ok) throw new Error(`chat answered HTTP ${res.status}`);
  await res.body?.cancel();
}
