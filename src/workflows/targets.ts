// One rule, used by every surface (CLI, API, chat, UI-started workflows), from input to what a run
// is about: its canonical target, the workflow ID that keeps one run per target, the resources it
// claims, and the summary shown in the Temporal UI. Workflow-safe: no Node built-ins.
import type { BaseInput, RunbookType } from './inputs';
import { refName, type ServiceRef } from './service-spec';
import { runbooks } from './inputs';
import { runbookWorkflowId } from './names';

/** A thing a run changes. Two runs that name the same key never run at once, whatever runbook. */
export interface Resource {
  kind: 'path' | 'service';
  /** `path:<host>:<absolute path>` or `service:<host>:<adapter>/<name>`. */
  key: string;
  /** For paths: the path to resolve on the host (symlinks), which may change the key. */
  path?: string;
  /** For services: the reference the host expands into what it drives (pidfile, unit, container). */
  service?: ServiceRef;
}

export interface ResolvedTarget {
  runbook: RunbookType;
  host: string;
  target: string;
  workflowId: string;
  resources: Resource[];
  /** One line for the UI's list: what this run is about. */
  summary: string;
}

/**
 * `/t`, `/t/`, `//t`, `/a/../t` are one path. Symlinks are resolved later on the host, which is
 * the only place that can see them.
 */
export function normalizePath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

export function pathResource(host: string, path: string): Resource {
  const normal = normalizePath(path);
  return { kind: 'path', key: `path:${host}:${normal}`, path: normal };
}

/** The service by name; the host adds what the name drives (two names, one pidfile or unit: one claim). */
export function serviceResources(host: string, ref: ServiceRef): Resource[] {
  return [{ kind: 'service', key: `service:${host}:${refName(ref)}`, service: ref }];
}

/** The target and resources of a validated input whose host is known. */
export function resolveTarget(runbook: RunbookType, input: BaseInput & { host: string }): ResolvedTarget {
  const spec = runbooks[runbook];
  const { target, resources, summary } = spec.describe(input as never, input.host);
  return { runbook, host: input.host, target, workflowId: runbookWorkflowId(runbook, target), resources, summary: `${summary} (${input.mode})` };
}

export const serviceTarget = (host: string, ref: ServiceRef) => `${host}/${refName(ref)}`;
