// `runbook start <runbook> --hosts alpha,beta`: the same runbook once per host. Each host's run is
// its own (own workflow ID, since the target names the host; own request signature; own approval and
// report). One host's start failing does not stop the others; the exit code is the worst of them.
import type { Client } from '@temporalio/client';
import { prepareRun, startRunbook, type StartedRun, type StartOptions } from '../client';
import { workflowUrl, type Config } from '../config';
import { baseInput } from '../workflows/inputs';
import { EXIT, ExitError, exitCodeFor } from './exit';
import { follow } from './follow';

/** More hosts than this in one command is more likely a mistake than a fleet to repair at once. */
export const MAX_HOSTS = 50;

/** The input's own `host` rule: a host named in --hosts is one the input could have named. */
const hostName = baseInput.shape.host.unwrap();

/** `alpha,beta` → ['alpha', 'beta']; bad names, duplicates, empty entries, too many: exit 2. */
export function parseHosts(list: string): string[] {
  const hosts = list.split(',').map((h) => h.trim());
  if (hosts.some((h) => h === '')) throw new ExitError(`--hosts "${list}": an empty host name; give names separated by commas, such as alpha,beta`, EXIT.badInput);
  for (const host of hosts) {
    const parsed = hostName.safeParse(host);
    if (!parsed.success) throw new ExitError(`--hosts: "${host}" ${parsed.error.issues.map((i) => i.message).join('; ')}`, EXIT.badInput);
  }
  const twice = hosts.filter((h, i) => hosts.indexOf(h) !== i);
  if (twice.length) throw new ExitError(`--hosts: ${[...new Set(twice)].join(', ')} named more than once`, EXIT.badInput);
  if (hosts.length > MAX_HOSTS) throw new ExitError(`--hosts: ${hosts.length} hosts; at most ${MAX_HOSTS} in one command`, EXIT.badInput);
  return hosts;
}

/**
 * The input for each host: the input with `host` set. An input that names a host itself is refused
 * (which one would it mean?), and so is one that fails the runbook's schema for any host: exit 2
 * before anything starts.
 */
export function inputsPerHost(runbook: string, input: unknown, hosts: string[], requestedBy: string): Array<{ host: string; input: Record<string, unknown> }> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    prepareRun(runbook, input, requestedBy); // the schema's own words for a non-object input
    throw new ExitError(`invalid ${runbook} input: not an object`, EXIT.badInput);
  }
  const own = (input as { host?: unknown }).host;
  if (own !== undefined) throw new ExitError(`the input sets host ${JSON.stringify(own)} and --hosts names ${hosts.join(',')}: give the hosts in one place only`, EXIT.badInput);
  return hosts.map((host) => {
    const perHost = { ...(input as Record<string, unknown>), host };
    prepareRun(runbook, perHost, requestedBy); // throws InvalidRequestError (exit 2)
    return { host, input: perHost };
  });
}

export interface HostStart {
  host: string;
  run?: StartedRun;
  error?: unknown;
}

/**
 * Starts every host's run at once and prints one line per host, in the order given:
 * `<host>\t<workflowId>` on stdout and its Web UI link on stderr, or `<host>\tnot started: <why>`.
 */
export async function startOnHosts(client: Client, config: Config, runbook: string, perHost: Array<{ host: string; input: Record<string, unknown> }>, options: StartOptions): Promise<HostStart[]> {
  const settled = await Promise.allSettled(perHost.map(({ input }) => startRunbook(client, config, runbook, input, options)));
  return settled.map((result, i) => {
    const { host } = perHost[i]!;
    if (result.status === 'fulfilled') {
      process.stdout.write(`${host}\t${result.value.workflowId}\n`);
      process.stderr.write(`[${host}] ${workflowUrl(config, result.value.workflowId)}\n`);
      return { host, run: result.value };
    }
    process.stdout.write(`${host}\tnot started: ${(result.reason as Error).message}\n`);
    return { host, error: result.reason };
  });
}

/** Follows every started run at once (a line per host as each ends); the worst exit code of all, starts included. */
export async function followHosts(starts: HostStart[], options: { json?: boolean; wait?: boolean }): Promise<number> {
  const codes = await Promise.all(
    starts.map(async ({ host, run, error }) => {
      if (!run) return exitCodeFor(error);
      return options.wait ? follow(run.handle, { host, json: options.json }) : EXIT.ok;
    }),
  );
  return Math.max(EXIT.ok, ...codes);
}
