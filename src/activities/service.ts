// Service control steps. Each resolves its service on this host again (refusing an entry that
// changed since the plan) and checks the real state first, so running it twice is harmless.
import { activityInfo, sleep } from '@temporalio/activity';
import { resolveService, serviceFor } from '../host/services';
import type { ServiceHandle, ServiceRef, ServiceView } from '../workflows/service-spec';
import { deadlineExceeded, safetyViolation } from './failures';
import { probe, runSmokeChecks as runChecks, type HttpCheckResult } from './http-checks';
import { reportProgress } from './progress';
import { serviceControl, type ServiceAction, type ServiceStatus } from './services/index';

const POLL_MS = 500;

/** The plan promises one period: it runs from the step's first attempt, whatever retries follow. */
const deadlineOf = (timeoutSeconds: number) => activityInfo().scheduledTimestampMs + timeoutSeconds * 1000;

/** The service as this host declares it (what the plan shows and the approval covers), and its state now. */
export async function describeService(ref: ServiceRef, checks?: string[]): Promise<{ view: ServiceView; status: ServiceStatus }> {
  const { spec, view } = await resolveService(ref, checks);
  return { view, status: await serviceControl(spec).status() };
}

export async function stopService(handle: ServiceHandle): Promise<ServiceAction> {
  return serviceControl((await serviceFor(handle)).spec).stop();
}

export async function startService(handle: ServiceHandle): Promise<ServiceAction> {
  return serviceControl((await serviceFor(handle)).spec).start();
}

export async function waitServiceDown(handle: ServiceHandle, timeoutSeconds: number): Promise<{ polls: number; status: ServiceStatus }> {
  const { spec } = await serviceFor(handle);
  const control = serviceControl(spec);
  const deadline = deadlineOf(timeoutSeconds);
  for (let polls = 1; ; polls++) {
    const status = await control.status();
    reportProgress({ polls, status: status.detail });
    if (!status.running) return { polls, status };
    if (Date.now() > deadline) throw deadlineExceeded(`${spec.name} still running after ${timeoutSeconds}s (${status.detail})`);
    await sleep(POLL_MS);
  }
}

/** Healthy: running, and the declared health check (if any) answers as declared. */
export async function waitServiceHealthy(handle: ServiceHandle, timeoutSeconds: number): Promise<{ polls: number; status: ServiceStatus; http?: { status?: number } }> {
  const { spec, health } = await serviceFor(handle);
  const control = serviceControl(spec);
  const deadline = deadlineOf(timeoutSeconds);
  for (let polls = 1; ; polls++) {
    const status = await control.status();
    const http = status.running && health ? await probe(health) : undefined;
    reportProgress({ polls, status: status.detail, http });
    if (status.running && (!health || http?.ok)) return { polls, status, ...(http ? { http: { status: http.status } } : {}) };
    // A plain process that is gone will not come back by waiting; systemd and engines may restart theirs.
    if (spec.adapter === 'exec' && !status.running) {
      throw safetyViolation(`${spec.name} exited after start (${status.detail})${spec.logFile ? `; see ${spec.logFile}` : ''}`);
    }
    if (Date.now() > deadline) {
      throw deadlineExceeded(`${spec.name} not healthy after ${timeoutSeconds}s (${status.detail}${http?.problem ? `, ${health?.url}: ${http.problem}` : ''})`);
    }
    await sleep(POLL_MS);
  }
}

/** The service's declared smoke checks (those the run picked): every one runs, then the step fails if any failed. */
export async function runSmokeChecks(handle: ServiceHandle): Promise<{ results: HttpCheckResult[] }> {
  const { checks } = await serviceFor(handle);
  return runChecks(Object.values(checks));
}
