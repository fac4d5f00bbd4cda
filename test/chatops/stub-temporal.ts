// A Temporal client stand-in for route tests that need no worker: runs kept in a map, every start
// and approve Update recorded as sent (the input a workflow would get, with its `request`), and a
// switch that makes every call fail with a given error (an internal error's path to the caller).
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildChatOpsServer, type ChatConfig } from '../../src/chatops/server';
import type { Config } from '../../src/config';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export const stubConfig: Config = { address: 'stub:7233', namespace: 'default', taskQueue: 'stub', metricsAddress: '', uiUrl: 'http://ui.example' };

export interface StubRun {
  runbook: string;
  target: string;
  status?: string;
  outcome?: string;
  triggeredBy?: string;
  origin?: string;
}

export class StubTemporal {
  readonly runs = new Map<string, StubRun>();
  readonly starts: { workflowType: string; workflowId: string; input: Record<string, any>; memo: unknown }[] = [];
  readonly updates: { workflowId: string; runId?: string; args: any }[] = [];
  /** Every client call throws this while set. */
  failWith?: Error;
  /** Calls that reached "Temporal", by kind: a refusal before any lookup leaves this empty. */
  readonly calls: string[] = [];

  private call(kind: string): void {
    this.calls.push(kind);
    if (this.failWith) throw this.failWith;
  }

  private sa(run: StubRun) {
    const values: Record<string, string | undefined> = { RunbookName: run.runbook, RunbookTarget: run.target, RunbookOutcome: run.outcome, TriggeredBy: run.triggeredBy };
    return { get: (key: { name: string }) => values[key.name] };
  }

  private find(workflowId: string): StubRun {
    const run = this.runs.get(workflowId);
    if (!run) throw new WorkflowNotFoundError(`workflow not found for ID: ${workflowId}`, workflowId, undefined);
    return run;
  }

  readonly client = {
    workflow: {
      getHandle: (workflowId: string, runId?: string) => ({
        workflowId,
        client: { options: { loadedDataConverter: {} } },
        describe: async () => {
          this.call('describe');
          const run = this.find(workflowId);
          return { runId: `${workflowId}-run`, status: { name: run.status ?? 'RUNNING' }, typedSearchAttributes: this.sa(run), raw: { pendingActivities: [] } };
        },
        query: async () => {
          this.call('query');
          const run = this.find(workflowId);
          return { workflowId, runId: `${workflowId}-run`, runbook: run.runbook, target: run.target, outcome: run.outcome ?? 'AwaitingApproval', triggeredBy: run.triggeredBy, planDigest: 'd'.repeat(64), steps: [] };
        },
        result: async () => {
          this.call('result');
          const run = this.find(workflowId);
          return { runbook: run.runbook, target: run.target, outcome: run.outcome ?? 'Succeeded', triggeredBy: run.triggeredBy, steps: [], compensations: [], notes: [] };
        },
        executeUpdate: async (_def: unknown, { args }: { args: any[] }) => {
          this.call('update');
          this.find(workflowId);
          this.updates.push({ workflowId, runId, args: args[0] });
          return { approver: args[0].approver, decision: args[0].decision, planDigest: args[0].planDigest, at: new Date().toISOString() };
        },
      }),
      start: async (workflowType: string, options: { workflowId: string; args: any[]; memo: unknown }) => {
        this.call('start');
        if (this.runs.has(options.workflowId)) throw new WorkflowExecutionAlreadyStartedError('already started', options.workflowId, workflowType);
        this.starts.push({ workflowType, workflowId: options.workflowId, input: options.args[0], memo: options.memo });
        this.runs.set(options.workflowId, { runbook: workflowType, target: options.workflowId.slice(workflowType.length + 1), triggeredBy: options.args[0].requestedBy });
        return { firstExecutionRunId: `${options.workflowId}-run` };
      },
      list: ({ query }: { query: string }) => {
        this.call('list');
        const infos = [...this.runs.entries()].map(([workflowId, run]) => ({
          workflowId,
          runId: `${workflowId}-run`,
          type: run.runbook,
          typedSearchAttributes: this.sa(run),
          status: { name: run.status ?? 'RUNNING' },
          memo: { origin: run.origin ?? 'cli' },
          startTime: new Date(),
        }));
        void query;
        return (async function* () {
          yield* infos;
        })();
      },
    },
    workflowService: {
      describeTaskQueue: async () => {
        this.call('describeTaskQueue');
        return { pollers: [{ lastAccessTime: { seconds: Math.floor(Date.now() / 1000) } }] };
      },
    },
  } as unknown as Client;
}

export interface StubbedChatOps {
  app: FastifyInstance;
  temporal: StubTemporal;
  logs: LogLine[];
  /** app.inject with a JSON body (or a raw string with its own content type). */
  request(method: string, url: string, options?: { token?: string; body?: unknown; raw?: string; contentType?: string }): Promise<{ status: number; body: any; text: string }>;
}

export async function stubChatOps(chat: ChatConfig, temporal = new StubTemporal()): Promise<StubbedChatOps> {
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const app = buildChatOpsServer({ client: temporal.client, config: stubConfig, chat, logger });
  await app.ready();
  return {
    app,
    temporal,
    logs,
    async request(method, url, { token, body, raw, contentType } = {}) {
      const headers: Record<string, string> = {};
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      if (raw !== undefined) headers['content-type'] = contentType ?? 'application/json';
      else if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await app.inject({ method: method as 'GET', url, headers, payload: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
      let parsed: unknown = res.body;
      try {
        parsed = JSON.parse(res.body);
      } catch {
        // not JSON
      }
      return { status: res.statusCode, body: parsed, text: res.body };
    },
  };
}
