// How a host declares the services runbooks may touch (its services file), and the control spec the
// adapters receive. Runbook input only names a service; everything that runs, is signalled, written
// or fetched comes from here. Workflow-safe: zod only.
import { z } from 'zod';

export const absolutePath = z.string().max(4096).refine((p) => p.startsWith('/') && !p.includes('\0'), 'must be an absolute path');
const argv = z.array(z.string().min(1).max(4096).refine((a) => !a.includes('\0'), 'must not contain NUL')).min(1, 'must name a program and its arguments').max(256);

/** A service's name in the services file and in runbook input: `images-api`. */
export const serviceName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/, 'must be a service name: letters, digits, ".", "_", "@", "-", not starting with a symbol');
/** A declared check's name: `root`, `search`. */
export const checkName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be a check name');

/**
 * systemd's unit name grammar (systemd.unit(5)): letters, digits, ":", "-", "_", ".", "\", "@", a
 * known suffix, at most 255 characters; never starting with "-" so it can't be read as an option.
 */
export const systemdUnit = z.string().max(255).regex(
  /^[A-Za-z0-9:_.\\][A-Za-z0-9:_.\\@-]*\.(service|socket|target|timer|mount|automount|swap|path|slice|scope|device)$/,
  'must be a systemd unit name with its suffix, e.g. "nginx.service"',
);
/** Docker's and podman's container name grammar: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`. */
export const containerName = z.string().max(255).regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'must be a container name: starts with a letter or digit, then letters, digits, "_", ".", "-"');

export const httpCheck = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).max(2048),
  expectStatus: z.number().int().min(100).max(599).default(200),
  bodyMatch: z.string().max(1024).optional().describe('a regular expression (RE2 syntax, linear time) the body must match'),
  retries: z.number().int().min(0).max(100).default(5),
  delayMs: z.number().int().min(0).max(600_000).default(1000),
  timeoutMs: z.number().int().positive().max(600_000).default(5000),
});

/** At most this many checks per service, so a run's checks can't become a scan. */
export const MAX_CHECKS = 20;
const checks = z.record(checkName, httpCheck).default({}).refine((c) => Object.keys(c).length <= MAX_CHECKS, `at most ${MAX_CHECKS} checks`);
const stopTimeoutSeconds = (fallback: number) => z.number().int().positive().max(3600).default(fallback);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name');

const declared = {
  health: httpCheck.optional().describe('what "healthy" means after start; default: the process is running'),
  checks: checks.describe('smoke checks by name; a run runs all of them unless its input names some'),
};

export const hostExecService = z.strictObject({
  adapter: z.literal('exec'),
  start: argv.describe('command that starts the service in the foreground; the worker detaches it'),
  stop: argv.optional().describe('command that stops it; default: SIGTERM to the process group, SIGKILL after stopTimeoutSeconds'),
  pidFile: absolutePath,
  logFile: absolutePath.optional().describe('where the detached process writes stdout and stderr'),
  cwd: absolutePath.optional(),
  env: z.record(envName, z.string().max(32_768)).optional().describe('the environment, on top of a minimal PATH/LANG/TZ/HOME'),
  stopTimeoutSeconds: stopTimeoutSeconds(15),
  ...declared,
});

export const hostSystemdService = z.strictObject({
  adapter: z.literal('systemd'),
  unit: systemdUnit,
  stopTimeoutSeconds: stopTimeoutSeconds(90),
  ...declared,
});

export const hostContainerService = z.strictObject({
  adapter: z.literal('container'),
  container: containerName,
  engine: z.enum(['docker', 'podman']).default('docker'),
  stopTimeoutSeconds: stopTimeoutSeconds(10),
  ...declared,
});

/** One entry of the host's services file. */
export const hostService = z.discriminatedUnion('adapter', [hostExecService, hostSystemdService, hostContainerService]);
export type HostService = z.output<typeof hostService>;

/** Only for a worker that allows inline specs (development): the same entry, with its name. */
export const inlineService = z.discriminatedUnion('adapter', [
  hostExecService.extend({ name: serviceName }),
  hostSystemdService.extend({ name: serviceName }),
  hostContainerService.extend({ name: serviceName }),
]).describe('a whole service spec in the input: refused unless the worker allows inline services (development only)');

/** What runbook input says about a service: its name on the host (or, in development, a whole spec). */
export const serviceRef = z.union([serviceName, inlineService]);
export type ServiceRef = z.output<typeof serviceRef>;
export const refName = (ref: ServiceRef): string => (typeof ref === 'string' ? ref : ref.name);

// What the adapters get: the declared entry reduced to what controls the service.
export const execService = z.object({
  adapter: z.literal('exec'),
  name: serviceName,
  start: argv,
  stop: argv.optional(),
  pidFile: absolutePath,
  cwd: absolutePath.optional(),
  logFile: absolutePath.optional(),
  env: z.record(z.string(), z.string()).optional(),
  stopTimeoutSeconds: z.number().int().positive().max(3600).default(15),
});
export const systemdService = z.object({ adapter: z.literal('systemd'), name: systemdUnit, stopTimeoutSeconds: z.number().int().positive().max(3600).default(90) });
export const containerService = z.object({ adapter: z.literal('container'), name: containerName, engine: z.enum(['docker', 'podman']).default('docker'), stopTimeoutSeconds: z.number().int().positive().max(3600).default(10) });
export type ServiceSpec = z.output<typeof execService> | z.output<typeof systemdService> | z.output<typeof containerService>;
export type HttpCheck = z.output<typeof httpCheck>;

/**
 * A service as the host resolved it for one run: shown in the plan (exact argv, env keys, files,
 * unit, URLs), covered by the approval digest, and re-checked by every step through `handle`.
 */
export interface ServiceView {
  name: string;
  adapter: HostService['adapter'];
  /** `services file` or `inline (development)`. */
  source: string;
  stopTimeoutSeconds: number;
  argv?: string[];
  stopArgv?: string[];
  envKeys?: string[];
  cwd?: string;
  pidFile?: string;
  logFile?: string;
  unit?: string;
  container?: string;
  engine?: string;
  health?: HttpCheck;
  /** The checks this run runs, by name. */
  checks: Record<string, HttpCheck>;
  /** What the steps act on: the reference and the sha256 of the whole resolved entry, env values included. */
  handle: ServiceHandle;
}

export interface ServiceHandle {
  ref: ServiceRef;
  checks?: string[];
  digest: string;
}
