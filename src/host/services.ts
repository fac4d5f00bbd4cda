// A runbook's service reference resolved against the host's services file: the control spec the
// adapters use, and the view a plan shows and an approval covers. Every step resolves again and
// compares digests, so a step never acts on an entry other than the one that was approved.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../workflows/digest';
import type { HostService, HttpCheck, ServiceHandle, ServiceRef, ServiceSpec, ServiceView } from '../workflows/service-spec';
import { childEnvironment } from '../activities/services/exec';
import { loadHostFile } from './host-file';

/** Refusals a host gives to a reference: non-retryable, nothing was touched. */
export class ServiceRefusedError extends Error {
  override name = 'ServiceRefusedError' as const;
}

/** The service's declared entry changed since the plan: the step refuses to act on the new one. */
export class ServiceChangedError extends Error {
  override name = 'ServiceChangedError' as const;
}

export interface ResolvedService {
  spec: ServiceSpec;
  health?: HttpCheck;
  checks: Record<string, HttpCheck>;
  view: ServiceView;
}

const environmentKeys = (env: Record<string, string> | undefined) => Object.keys(childEnvironment({ env })).sort();

function controlSpec(name: string, entry: HostService): ServiceSpec {
  switch (entry.adapter) {
    case 'exec':
      return { adapter: 'exec', name, start: entry.start, stop: entry.stop, pidFile: entry.pidFile, logFile: entry.logFile, cwd: entry.cwd, env: entry.env, stopTimeoutSeconds: entry.stopTimeoutSeconds };
    case 'systemd':
      return { adapter: 'systemd', name: entry.unit, stopTimeoutSeconds: entry.stopTimeoutSeconds };
    case 'container':
      return { adapter: 'container', name: entry.container, engine: entry.engine, stopTimeoutSeconds: entry.stopTimeoutSeconds };
  }
}

/** Resolves `ref` on this host. `checks` picks declared checks by name (default: all). */
export async function resolveService(ref: ServiceRef, checkNames?: string[]): Promise<ResolvedService> {
  const host = await loadHostFile();
  let name: string;
  let entry: HostService;
  let source: string;
  if (typeof ref === 'string') {
    const declared = Object.hasOwn(host.services, ref) ? host.services[ref] : undefined;
    if (!declared) {
      const known = Object.keys(host.services);
      throw new ServiceRefusedError(`service ${ref} is not declared in this host's services file${known.length ? ` (declared: ${known.slice(0, 20).join(', ')})` : ' (it declares none)'}`);
    }
    [name, entry, source] = [ref, declared, 'services file'];
  } else {
    if (!host.allowInlineServices) {
      throw new ServiceRefusedError(`inline service specs are refused on this host: name a service from its services file (service "${ref.name}" was given as a whole spec)`);
    }
    const { name: inlineName, ...inlineEntry } = ref;
    [name, entry, source] = [inlineName, inlineEntry as HostService, 'inline (development)'];
  }
  const unknown = (checkNames ?? []).filter((c) => !Object.hasOwn(entry.checks, c));
  if (unknown.length) throw new ServiceRefusedError(`service ${name} declares no check ${unknown.join(', ')} (declared: ${Object.keys(entry.checks).join(', ') || 'none'})`);
  const checks = Object.fromEntries(Object.entries(entry.checks).filter(([c]) => !checkNames || checkNames.includes(c)));
  const spec = controlSpec(name, entry);
  const digest = createHash('sha256').update(canonicalJson({ name, entry, checks })).digest('hex');
  const handle: ServiceHandle = { ref, ...(checkNames ? { checks: checkNames } : {}), digest };
  const view: ServiceView = {
    name,
    adapter: entry.adapter,
    source,
    stopTimeoutSeconds: entry.stopTimeoutSeconds,
    ...(entry.adapter === 'exec'
      ? { argv: entry.start, ...(entry.stop ? { stopArgv: entry.stop } : {}), envKeys: environmentKeys(entry.env), ...(entry.cwd ? { cwd: entry.cwd } : {}), pidFile: entry.pidFile, ...(entry.logFile ? { logFile: entry.logFile } : {}) }
      : entry.adapter === 'systemd'
        ? { unit: entry.unit }
        : { container: entry.container, engine: entry.engine }),
    ...(entry.health ? { health: entry.health } : {}),
    checks,
    handle,
  };
  return { spec, ...(entry.health ? { health: entry.health } : {}), checks, view };
}

/** What a step acts on: the entry the plan showed, or a refusal if the host's file changed it since. */
export async function serviceFor(handle: ServiceHandle): Promise<ResolvedService> {
  const resolved = await resolveService(handle.ref, handle.checks);
  if (resolved.view.handle.digest !== handle.digest) {
    throw new ServiceChangedError(`service ${resolved.view.name} changed in this host's services file since the plan was made (digest ${handle.digest.slice(0, 12)}… → ${resolved.view.handle.digest.slice(0, 12)}…): plan again`);
  }
  return resolved;
}
