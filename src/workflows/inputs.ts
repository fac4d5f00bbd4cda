// Runbook input schemas. The workflow validates with these before any step, and the CLI, chat bot
// and API validate with the same ones before starting, so every surface reports the same errors.
import { z } from 'zod';
import { normalizePath, pathResource, serviceResources, serviceTarget, type Resource } from './targets';

const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'must be a duration such as "90s", "15m" or "24h"');

/** Fields every runbook takes. */
export const baseInput = z.object({
  mode: z.enum(['plan', 'apply']).default('plan')
    .describe('plan: read-only diagnosis that returns the plan; apply: diagnose, approve, then change'),
  approval: z.enum(['required', 'auto']).default('required')
    .describe('required: a second person approves the plan through the approve update'),
  approvalTimeout: duration.default('1h').describe('how long to wait for approval before ending with nothing changed'),
  requestedBy: z.string().min(1).max(200).optional().describe('who asked for this run (TriggeredBy)'),
  host: z.string().regex(/^[A-Za-z0-9._-]{1,253}$/, 'must be a hostname').optional()
    .describe('host whose worker runs the steps; default: the host of the machine that starts the run (CLI, API or chat server); required when starting from the Web UI'),
  hostWaitTimeout: duration.default('2m')
    .describe('how long a step waits for a worker on the host to pick it up before the run fails with "no worker serves <queue>"'),
  compensationTimeout: duration.default('30m')
    .describe('how long an undo step keeps retrying before the run ends CompensationFailed'),
});

const argv = z.array(z.string().min(1)).min(1, 'must name a program and its arguments');
const absolutePath = z.string().refine((p) => p.startsWith('/'), 'must be an absolute path');

export const execService = z.object({
  adapter: z.literal('exec'),
  name: z.string().regex(/^[A-Za-z0-9._@-]{1,100}$/, 'must be a simple name'),
  start: argv.describe('command that starts the service in the foreground; the worker detaches it'),
  stop: argv.optional().describe('command that stops it; default: SIGTERM to the process group, SIGKILL after stopTimeout'),
  pidFile: absolutePath,
  cwd: absolutePath.optional(),
  logFile: absolutePath.optional().describe('where the detached process writes stdout and stderr'),
  env: z.record(z.string(), z.string()).optional(),
  stopTimeoutSeconds: z.number().int().positive().max(3600).default(15),
});

export const systemdService = z.object({
  adapter: z.literal('systemd'),
  name: z.string().regex(/^[A-Za-z0-9:._@\\-]{1,256}$/, 'must be a systemd unit name'),
  stopTimeoutSeconds: z.number().int().positive().max(3600).default(90),
});

export const containerService = z.object({
  adapter: z.literal('container'),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/, 'must be a container name'),
  engine: z.enum(['docker', 'podman']).default('docker'),
  stopTimeoutSeconds: z.number().int().positive().max(3600).default(10),
});

export const service = z.discriminatedUnion('adapter', [execService, systemdService, containerService]);

export const httpCheck = z.object({
  url: z.url({ protocol: /^https?$/ }),
  expectStatus: z.number().int().min(100).max(599).default(200),
  bodyMatch: z.string().optional().describe('a regular expression the body must match'),
  retries: z.number().int().min(0).max(100).default(5),
  delayMs: z.number().int().min(0).max(600_000).default(1000),
  timeoutMs: z.number().int().positive().max(600_000).default(5000),
});

export const serviceRestartInput = baseInput.extend({
  service,
  health: httpCheck.optional().describe('what "healthy" means after start; default: the process is running'),
  smokeChecks: z.array(httpCheck).default([]),
  waitDownSeconds: z.number().int().positive().max(3600).default(60),
  waitHealthySeconds: z.number().int().positive().max(3600).default(120),
});

export const lanceRestoreInput = baseInput.extend({
  tableDir: absolutePath.describe('the Lance table directory, e.g. /srv/app/db/images.lance'),
  lfsRepo: absolutePath.optional().describe('git repository whose LFS store holds the data files; default: the git top level of tableDir'),
  quarantineDir: absolutePath.optional()
    .describe('where moved and snapshotted files go; default: .runbook-quarantine beside the table (same filesystem, outside the table)'),
  strategy: z.enum(['full-restore', 'fallback', 'auto']).default('auto')
    .describe('full-restore: copy every missing file from LFS; fallback: quarantine broken newer versions; auto: full restore if every file is restorable, else fallback after approval'),
  expectedRows: z.number().int().min(0).optional().describe('rows the repaired table must have'),
  restorePauseMs: z.number().int().min(0).max(60_000).default(0).describe('pause between restored files, to spare a disk that serves other work'),
  service: service.optional().describe('the backend that reads the table: stopped before files change, started after'),
  health: httpCheck.optional(),
  smokeChecks: z.array(httpCheck).default([]),
  waitDownSeconds: z.number().int().positive().max(3600).default(60),
  waitHealthySeconds: z.number().int().positive().max(3600).default(120),
});

export type BaseInput = z.output<typeof baseInput>;
export type ServiceSpec = z.output<typeof service>;
export type HttpCheck = z.output<typeof httpCheck>;
export type ServiceRestartInput = z.output<typeof serviceRestartInput>;
/** What a caller sends: defaults may be left out. */
export type ServiceRestartRequest = z.input<typeof serviceRestartInput>;
export type LanceRestoreInput = z.output<typeof lanceRestoreInput>;
export type LanceRestoreRequest = z.input<typeof lanceRestoreInput>;

interface RunbookSpec {
  input: z.ZodType<BaseInput & { host?: string }>;
  description: string;
  /**
   * What one run repairs (the workflow ID is `<runbook>:<target>`, so two runs never share one),
   * every resource it changes (claimed for the run's lifetime), and a one-line summary.
   */
  describe(input: any, host: string): { target: string; resources: Resource[]; summary: string };
}

/** Every runbook the worker serves: its input schema and how its target is named. */
const runbookSpecs = {
  serviceRestart: {
    input: serviceRestartInput,
    description: 'Stop a service, wait until it is down, start it, wait until healthy, run smoke checks.',
    describe: (input: ServiceRestartInput, host: string) => ({
      target: serviceTarget(host, input.service),
      resources: serviceResources(host, input.service),
      summary: `restart ${input.service.adapter} service ${input.service.name} on ${host}`,
    }),
  },
  lanceRestore: {
    input: lanceRestoreInput,
    description: 'Repair a Lance table whose newest manifest needs data files missing from disk: restore them from git-LFS, or fall back to the newest complete version.',
    describe: (input: LanceRestoreInput, host: string) => ({
      target: `${host}/lance:${normalizePath(input.tableDir)}`,
      resources: [pathResource(host, input.tableDir), ...(input.service ? serviceResources(host, input.service) : [])],
      summary: `repair Lance table ${normalizePath(input.tableDir)} on ${host}`,
    }),
  },
} as const satisfies Record<string, RunbookSpec>;

export type RunbookType = keyof typeof runbookSpecs;
export const runbooks: Record<RunbookType, RunbookSpec> = runbookSpecs;

export function isRunbookType(name: string): name is RunbookType {
  return Object.hasOwn(runbooks, name);
}

/** One line per problem, each naming the field: `service.pidFile: must be an absolute path`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(input)'}: ${issue.message}`)
    .join('; ');
}
