// `runbook list | show | cancel | describe | audit`: past and present runs, read from Temporal alone.
import { randomUUID } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { z } from 'zod';
import { resolveTarget } from '../workflows/targets';
import { auditRuns, formatDuration, proofText, retentionOf, toJsonl, toMarkdown } from '../audit';
import type { Config } from '../config';
import { isKnownStatus, listRuns, parseWhen, readRun, RUNBOOK_OUTCOMES, TEMPORAL_STATUSES, type ActivityRun, type RunDetail, type RunFilters, type RunSummary } from '../runs';
import { isRunbookType, runbooks, type RunbookType } from '../workflows/inputs';
import type { Approval } from '../workflows/report';
import { exampleInput } from './examples';
import { EXIT, ExitError } from './exit';
import { brief, clock, shortTime, table } from './format';

export interface CommandContext {
  config: Config;
  withClient<T>(work: (client: Client) => Promise<T>): Promise<T>;
  setExit(code: number): void;
  defaultUser(): string;
}

/** `--since 24h`, `--until 2025-01-31T12:00Z`: commander reports a bad value as exit 2 naming the option. */
function timeArg(value: string): Date {
  const date = parseWhen(value);
  if (!date) throw new InvalidArgumentError(`"${value}" is not a time: use an ISO date (2025-01-31, 2025-01-31T12:00:00Z) or a duration ago (90m, 24h, 7d)`);
  return date;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  return n;
}

function statusArg(value: string): string {
  if (!isKnownStatus(value)) {
    throw new InvalidArgumentError(`"${value}" is not a status; runbook outcomes: ${RUNBOOK_OUTCOMES.join(', ')}; Temporal statuses: ${TEMPORAL_STATUSES.join(', ')}`);
  }
  return value;
}

type FilterOptions = Omit<RunFilters, 'workflowId' | 'limit'>;

function withFilterOptions(command: Command): Command {
  return command
    .option('--runbook <name>', 'only this runbook, e.g. serviceRestart')
    .option('--target <target>', 'only this target, e.g. myhost/images-api')
    .option('--status <status>', 'a runbook outcome (Succeeded, Failed, AwaitingApproval, …) or a Temporal status (Running, Completed, Canceled, …)', statusArg)
    .option('--triggered-by <name>', 'only runs asked for by this person (TriggeredBy)');
}

function filtersOf(opts: FilterOptions): RunFilters {
  if (opts.runbook && !isRunbookType(opts.runbook)) {
    throw new ExitError(`--runbook: unknown runbook "${opts.runbook}"; known: ${Object.keys(runbooks).join(', ')}`, EXIT.badInput);
  }
  if (opts.since && opts.until && opts.since > opts.until) {
    throw new ExitError(`--since (${opts.since.toISOString()}) is after --until (${opts.until.toISOString()})`, EXIT.badInput);
  }
  return { runbook: opts.runbook, target: opts.target, status: opts.status, triggeredBy: opts.triggeredBy, since: opts.since, until: opts.until };
}

/** Runs the visibility query; a filter value the query cannot carry (a quote) is bad input. */
async function listOrBadInput<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (/must not contain quotes/.test((err as Error).message)) throw new ExitError((err as Error).message, EXIT.badInput);
    throw err;
  }
}

const took = (run: { startTime: string; closeTime?: string }): string =>
  run.closeTime ? formatDuration(Date.parse(run.closeTime) - Date.parse(run.startTime)) : `${formatDuration(Date.now() - Date.parse(run.startTime))}…`;

export function formatRunList(runs: RunSummary[]): string {
  if (!runs.length) return 'no runs match\n';
  return table<RunSummary>(runs, [
    { header: 'STARTED (UTC)', value: (r) => shortTime(r.startTime) },
    { header: 'TOOK', value: took, align: 'right' },
    { header: 'OUTCOME', value: (r) => r.outcome ?? '?' },
    { header: 'STATUS', value: (r) => r.status },
    { header: 'BY', value: (r) => r.triggeredBy ?? '?' },
    { header: 'FROM', value: (r) => r.origin },
    { header: 'RUN', value: (r) => r.runId.slice(0, 8) },
    { header: 'WORKFLOW ID', value: (r) => r.workflowId },
  ]);
}

/** Finds the run `--run-id` names: a full run ID, or the first characters of one (as `list` shows). */
async function resolveRunId(client: Client, workflowId: string, runId?: string): Promise<string | undefined> {
  if (!runId || /^[0-9a-f-]{36}$/i.test(runId)) return runId;
  const matches = (await listRuns(client, { workflowId })).filter((r) => r.runId.startsWith(runId));
  if (matches.length === 1) return matches[0]!.runId;
  throw new ExitError(`--run-id ${runId}: ${matches.length ? `${matches.length} runs of ${workflowId} start with it; give more characters` : `no run of ${workflowId} starts with it`}`, EXIT.badInput);
}

async function readOrBadInput(client: Client, workflowId: string, runId?: string): Promise<RunDetail> {
  try {
    return await readRun(client, workflowId, await resolveRunId(client, workflowId, runId));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new ExitError(`no run ${workflowId}${runId ? ` with run ID ${runId}` : ''} in this namespace (a wrong ID, or closed longer ago than the retention)`, EXIT.badInput);
    throw err;
  }
}

function stepNumber(a: ActivityRun): string {
  if (a.index === undefined) return '-';
  return a.kind === 'undo' ? `u${a.index + 1}` : String(a.index + 1);
}

export function formatRunDetail(d: RunDetail): string {
  const report = d.report;
  const out: string[] = [d.workflowId];
  const field = (label: string, value: string | undefined) => {
    if (value) out.push(`  ${label.padEnd(10)} ${value}`);
  };
  const mode = report?.mode ?? d.progress?.mode ?? (d.input as { mode?: string } | undefined)?.mode;
  field('run', `${d.runId}  (${d.runbook ?? d.workflowType}${d.target ? ` on ${d.target}` : ''}${mode ? `, ${mode} mode` : ''})`);
  field('started', `${shortTime(d.startTime)} by ${d.triggeredBy ?? 'unknown'} from ${d.origin}${d.startedBy ? ` (client ${d.startedBy})` : ''}`);
  field('closed', d.closeTime ? `${shortTime(d.closeTime)} after ${formatDuration(Date.parse(d.closeTime) - Date.parse(d.startTime))}: ${d.status}` : `still open (${d.status}) after ${formatDuration(Date.now() - Date.parse(d.startTime))}`);
  field('outcome', d.outcome ?? report?.outcome);
  if (d.outcomes.length) field('went', d.outcomes.map((o) => `${o.outcome} ${clock(o.at)}`).join(' → '));
  const approval = report?.approval ?? (d.updates.filter((u) => u.name === 'approve' && u.result).at(-1)?.result as Approval | undefined);
  if (approval) field('approval', `${approval.decision === 'approve' ? 'approved' : 'rejected'} by ${approval.approver} (${proofText(approval)}) at ${shortTime(approval.at)}, plan ${approval.planDigest.slice(0, 12)}…${approval.comment ? ` "${approval.comment}"` : ''}`);
  for (const u of d.updates) {
    const request = u.request as { approver?: string; decision?: string } | undefined;
    field('update', `${u.name}${request?.decision ? ` ${request.decision}` : ''}${request?.approver ? ` by ${request.approver}` : ''} at ${clock(u.acceptedAt)}${u.identity ? ` (client ${u.identity})` : ''}: ${u.failure ? `failed: ${u.failure}` : u.completedAt ? 'done' : 'in progress'}`);
  }
  field('signals', `${d.signals.total}${d.signals.total ? ` (${Object.entries(d.signals.byName).map(([n, c]) => `${n} ${c}`).join(', ')})` : ''}`);
  if (d.cancelRequested) field('cancel', `requested ${shortTime(d.cancelRequested.at)}${d.cancelRequested.identity ? ` by ${d.cancelRequested.identity}` : ''}${d.cancelRequested.reason ? `: ${d.cancelRequested.reason}` : ''}`);
  if (report) field('changed', `${report.changed ? 'yes' : 'no'}${report.filesMoved.length ? `; ${report.filesMoved.length} files moved` : ''}`);
  for (const note of report?.notes ?? []) field('note', note);
  field('error', d.error && report?.error && d.error.endsWith(report.error) ? d.error : (report?.error ?? d.error));
  field('history', `${d.historyEvents} events`);
  if (!report && !d.progress) field('note', 'no worker answered the progress query: step names are unknown until one runs');
  out.push('');
  if (!d.activities.length) {
    out.push('  no activity ran');
    return `${out.join('\n')}\n`;
  }
  const body = table(d.activities, [
    { header: '#', value: stepNumber, align: 'right' },
    { header: 'STEP', value: (a) => a.step ?? '?' },
    { header: 'ACTIVITY', value: (a) => a.activityType },
    { header: 'TRIES', value: (a) => a.attempts || '', align: 'right' },
    { header: 'SCHEDULED', value: (a) => clock(a.scheduledAt) },
    { header: 'STARTED', value: (a) => clock(a.startedAt) },
    { header: 'CLOSED', value: (a) => clock(a.closedAt) },
    { header: 'TOOK', value: (a) => `${formatDuration(a.durationMs)}${a.closedAt ? '' : '…'}`, align: 'right' },
    { header: 'STATE', value: (a) => a.state },
  ]).split('\n');
  out.push(`  ${body[0]}`);
  d.activities.forEach((a, i) => {
    out.push(`  ${body[i + 1]}`);
    for (const f of a.failures) {
      out.push(`        ${f.attempt ? `attempt ${f.attempt} ` : ''}failed: ${f.message}${f.type ? ` [${f.type}]` : ''}${f.lastHeartbeat !== undefined ? `; its last heartbeat: ${brief(f.lastHeartbeat)}` : ''}`);
    }
    if (a.lastHeartbeat !== undefined) out.push(`        last heartbeat${a.lastHeartbeatAt ? ` ${clock(a.lastHeartbeatAt)}` : ''}: ${brief(a.lastHeartbeat)}`);
  });
  return `${out.join('\n')}\n`;
}

function describeRunbook(name: RunbookType) {
  const spec = runbooks[name];
  const example = exampleInput(name);
  const parsed = spec.input.parse(example);
  return {
    runbook: name,
    description: spec.description,
    workflowId: resolveTarget(name, { ...parsed, host: '<host>' }).workflowId,
    inputSchema: z.toJSONSchema(spec.input, { io: 'input' }),
    example,
  };
}

export function registerRunCommands(program: Command, ctx: CommandContext): void {
  withFilterOptions(
    program
      .command('list')
      .description('runs, newest first: who started them, from where, and how they ended')
      .option('--since <when>', 'started at or after: an ISO date or a duration ago (24h, 7d)', timeArg)
      .option('--until <when>', 'started at or before', timeArg)
      .option('--limit <n>', 'at most this many runs', positiveInt, 50)
      .option('--json', 'print the runs as a JSON array'),
  ).action(async (opts: FilterOptions & { limit: number; json?: boolean }) => {
    const filters = { ...filtersOf(opts), limit: opts.limit };
    await ctx.withClient(async (client) => {
      // The server lists open runs first, then by close time: show them by start, newest first.
      const runs = (await listOrBadInput(() => listRuns(client, filters))).sort((a, b) => b.startTime.localeCompare(a.startTime));
      process.stdout.write(opts.json ? `${JSON.stringify(runs, null, 2)}\n` : formatRunList(runs));
    });
  });

  program
    .command('show')
    .description("a run's timeline from its workflow history: every step's attempts, timings, failures, last heartbeat; approvals; outcome")
    .argument('<workflowId>')
    .option('--run-id <id>', 'an earlier run of this workflow ID (the full ID, or its first characters as `list` shows); default: the newest')
    .option('--json', 'print everything as JSON')
    .action(async (workflowId: string, opts: { runId?: string; json?: boolean }) => {
      await ctx.withClient(async (client) => {
        const detail = await readOrBadInput(client, workflowId, opts.runId);
        process.stdout.write(opts.json ? `${JSON.stringify(detail, null, 2)}\n` : formatRunDetail(detail));
      });
    });

  program
    .command('cancel')
    .description('request cancellation of a running run; steps that changed something are undone')
    .argument('<workflowId>')
    .option('--reason <text>', 'why; kept in the run history')
    .option('--run-id <id>', 'a specific run (default: the open one)')
    .option('--as <name>', 'who cancels (kept in the run history)', ctx.defaultUser())
    .option('--wait', 'wait until the run has ended and print how it ended')
    .action(async (workflowId: string, opts: { reason?: string; runId?: string; as: string; wait?: boolean }) => {
      await ctx.withClient(async (client) => {
        let runId: string;
        try {
          const description = await client.workflow.getHandle(workflowId, await resolveRunId(client, workflowId, opts.runId)).describe();
          if (description.status.name !== 'RUNNING') throw new ExitError(`${workflowId} is not running (it is ${description.status.name}): nothing to cancel`, EXIT.refused);
          runId = description.runId;
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) throw new ExitError(`no run ${workflowId} in this namespace: nothing to cancel`, EXIT.badInput);
          throw err;
        }
        await client.workflowService.requestCancelWorkflowExecution({
          namespace: ctx.config.namespace,
          workflowExecution: { workflowId, runId },
          identity: `${opts.as} (runbook cli)`,
          requestId: randomUUID(),
          reason: opts.reason ?? '',
        });
        process.stdout.write(`${workflowId}\n`);
        process.stderr.write(`cancellation requested for ${workflowId} (run ${runId})${opts.reason ? `: ${opts.reason}` : ''}\n`);
        if (!opts.wait) return;
        const handle = client.workflow.getHandle(workflowId, runId);
        await handle.result().catch(() => undefined);
        const { status } = await handle.describe();
        process.stderr.write(`${workflowId} ended ${status.name}\n`);
        ctx.setExit(status.name === 'CANCELLED' ? EXIT.ok : EXIT.failed);
      });
    });

  program
    .command('describe')
    .description("a runbook's input: JSON Schema (from the schema the workflow validates with), description, an example")
    .argument('[runbook]', 'runbook name; without it, every runbook is listed')
    .option('--json', 'print { runbook, description, workflowId, inputSchema, example } as JSON')
    .option('--example', 'print only the example input (a file `start --input` takes)')
    .action((runbook: string | undefined, opts: { json?: boolean; example?: boolean }) => {
      if (!runbook) {
        const all = (Object.keys(runbooks) as RunbookType[]).map(describeRunbook);
        process.stdout.write(opts.json ? `${JSON.stringify(all, null, 2)}\n` : all.map((d) => `${d.runbook}\n  ${d.description}\n`).join(''));
        return;
      }
      if (!isRunbookType(runbook)) throw new ExitError(`unknown runbook "${runbook}"; known: ${Object.keys(runbooks).join(', ')}`, EXIT.badInput);
      const d = describeRunbook(runbook);
      if (opts.example) process.stdout.write(`${JSON.stringify(d.example, null, 2)}\n`);
      else if (opts.json) process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
      else {
        process.stdout.write(
          [
            `${d.runbook}: ${d.description}`,
            `workflow ID: ${d.workflowId} (one run per target at a time)`,
            '',
            'input (JSON Schema):',
            JSON.stringify(d.inputSchema, null, 2),
            '',
            `example (runbook describe ${d.runbook} --example > input.json; runbook start ${d.runbook} --input input.json):`,
            JSON.stringify(d.example, null, 2),
            '',
          ].join('\n'),
        );
      }
    });

  withFilterOptions(
    program
      .command('audit')
      .description('every run started in a time window: who started it and from where, who approved, target, outcome, what changed')
      .requiredOption('--since <when>', 'runs started at or after: an ISO date or a duration ago (24h, 7d)', timeArg)
      .option('--until <when>', 'runs started at or before (default: now)', timeArg)
      .addOption(new Option('--format <format>', 'jsonl: one JSON object per run; markdown: a table and details per run').choices(['jsonl', 'markdown']).default('jsonl')),
  ).action(async (opts: FilterOptions & { since: Date; until?: Date; format: 'jsonl' | 'markdown' }) => {
    const filters = filtersOf(opts);
    await ctx.withClient(async (client) => {
      const retention = await retentionOf(client, ctx.config.namespace).catch(() => undefined);
      if (retention && opts.since.getTime() < Date.now() - retention) {
        process.stderr.write(`runbook: namespace ${ctx.config.namespace} keeps closed runs for ${formatDuration(retention)}: runs closed before ${shortTime(new Date(Date.now() - retention).toISOString())} are gone and not listed\n`);
      }
      const records = await listOrBadInput(() => auditRuns(client, filters));
      process.stdout.write(opts.format === 'markdown' ? toMarkdown(records, { since: opts.since, until: opts.until ?? new Date(), namespace: ctx.config.namespace }) : toJsonl(records));
    });
  });
}
