// Service control steps. Each checks the real state first, so running it twice is harmless.
import { activityInfo, sleep } from '@temporalio/activity';
import type { HttpCheck, ServiceSpec } from '../workflows/inputs';
import { deadlineExceeded, safetyViolation } from './failures';
import { probe } from './http-checks';
import { reportProgress } from './progress';
import { serviceControl, type ServiceAction, type ServiceStatus } from './services/index';

const POLL_MS = 500;

/** The plan promises one period: it runs from the step's first attempt, whatever retries follow. */
const deadlineOf = (timeoutSeconds: number) => activityInfo().scheduledTimestampMs + timeoutSeconds * 1000;

export async function describeService(spec: ServiceSpec): Promise<ServiceStatus> {
  return serviceControl(spec).status();
}

export async function stopService(spec: ServiceSpec): Promise<ServiceAction> {
  return serviceControl(spec).stop();
}

export async function startService(spec: ServiceSpec): Promise<ServiceAction> {
  return serviceControl(spec).start();
}

export async function waitServiceDown(spec: ServiceSpec, timeoutSeconds: number): Promise<{ polls: number; status: ServiceStatus }> {
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

export async function waitServiceHealthy(
  spec: ServiceSpec,
  health: HttpCheck | undefined,
  timeoutSeconds: number,
): Promise<{ polls: number; status: ServiceStatus; http?: { status?: number } }> {
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
