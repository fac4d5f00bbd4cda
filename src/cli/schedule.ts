// `runbook schedule etcd-snapshot | backup | list | trigger | delete`: runbooks that run by themselves
// on a Temporal Schedule, one table entry each (its options → its input). The input is validated
// with the runbook's own schema before the schedule exists (bad input: exit 2 naming the field);
// each run is started by the server with the same summary, search attributes and memo as `runbook
// start` gives (origin "schedule"), under the workflow ID `<runbook>:<target>-<time>`. Overlap
// policy SKIP: a run still going when the next is due means the next is skipped, so one target
// never has two scheduled runs at once.
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { Command } from 'commander';
import { checkWorkers, InvalidRequestError, prepareRun, RefusedError, runStartFields, signRequest } from '../client';
import type { Config } from '../config';
import type { RequestStatement } from '../trust/statements';
import type { RunbookType } from '../workflows/inputs';
import { EXIT, ExitError } from './exit';
import { shortTime, table } from './format';
import { KEY_OPTION_HELP, signingKey, signWith } from './signing';
import type { CommandContext } from './runs-commands';

export interface ScheduleTiming {
  /** An interval: `30m`, `1h`, `1d` (at least 1m). */
  every?: string;
  /** A cron expression, as Temporal reads it: `0 * * * *`. */
  cron?: string;
}

export interface CreateScheduleOptions extends ScheduleTiming {
  /** The schedule's ID; default: the runs' workflow ID, `<runbook>:<target>`. */
  id?: string;
  /** Who created it: the runs' requestedBy (TriggeredBy) unless the input names one. */
  requestedBy: string;
  /** Signs the request once for every run of the schedule (RequestStatement.scheduleId); unsigned, each run's requester is unverified on a signed host. */
  sign?: (statement: RequestStatement) => Promise<string>;
}

export interface CreatedSchedule {
  scheduleId: string;
  /** Each run's workflow ID is this plus `-<time>`. */
  workflowId: string;
  target: string;
  nextRuns: string[];
}

const EVERY = /^(\d{1,6})(m|h|d)$/;
const SCHEDULE_ID = /^[A-Za-z0-9._:/@-]{1,400}$/;

function spec({ every, cron }: ScheduleTiming) {
  if (every !== undefined && cron !== undefined) throw new InvalidRequestError('--every and --cron: give one of them, not both');
  if (cron !== undefined) {
    if (!cron.trim() || cron.length > 200) throw new InvalidRequestError(`--cron "${cron}": must be a cron expression such as "0 * * * *"`);
    return { cronExpressions: [cron] };
  }
  const interval = every ?? '1h';
  const m = EVERY.exec(interval);
  if (!m || Number(m[1]) === 0) throw new InvalidRequestError(`--every "${interval}": must be a whole number of minutes, hours or days such as 30m, 1h or 1d`);
  return { intervals: [{ every: interval as `${number}${'m' | 'h' | 'd'}` }] };
}

/**
 * Creates the Schedule whose every action starts `runbook` with `rawInput` (validated now, host
 * filled in as `runbook start` does). Refused (RefusedError) when no worker serves the host or a
 * schedule of that ID exists; InvalidRequestError for bad input or timing.
 */
export async function createRunbookSchedule(client: Client, config: Config, runbook: string, rawInput: unknown, options: CreateScheduleOptions): Promise<CreatedSchedule> {
  const { input, resolved } = prepareRun(runbook, rawInput, options.requestedBy);
  if (input.mode !== 'apply' || input.approval !== 'auto') {
    throw new InvalidRequestError(`invalid ${runbook} input for a schedule: mode must be "apply" and approval "auto" (a scheduled run has nobody to approve it), not ${input.mode}/${input.approval}`);
  }
  const timing = spec(options);
  const scheduleId = options.id ?? resolved.workflowId;
  if (!SCHEDULE_ID.test(scheduleId)) throw new InvalidRequestError(`--id "${scheduleId}": letters, digits and . _ : / @ - only, at most 400`);
  await checkWorkers(client, config, resolved.host);
  if (options.sign) await signRequest(input, { workflowId: resolved.workflowId, scheduleId, runbook: resolved.runbook }, options.sign);
  const fields = runStartFields(resolved, input, { origin: 'schedule', scheduleId });
  let handle;
  try {
    handle = await client.schedule.create({
      scheduleId,
      spec: timing,
      action: { type: 'startWorkflow', workflowType: resolved.runbook, workflowId: resolved.workflowId, taskQueue: config.taskQueue, args: [input], ...fields },
      // After the server was down, at most the last hour's missed run is made up.
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1h' },
      memo: { runbook: resolved.runbook, target: resolved.target, createdBy: options.requestedBy, ...(options.cron ? { cron: options.cron } : { every: options.every ?? '1h' }) },
      state: { note: `created by ${options.requestedBy} with runbook schedule` },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) throw new RefusedError(`schedule ${scheduleId} already exists: delete it first (runbook schedule delete '${scheduleId}') or choose another --id`);
    if ((err as { code?: number }).code === 3 /* INVALID_ARGUMENT */) throw new InvalidRequestError(`${options.cron ? `--cron "${options.cron}"` : 'schedule'}: ${(err as Error).message}`);
    throw err;
  }
  const { info } = await handle.describe();
  return { scheduleId, workflowId: resolved.workflowId, target: resolved.target, nextRuns: info.nextActionTimes.slice(0, 3).map((d) => d.toISOString()) };
}

export interface ScheduleRow {
  scheduleId: string;
  runbook: string;
  target: string;
  timing: string;
  paused: boolean;
  nextRun?: string;
  lastRun?: string;
}

export async function listSchedules(client: Client): Promise<ScheduleRow[]> {
  const rows: ScheduleRow[] = [];
  for await (const s of client.schedule.list()) {
    const memo = (s.memo ?? {}) as { runbook?: string; target?: string; every?: string; cron?: string };
    rows.push({
      scheduleId: s.scheduleId,
      runbook: memo.runbook ?? s.action?.workflowType ?? '',
      target: memo.target ?? '',
      timing: memo.cron ? `cron ${memo.cron}` : memo.every ? `every ${memo.every}` : '',
      paused: s.state.paused,
      nextRun: s.info.nextActionTimes[0]?.toISOString(),
      lastRun: s.info.recentActions.at(-1)?.takenAt.toISOString(),
    });
  }
  return rows.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
}

/** A schedule that is not there is bad input (exit 2), naming it. */
async function onSchedule<T>(client: Client, id: string, work: (h: ReturnType<Client['schedule']['getHandle']>) => Promise<T>): Promise<T> {
  try {
    return await work(client.schedule.getHandle(id));
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new ExitError(`no schedule ${id} in this namespace (runbook schedule list shows them)`, EXIT.badInput);
    throw err;
  }
}

/** `--keep 7` as a number; anything else goes to the schema as it was typed, which names the field. */
const numberOrText = (value: string): number | string => (/^\d{1,9}$/.test(value) ? Number(value) : value);
/** A repeatable option: `--sqlite a --sqlite b`. */
const repeated = (value: string, previous: string[] = []): string[] => [...previous, value];
/** The fields that were given: what was left out takes the schema's default. */
const given = (fields: Record<string, unknown>) => Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));

/** One `runbook schedule <command>`: the runbook it schedules, its own options, and how they become the input. */
interface ScheduledRunbook {
  runbook: RunbookType;
  description: string;
  /** The interval when neither --every nor --cron is given. */
  every: string;
  options(command: Command): Command;
  /** The runbook's own fields from the parsed options (undefined ones are left out). */
  input(opts: Record<string, any>): Record<string, unknown>;
}

const SCHEDULED_RUNBOOKS: Record<string, ScheduledRunbook> = {
  'etcd-snapshot': {
    runbook: 'etcdSnapshot',
    description: 'save an etcd snapshot on a schedule, check it with the bbolt checker, keep the newest K that check clean (runbook etcdSnapshot)',
    every: '1h',
    options: (c) =>
      c
        .requiredOption('--client-url <url>', 'the etcd to snapshot, e.g. http://127.0.0.1:2379')
        .requiredOption('--snapshot-dir <dir>', 'folder for the snapshots (under the host\'s data roots)')
        .option('--member <name>', "etcd's --name: names the files etcd-<member>-<time>.db")
        .option('--keep <k>', 'how many snapshots that check clean to keep (default 7)', numberOrText),
    input: (o) => ({ clientUrl: o.clientUrl, snapshotDir: o.snapshotDir, member: o.member, keep: o.keep }),
  },
  backup: {
    runbook: 'fullBackup',
    description: 'the nightly full backup: sqlite (online), volume folders and a compose project\'s images into a pack with a verified manifest.json, keeping the newest K complete packs (runbook fullBackup)',
    every: '24h',
    options: (c) =>
      c
        .requiredOption('--target <dir>', 'the folder packs are written into (under the host\'s data roots), e.g. /mnt/backup/app')
        .option('--target-fs-type <type>', 'the filesystem type the target must be mounted as, e.g. cifs (a plain folder there is refused)')
        .option('--sqlite <path>', 'a sqlite database to back up online; repeat for more', repeated)
        .option('--volume <dir>', 'a folder to pack as one tar; repeat for more', repeated)
        .option('--compose-project <name>', 'the compose project whose images --include-images saves')
        .option('--compose-file <file>', 'its compose file')
        .option('--include-images', "save the compose project's images into images.tar (none found: the run fails)")
        .option('--engine <engine>', 'the container engine CLI: docker or podman (default docker)')
        .option('--keep <k>', 'how many complete packs to keep (default 7)', numberOrText),
    input: (o) => ({
      target: o.target,
      targetFsType: o.targetFsType,
      sqlite: o.sqlite,
      volumes: o.volume,
      compose: o.composeProject !== undefined || o.composeFile !== undefined ? given({ project: o.composeProject, file: o.composeFile }) : undefined,
      includeImages: o.includeImages,
      engine: o.engine,
      keep: o.keep,
    }),
  },
};

export function registerScheduleCommands(program: Command, ctx: CommandContext): void {
  const schedule = program.command('schedule').description('runbooks on a Temporal Schedule: create, list, trigger, delete');

  for (const [name, entry] of Object.entries(SCHEDULED_RUNBOOKS)) {
    const command = entry
      .options(schedule.command(name).description(entry.description))
      .option('--every <interval>', `how often: 30m, 1h, 1d (default ${entry.every})`)
      .option('--cron <expression>', 'instead of --every: a cron expression in UTC, e.g. "0 2 * * *"')
      .option('--host <host>', 'the host whose worker runs the steps (default: this machine)')
      .option('--id <name>', 'the schedule ID (default: the runs\' workflow ID, <runbook>:<target>)')
      .option('--as <name>', 'who creates it (the runs\' TriggeredBy)', ctx.defaultUser())
      .option('--key <file>', `${KEY_OPTION_HELP}; signed once, the signature counts for every run of this schedule (its ID, this input)`);
    command.action(async (opts: Record<string, any> & ScheduleTiming & { host?: string; id?: string; as: string; key?: string }) => {
      const input = { mode: 'apply', approval: 'auto', ...given(entry.input(opts)), ...given({ host: opts.host }) };
      const every = opts.every ?? (opts.cron === undefined ? entry.every : undefined);
      const key = signingKey(opts.key, 'request');
      await ctx.withClient(async (client) => {
        const created = await createRunbookSchedule(client, ctx.config, entry.runbook, input, { every, cron: opts.cron, id: opts.id, requestedBy: opts.as, ...(key ? { sign: (s: RequestStatement) => signWith(key, s) } : {}) });
        process.stdout.write(`${created.scheduleId}\n`);
        process.stderr.write(
          `runs: ${created.workflowId}-<time> on ${created.target}; next: ${created.nextRuns.map(shortTime).join(', ') || 'none'}\n` +
            `failed runs: npx runbook list --runbook ${entry.runbook} --target '${created.target}' --status Failed\n`,
        );
      });
    });
  }

  schedule
    .command('list')
    .description('every schedule: its runbook, target, timing, next and last run')
    .option('--json', 'print them as a JSON array')
    .action(async (opts: { json?: boolean }) => {
      await ctx.withClient(async (client) => {
        const rows = await listSchedules(client);
        if (opts.json) return void process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        process.stdout.write(rows.length ? table(rows, [
          { header: 'SCHEDULE', value: (r) => r.scheduleId },
          { header: 'TIMING', value: (r) => `${r.timing}${r.paused ? ' (paused)' : ''}` },
          { header: 'NEXT (UTC)', value: (r) => shortTime(r.nextRun) },
          { header: 'LAST (UTC)', value: (r) => shortTime(r.lastRun) },
          { header: 'RUNBOOK', value: (r) => r.runbook },
        ]) : 'no schedules\n');
      });
    });

  schedule
    .command('trigger')
    .description('start a run of a schedule now (skipped if one is still running)')
    .argument('<id>')
    .action(async (id: string) => {
      await ctx.withClient((client) => onSchedule(client, id, (h) => h.trigger()));
    });

  schedule
    .command('delete')
    .description('delete a schedule; its runs and what they wrote (snapshots, packs) stay')
    .argument('<id>')
    .action(async (id: string) => {
      await ctx.withClient((client) => onSchedule(client, id, (h) => h.delete()));
      process.stderr.write(`deleted schedule ${id}\n`);
    });
}
